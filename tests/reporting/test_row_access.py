"""Every row-level access helper, from the side of whoever must not get through: another department's
analyst and a unit cadre get a 404 and change nothing; the owner gets through, so each test can fail."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from rest_framework.test import APIClient

from core.models import ApiToken, User
from core.tokens import department_system_user, issue_token
from reporting.models import (
    DataRequest,
    Endpoint,
    ExportJob,
    RequestStatus,
    Sheet,
    Submission,
    Subscription,
    ZombieFlag,
    ZombieKind,
)
from reporting.reads.exports import run_export
from reporting.services.submissions import add_record
from tests.reporting.helpers import ACTIVITY

OUTSIDERS = ["propaganda_analyst", "village_cadre"]  # the rows below are the culture bureau's


def _snapshot(row) -> str:
    return json.dumps(model_to_dict(type(row).objects.get(pk=row.pk)), default=str, sort_keys=True)


def _data_request(culture: User) -> DataRequest:
    return DataRequest.objects.create(
        department=culture.department,
        title="农家书屋使用情况",
        purpose="test",
        legal_basis="test",
        scope=culture.department.jurisdiction,
        first_period="2026Q4",
        created_by=culture,
    )


def _endpoint(culture: User) -> Endpoint:
    return Endpoint.objects.create(
        department=culture.department, name="sys", url="http://127.0.0.1:9/", secret="whsec_AAAA"
    )


def _export_job(culture: User) -> ExportJob:
    job = ExportJob.objects.create(
        department=culture.department, by=culture, format="csv", params={"sheet": "village_basics"}
    )
    return run_export(job.pk)  # done, with its file


def _token(culture: User) -> ApiToken:
    return issue_token(
        user=department_system_user(department=culture.department), name="sys", valid_for=dt.timedelta(days=9)
    )[0]


def _flag(culture: User) -> ZombieFlag:
    return ZombieFlag.objects.create(
        kind=ZombieKind.IDLE_SUBSCRIPTION,
        subscription=Subscription.objects.filter(department=culture.department).earliest("pk"),
        reason="test",
        flagged_on=dt.date(2026, 11, 1),
    )


# (the row, then how a page or the API reaches it: method, url, data, whether the client speaks JSON)
CASES = {
    "a data request": (_data_request, "get", "/department/requests/{pk}/", {}, False),
    "a data request's edit page": (_data_request, "get", "/department/requests/{pk}/edit/", {}, False),
    "a data request's submission": (_data_request, "post", "/department/requests/{pk}/submit/", {}, False),
    "an export job": (_export_job, "get", "/department/exports/{pk}/", {}, False),
    "an export job's file": (_export_job, "get", "/department/exports/{pk}/download/", {}, False),
    "an endpoint paused on the page": (_endpoint, "post", "/department/endpoints/{pk}/active/", {"active": "0"}, False),
    "an endpoint paused through the API": (_endpoint, "post", "/api/v1/endpoints/{pk}/active", {"active": False}, True),
    "a token revoked": (_token, "post", "/department/tokens/", {"revoke": "{pk}"}, False),
    "a subscription flagged unused": (
        _flag,
        "post",
        "/department/notices/",
        {"flag": "{pk}", "reason": "仍在用"},
        False,
    ),
}


def _reach(user: User, method: str, url: str, data: dict, api: bool, pk: int):
    url = url.format(pk=pk)
    data = {key: value.format(pk=pk) if isinstance(value, str) else value for key, value in data.items()}
    if api:
        client = APIClient()
        client.force_authenticate(user)
        return getattr(client, method)(url, data, format="json")
    client = Client()
    client.force_login(user)
    return getattr(client, method)(url, data)


@pytest.mark.parametrize("outsider", OUTSIDERS)
@pytest.mark.parametrize("case", CASES)
def test_an_outsider_gets_404_and_changes_nothing(request, culture_analyst, outsider, case):
    make, method, url, data, api = CASES[case]
    row = make(culture_analyst)
    before = _snapshot(row)
    response = _reach(request.getfixturevalue(outsider), method, url, data, api, row.pk)
    assert response.status_code == 404
    assert _snapshot(row) == before


@pytest.mark.parametrize("case", CASES)
def test_the_owner_gets_through_so_the_outsiders_404_can_fail(culture_analyst, case):
    make, method, url, data, api = CASES[case]
    row = make(culture_analyst)
    response = _reach(culture_analyst, method, url, data, api, row.pk)
    assert response.status_code != 404


def test_the_office_cannot_open_a_draft_request_until_it_is_submitted(client, office_admin, culture_analyst):
    draft = _data_request(culture_analyst)
    client.force_login(office_admin)
    assert client.get(f"/office/requests/{draft.pk}/").status_code == 404
    DataRequest.objects.filter(pk=draft.pk).update(status=RequestStatus.SUBMITTED)
    assert client.get(f"/office/requests/{draft.pk}/").status_code == 200


@pytest.mark.parametrize("outsider", ["township_cadre", "culture_analyst"])
def test_a_submission_is_its_units_alone(request, village_cadre, outsider):
    record = add_record(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw=ACTIVITY,
        not_applicable={},
        by=village_cadre,
    ).submission
    before = _snapshot(record)
    user = request.getfixturevalue(outsider)
    for method, url, data, api in (
        ("get", "/submissions/{pk}/", {}, False),
        ("post", "/submissions/{pk}/correct/", {"reason": "x", "base_version": "1", "token": "t"}, False),
        ("get", "/api/v1/unit/submissions/{pk}", {}, True),
    ):
        assert _reach(user, method, url, data, api, record.pk).status_code == 404
    assert _snapshot(record) == before and Submission.objects.get(pk=record.pk).current_version == 1
    assert _reach(village_cadre, "get", "/submissions/{pk}/", {}, False, record.pk).status_code == 200
