"""The office sets the suppression threshold on its page, ahead of the periods it applies to; a department
reading aggregates sees the change in those periods; nobody else may set it; a bad value stores nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from core.models import Area, AreaLevel, AuditEvent, Unit
from reporting.models import SuppressionThreshold
from tests.reporting.helpers import token_client

COUNTY = "360799000000"


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _townships(user, period: str = "2026Q3") -> dict[str, bool]:
    """Each township's aggregate of resident_population as the department reads it: suppressed or not."""
    response = token_client(user).get(
        "/api/v1/aggregates", {"field": "resident_population", "period": period, "area": COUNTY, "level": "township"}
    )
    assert response.status_code == 200
    return {item["area"]: item["suppressed"] for item in response.json()["items"]}


def _set(client, **posted):
    form = {"units": "14", "effective_from": "2026-07-01", "reason": "乡镇规模小，提高门槛", **posted}
    return client.post("/office/suppression/", form)


def test_a_department_sees_suppression_change_in_the_periods_after_the_office_raised_the_threshold(
    client, office_admin, culture_analyst
):
    largest = max(Unit.objects.filter(area__parent=t).count() for t in Area.objects.filter(level=AreaLevel.TOWNSHIP))
    assert 3 <= largest < 14  # every township publishable at 3, none at 14
    assert set(_townships(culture_analyst).values()) == {False}  # the default, 3: every township shown

    client.force_login(office_admin)
    with time_machine.travel(dt.datetime(2026, 6, 20, 4, tzinfo=dt.UTC), tick=True):  # before 2026Q3 begins
        assert _set(client).status_code == 302
        page = client.get("/office/suppression/").content.decode()
        assert '<p id="current"><strong>3</strong>' in page and "乡镇规模小，提高门槛" in page

    assert set(_townships(culture_analyst).values()) == {True}  # 2026Q3 began under 14: no township shown
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        assert '<p id="current"><strong>14</strong>' in client.get("/office/suppression/").content.decode()
    event = AuditEvent.objects.get(action="suppression.threshold_set")
    assert event.actor == office_admin and event.detail["units"] == 14 and event.detail["was"] is None


def test_a_period_already_begun_keeps_its_threshold(client, office_admin, culture_analyst):
    client.force_login(office_admin)
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        response = _set(client, effective_from="2026-07-01")
    assert response.status_code == 400 and "已开始的报告期沿用原门槛" in response.content.decode()
    assert not SuppressionThreshold.objects.exists()
    assert set(_townships(culture_analyst).values()) == {False}


@pytest.mark.parametrize(
    ("posted", "field", "rule"),
    [
        ({"units": "1"}, "units", "number.range"),  # one unit's aggregate is its value
        ({"units": "0"}, "units", "number.range"),
        ({"units": "101"}, "units", "number.range"),
        ({"units": "3.5"}, "units", "number.range"),
        ({"units": "三"}, "units", "number.range"),
        ({"units": ""}, "units", "number.range"),
        ({"effective_from": "下个月"}, "effective_from", "date.invalid"),
        ({"reason": " "}, "reason", "required"),
    ],
)
def test_a_bad_value_is_refused_by_name_in_chinese_and_english_and_nothing_is_stored(
    client, office_admin, posted, field, rule
):
    client.force_login(office_admin)
    with time_machine.travel(dt.datetime(2026, 6, 20, 4, tzinfo=dt.UTC), tick=True):
        response = _set(client, **posted)
    assert response.status_code == 400
    assert (field, rule) in {(p.field, p.rule) for p in response.context["problems"]}
    html = response.content.decode()
    if rule == "number.range":
        assert "最少单位数：须为 2 至 100 的整数" in html and "must be a whole number from 2 to 100" in html
    assert not SuppressionThreshold.objects.exists()
    assert not AuditEvent.objects.filter(action="suppression.threshold_set").exists()


def test_only_the_office_reaches_the_threshold(client, culture_analyst, village_cadre):
    for user in (culture_analyst, village_cadre):
        client.force_login(user)
        assert client.get("/office/suppression/").status_code == 404
        with time_machine.travel(dt.datetime(2026, 6, 20, 4, tzinfo=dt.UTC), tick=True):
            assert _set(client, units="2").status_code == 404
    assert not SuppressionThreshold.objects.exists()
    client.logout()
    assert client.get("/office/suppression/").status_code == 302
