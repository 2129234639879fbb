"""GET /dhis2/api/dataValueSets for a department: each value says who stored it (the unit, or the source
department whose register supplied it) and when (the version that made it the current value)."""

from __future__ import annotations

import datetime as dt
import json

import time_machine
from django.test import Client
from django.utils import timezone

from core.models import Department, User
from core.tokens import issue_token
from reporting.models import Field, Submission, Subscription
from reporting.services.submissions import correct_submission
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import file_village_basics

TODAY = dt.date(2026, 11, 29)
PERIOD = "2026Q4"


def _stamp(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M:%S.000")


def _read(user: User, org_unit: str) -> dict[str, dict]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, name='dhis2')[1]}")
    response = client.get(
        "/dhis2/api/dataValueSets", {"dataSet": "village_basics", "period": PERIOD, "orgUnit": org_unit}
    )
    assert response.status_code == 200
    values = json.loads(b"".join(response.streaming_content))["dataValues"]
    return {v["dataElement"]: v for v in values}


def test_each_value_names_its_filer_and_the_time_of_its_version(village_cadre, civil_analyst):
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="registered_population").update(source=stats)
    for subscription in Subscription.objects.filter(department=stats):
        subscription.fields.remove(Field.objects.get(code="registered_population"))
    unit = village_cadre.unit
    filed = file_village_basics(village_cadre, period=PERIOD)
    rows = [SupplyRow("1", unit.area.code, PERIOD, "registered_population", 2150)]
    supply_values(department=stats, rows=rows, by=User.objects.get(username="stats"), today=TODAY)
    supply = Submission.objects.supplies().get(unit=unit)
    supplied_at = supply.versions.get().at

    values = _read(civil_analyst, unit.area.code)
    assert values["registered_population"]["value"] == "2150"
    assert values["registered_population"]["storedBy"] == "stats"
    assert values["registered_population"]["lastUpdated"] == _stamp(supplied_at)
    assert values["households"]["storedBy"] == unit.area.code
    assert values["households"]["lastUpdated"] == _stamp(filed.at)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=1), tick=False):
        confirmed = correct_submission(
            submission=filed.submission,
            raw={**filed.values, "registered_population": ""},
            not_applicable=filed.not_applicable,
            reason="确认部门数据",
            by=village_cadre,
            expected_version=filed.number,
        )
    values = _read(civil_analyst, unit.area.code)
    # the register's value, confirmed by the unit's later filing: still the source's, and unchanged since its
    # supply; the unit's own values that filing left as they were keep their time too
    assert _stamp(confirmed.at) not in (_stamp(supplied_at), _stamp(filed.at))
    assert values["registered_population"]["storedBy"] == "stats"
    assert values["registered_population"]["lastUpdated"] == _stamp(supplied_at)
    assert values["households"]["lastUpdated"] == _stamp(filed.at)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=False):
        corrected = correct_submission(
            submission=filed.submission,
            raw={**filed.values, "registered_population": "", "households": filed.values["households"] + 1},
            not_applicable=filed.not_applicable,
            reason="更正户数",
            by=village_cadre,
            expected_version=confirmed.number,
        )
    values = _read(civil_analyst, unit.area.code)
    assert values["households"]["lastUpdated"] == _stamp(corrected.at)
    others = set(values) - {"households", "registered_population"}
    assert others and {values[c]["lastUpdated"] for c in others} == {_stamp(filed.at)}
    assert values["registered_population"]["lastUpdated"] == _stamp(supplied_at)


def test_values_without_a_source_are_stored_by_the_unit(village_cadre, civil_analyst):
    filed = file_village_basics(village_cadre, period=PERIOD)
    values = _read(civil_analyst, village_cadre.unit.area.code)
    assert values
    assert {v["storedBy"] for v in values.values()} == {village_cadre.unit.area.code}
    assert {v["lastUpdated"] for v in values.values()} == {_stamp(filed.at)}


def test_a_units_own_read_gives_each_value_the_time_it_last_changed(village_cadre):
    filed = file_village_basics(village_cadre, period=PERIOD)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1), tick=False):
        corrected = correct_submission(
            submission=filed.submission,
            raw={**filed.values, "households": filed.values["households"] + 1},
            not_applicable=filed.not_applicable,
            reason="更正户数",
            by=village_cadre,
            expected_version=filed.number,
        )
    values = _read(village_cadre, village_cadre.unit.area.code)
    assert values["households"]["lastUpdated"] == _stamp(corrected.at)
    assert {v["lastUpdated"] for c, v in values.items() if c != "households"} == {_stamp(filed.at)}


def test_a_unit_reading_its_own_values_gets_the_same_stored_by_as_a_department_never_a_user_name(
    village_cadre, civil_analyst
):
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="registered_population").update(source=stats)
    unit = village_cadre.unit
    rows = [SupplyRow("1", unit.area.code, PERIOD, "registered_population", 2150)]
    supply_values(department=stats, rows=rows, by=User.objects.get(username="stats"), today=TODAY)
    filed = file_village_basics(village_cadre, period=PERIOD, registered_population="")
    assert filed.confirmed == ["registered_population"]
    own, civil = _read(village_cadre, unit.area.code), _read(civil_analyst, unit.area.code)
    assert own["households"]["storedBy"] == civil["households"]["storedBy"] == unit.area.code
    assert own["registered_population"]["storedBy"] == "stats"
    assert village_cadre.username not in {v["storedBy"] for v in own.values()}
