from django.test import override_settings

from tools.embedded import free_port


def test_it_is_healthy_when_the_database_and_the_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": True, "broker": True}
    assert client.get("/healthz/ready").json() == {"status": "ready", "database": True}
    assert client.get("/healthz/live").json() == {"status": "alive"}


def test_a_broker_outage_is_degraded_but_ready_since_filings_keep_working(client, db):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/healthz")
        ready = client.get("/healthz/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": True, "broker": False}
    assert ready.status_code == 200  # a load balancer keeps sending filings here
