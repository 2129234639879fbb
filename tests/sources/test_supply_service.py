"""The supply service from the source department's side: store, correct, ignore repeats, refuse by row."""

from __future__ import annotations

import datetime as dt

from core.models import Department, Unit, User
from reporting.models import Delivery, Field, Submission
from reporting.services.supplies import SupplyRow, supply_values

TODAY = dt.date(2026, 11, 29)


def _civil_sources(*codes: str) -> tuple[Department, User]:
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code__in=codes).update(source=civil)
    return civil, User.objects.get(username="civil")


def _village() -> Unit:
    return Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()


def test_a_supply_is_a_versioned_submission_of_the_source_and_a_repeat_changes_nothing(demo):
    civil, user = _civil_sources("dibao_people", "destitute_people")
    village = _village()
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    rows = [
        SupplyRow("1", village.area.code, period, "dibao_people", "12"),
        SupplyRow("2", village.area.code, period, "destitute_people", 3),
    ]
    first = supply_values(department=civil, rows=rows, by=user, today=TODAY)
    assert (first.imported, first.updated, first.ignored, first.conflicts) == (2, 0, 0, [])
    supply = Submission.objects.supplies().get(unit=village, source=civil)
    assert supply.versions.get().values == {"dibao_people": 12, "destitute_people": 3}
    assert not Submission.objects.by_units().filter(unit=village, sheet=field.sheet).exists()
    deliveries = Delivery.objects.filter(submission=supply).count()
    again = supply_values(department=civil, rows=rows, by=user, today=TODAY)
    assert (again.imported, again.updated, again.ignored, again.versions) == (0, 0, 2, [])
    corrected = supply_values(
        department=civil, rows=[SupplyRow("1", village.area.code, period, "dibao_people", "13")], by=user, today=TODAY
    )
    assert corrected.updated == 1
    supply.refresh_from_db()
    assert supply.current_version == 2
    assert supply.versions.get(number=2).values == {"dibao_people": 13, "destitute_people": 3}
    assert Delivery.objects.filter(submission=supply).count() >= deliveries


def test_every_bad_row_is_refused_by_row_and_nothing_is_stored(demo):
    civil, user = _civil_sources("dibao_people")
    village = _village()
    outside = Unit.objects.exclude(area__path__startswith=civil.jurisdiction.path).select_related("area").first()
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    rows = [
        SupplyRow("1", village.area.code, period, "dibao_people", "12"),
        SupplyRow("2", village.area.code, period, "households", "12"),  # not its source
        SupplyRow("3", village.area.code, period, "no_such_field", "1"),
        SupplyRow("4", "999999999999", period, "dibao_people", "1"),
        SupplyRow("5", village.area.code, "2099" + period[4:], "dibao_people", "1"),
        SupplyRow("6", village.area.code, period, "dibao_people", "-4"),
        SupplyRow("7", village.area.code, period, "dibao_people", "13"),  # same key as row 1, other value
    ]
    if outside is not None:
        rows.append(SupplyRow("8", outside.area.code, period, "dibao_people", "1"))
    result = supply_values(department=civil, rows=rows, by=user, today=TODAY)
    refused = {c.row: c.problem.rule for c in result.conflicts}
    assert refused["2"] == "source.not_source"
    assert refused["3"] == "source.unknown_field"
    assert refused["4"] == "source.unknown_unit"
    assert refused["5"] == "period.not_open"
    assert refused["6"] == "min"
    assert refused["7"] == "source.duplicate"
    assert "1" not in refused
    assert not result.stored
    assert not Submission.objects.supplies().exists()
    for conflict in result.conflicts:
        assert conflict.problem.message_zh and conflict.problem.message_en
