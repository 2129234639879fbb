"""`async=true`: a data value set becomes a supply job run by a real Celery worker; DHIS2's task endpoints
report its progress and its import summary, to its own department only."""

from __future__ import annotations

import json

from django.test import Client

from core.models import Department, Unit, User
from core.tokens import issue_token
from reporting.models import Field, Submission, SupplyJob, SupplyJobStatus
from reporting.services.supplies import sweep_supply_jobs
from tests.deliveries.conftest import demo, worker  # noqa: F401 (fixtures: the committed demo, a real worker)
from tests.waiting import wait_for


def _client(username: str) -> Client:
    user = User.objects.get(username=username)
    return Client(HTTP_AUTHORIZATION=f"ApiToken {issue_token(user=user, name='dhis2')[1]}")


def _task_done(client: Client, pk: str) -> bool:
    return client.get(f"/dhis2/api/system/tasks/DATAVALUE_IMPORT/{pk}").json()[0]["completed"]


def test_an_async_import_is_a_job_with_dhis2s_task_endpoints(worker, demo):  # noqa: F811
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code__in=["dibao_people", "destitute_people"]).update(source=civil)
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    village = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()
    client = _client("civil")
    csv = (
        f"dibao_people,{period},{village.area.code},,,12\n"
        f"destitute_people,{period},{village.area.code},,,5\n"
        f"households,{period},{village.area.code},,,40\n"
    )
    queued = client.post("/dhis2/api/dataValueSets?async=true&atomicMode=NONE", csv, content_type="application/csv")
    assert queued.status_code == 200
    reference = queued.json()["response"]
    assert reference["jobType"] == "DATAVALUE_IMPORT"
    pk = reference["id"]
    assert reference["relativeNotifierEndpoint"] == f"/api/system/tasks/DATAVALUE_IMPORT/{pk}"
    assert wait_for(lambda: _task_done(client, pk), timeout=60)
    summary = client.get(f"/dhis2/api/system/taskSummaries/DATAVALUE_IMPORT/{pk}").json()
    assert summary["responseType"] == "ImportSummary" and summary["status"] == "WARNING"
    assert summary["importCount"] == {"imported": 2, "updated": 0, "ignored": 1, "deleted": 0}
    [conflict] = summary["conflicts"]
    assert (conflict["rule"], conflict["property"], conflict["indexes"]) == ("source.not_source", "dataElement", [2])
    values = Submission.objects.supplies().get(source=civil).versions.get().values
    assert values == {"dibao_people": 12, "destitute_people": 5}
    # another department, and a unit, get DHIS2's 404 for the job
    for other in ("culture", "village"):
        assert _client(other).get(f"/dhis2/api/system/tasks/DATAVALUE_IMPORT/{pk}").status_code == 404
        assert _client(other).get(f"/dhis2/api/system/taskSummaries/DATAVALUE_IMPORT/{pk}").status_code == 404
    # DELETE, asynchronously, withdraws the values
    body = {"dataValues": [{"dataElement": "dibao_people", "period": period, "orgUnit": village.area.code}]}
    gone = client.post(
        "/dhis2/api/dataValueSets?async=true&importStrategy=DELETE", json.dumps(body), content_type="application/json"
    ).json()["response"]["id"]
    assert wait_for(lambda: _task_done(client, gone), timeout=60)
    deleted = client.get(f"/dhis2/api/system/taskSummaries/DATAVALUE_IMPORT/{gone}").json()
    assert deleted["importCount"]["deleted"] == 1
    supply = Submission.objects.supplies().get(source=civil)
    assert supply.versions.get(number=supply.current_version).values == {"destitute_people": 5}


def test_a_body_larger_than_the_request_limit_becomes_a_job_without_async(worker, demo, settings):  # noqa: F811
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    villages = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code")[:40]
    csv = "".join(f"dibao_people,{period},{v.area.code},,,{i}\n" for i, v in enumerate(villages, start=1))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200  # the CSV is far larger
    client = _client("civil")
    queued = client.post("/dhis2/api/dataValueSets", csv, content_type="application/csv")
    assert queued.status_code == 200 and queued.json()["response"]["jobType"] == "DATAVALUE_IMPORT"
    pk = queued.json()["response"]["id"]
    assert wait_for(lambda: _task_done(client, pk), timeout=60)
    summary = client.get(f"/dhis2/api/system/taskSummaries/DATAVALUE_IMPORT/{pk}").json()
    assert summary["importCount"]["imported"] == len(villages)
    assert Submission.objects.supplies().filter(source=civil).count() == len(villages)
    # a unit's set that large is refused by name, not half-read
    village = _client("village").post("/dhis2/api/dataValueSets", csv, content_type="application/csv")
    assert village.status_code == 413 and village.json()["status"] == "ERROR"


def test_a_failed_job_ends_with_its_reason_and_is_not_sent_again(worker, demo, settings):  # noqa: F811
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the body is far larger: a job without async
    client = _client("civil")
    nested = b'{"dataValues": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    queued = client.post("/dhis2/api/dataValueSets", nested, content_type="application/json")
    assert queued.status_code == 200 and queued.json()["response"]["jobType"] == "DATAVALUE_IMPORT"
    pk = queued.json()["response"]["id"]
    assert wait_for(lambda: _task_done(client, pk), timeout=60)
    [task] = client.get(f"/dhis2/api/system/tasks/DATAVALUE_IMPORT/{pk}").json()
    assert task["level"] == "ERROR"
    assert "JSON 嵌套层数过多" in task["message"] and "nested too deeply" in task["message"]
    summary = client.get(f"/dhis2/api/system/taskSummaries/DATAVALUE_IMPORT/{pk}").json()
    assert summary["status"] == "ERROR"
    assert [c["rule"] for c in summary["conflicts"]] == ["body.too_deep"]
    assert SupplyJob.objects.get(pk=pk).status == SupplyJobStatus.FAILED
    assert int(pk) not in sweep_supply_jobs()
    assert not Submission.objects.supplies().exists()
