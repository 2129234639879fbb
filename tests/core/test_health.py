from django.test import override_settings

from core.embedded import free_port


def test_it_is_healthy_when_the_database_and_the_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": True, "broker": True}


def test_it_is_unhealthy_when_the_broker_does_not_answer(client, db):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": True, "broker": False}
