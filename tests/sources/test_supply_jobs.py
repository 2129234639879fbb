"""Large supplies run as jobs on a real Celery worker; the sweep sends again what lost its task or its worker."""

from __future__ import annotations

import json

import psycopg
from django.db import connection

from core.models import Department, Unit, User
from reporting.models import Field, Submission, SupplyJob, SupplyJobStatus
from reporting.services.supplies import supply_dir, sweep_supply_jobs
from tests.deliveries.conftest import demo, worker  # noqa: F401  # the committed demo and a real worker
from tests.reporting.helpers import token_client
from tests.waiting import wait_for

URL = "/api/v1/department/supplies"


def _civil() -> tuple[Department, list[str]]:
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    inside = Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
    return civil, list(inside.order_by("area__code").values_list("area__code", flat=True))


def _done(job_id: int) -> bool:
    return SupplyJob.objects.filter(pk=job_id, status__in=[SupplyJobStatus.DONE, SupplyJobStatus.FAILED]).exists()


def test_a_body_over_the_request_limit_is_imported_by_a_worker(demo, worker, settings):  # noqa: F811
    civil, villages = _civil()
    rows = [{"unit": code, "period": "2026Q4", "field": "dibao_people", "value": i} for i, code in enumerate(villages)]
    body = json.dumps({"values": rows, "atomic": False})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) // 2
    client = token_client(User.objects.get(username="civil"))
    answer = client.post(URL, body, content_type="application/json")
    assert answer.status_code == 202, answer.content
    assert wait_for(lambda: _done(answer.json()["id"]))
    job = client.get(answer.json()["url"]).json()
    assert job["status"] == "done"
    assert (job["summary"]["imported"], job["summary"]["conflicts"], job["rows_done"]) == (len(rows), [], len(rows))
    assert Submission.objects.supplies().filter(source=civil).count() == len(rows)
    assert not (supply_dir() / SupplyJob.objects.get(pk=job["id"]).file).exists()  # gone once imported


def test_a_job_that_lost_its_worker_is_imported_again_and_a_live_one_is_left_alone(demo, worker):  # noqa: F811
    civil, villages = _civil()
    user = User.objects.get(username="civil")
    lost = _running_job(civil, user, f"unit,period,field,value\n{villages[0]},2026Q4,dibao_people,5\n")
    alive = _running_job(civil, user, f"unit,period,field,value\n{villages[1]},2026Q4,dibao_people,6\n")
    # a live worker holds its job's lock on its own connection
    with psycopg.connect(**_params()) as other:
        other.execute("SELECT pg_advisory_lock(19020, %s)", [alive.pk])
        assert sweep_supply_jobs() == [lost.pk]
        assert SupplyJob.objects.get(pk=alive.pk).status == SupplyJobStatus.RUNNING
    assert wait_for(lambda: _done(lost.pk))
    assert SupplyJob.objects.get(pk=lost.pk).summary["imported"] == 1
    assert Submission.objects.supplies().get(unit__area__code=villages[0]).versions.get().values == {"dibao_people": 5}


def _running_job(civil, user, text: str) -> SupplyJob:
    job = SupplyJob.objects.create(
        department=civil, by=user, format="csv", options={"atomic": True}, status=SupplyJobStatus.RUNNING
    )
    (supply_dir() / f"supply-{job.pk}.csv").write_text(text)
    job.file = f"supply-{job.pk}.csv"
    job.save(update_fields=["file"])
    return job


def _params() -> dict:
    settings = connection.settings_dict
    return {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"], "dbname": settings["NAME"]}
