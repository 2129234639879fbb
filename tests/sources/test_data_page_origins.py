"""The department's data page says where each value of a sourced field came from, Chinese first."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from core.models import Department, Unit, User
from reporting.models import Field, Subscription
from reporting.services.submissions import correct_submission
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import file_village_basics, text_of

TODAY = dt.date(2026, 11, 29)
PERIOD = "2026Q4"


def _stats_supplies(unit: Unit, value: object) -> None:
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="registered_population").update(source=stats)
    for subscription in Subscription.objects.filter(department=stats):
        subscription.fields.remove(Field.objects.get(code="registered_population"))
    rows = [SupplyRow("1", unit.area.code, PERIOD, "registered_population", value)]
    result = supply_values(department=stats, rows=rows, by=User.objects.get(username="stats"), today=TODAY)
    assert not result.conflicts


def _row_of(html: str, unit: Unit) -> str:
    """The text of the table row of `unit` (its name opens the row)."""
    table = text_of(html, "<tbody>", "</tbody>")
    start = table.index(unit.name)
    rest = table[start + len(unit.name) :]
    ends = [rest.index(u.name) for u in Unit.objects.exclude(pk=unit.pk) if u.name in rest]
    return table[start : start + len(unit.name) + min(ends, default=len(rest))]


def _page(user: User) -> str:
    client = Client()
    client.force_login(user)
    page = client.get("/department/data/", {"sheet": "village_basics", "period_from": PERIOD, "period_to": PERIOD})
    assert page.status_code == 200
    return page.content.decode()


def test_the_data_page_marks_register_confirmed_and_disputed_values(village_cadre, civil_analyst):
    unit = village_cadre.unit
    filed = file_village_basics(village_cadre, period=PERIOD)
    _stats_supplies(unit, 2150)
    row = _row_of(_page(civil_analyst), unit)
    assert "2150" in row and "部门数据" in row
    assert "已确认" not in row and "有异议" not in row

    confirmed = correct_submission(
        submission=filed.submission,
        raw={**filed.values, "registered_population": ""},
        not_applicable=filed.not_applicable,
        reason="确认部门数据",
        by=village_cadre,
        expected_version=filed.number,
    )
    row = _row_of(_page(civil_analyst), unit)
    assert "已确认" in row and "部门数据" not in row

    correct_submission(
        submission=filed.submission,
        raw={**confirmed.values, "registered_population": "2160"},
        not_applicable=filed.not_applicable,
        reason="提出异议",
        by=village_cadre,
        expected_version=confirmed.number,
        disputes={"registered_population": "去年新迁入两户"},
    )
    html = _page(civil_analyst)
    row = _row_of(html, unit)
    assert "有异议" in row and "已确认" not in row
    assert "2150" in row  # the register's value stays the value
    assert "单位填报 2160：去年新迁入两户" in row  # the unit's value and reason beside it
    assert "Disputed" not in html and "The unit says" not in html  # no English on the Chinese page


def test_a_field_without_a_source_carries_no_marker(village_cadre, civil_analyst):
    file_village_basics(village_cadre, period=PERIOD)
    html = _page(civil_analyst)
    row = _row_of(html, village_cadre.unit)
    assert "610" in row  # households, typed by the unit
    for marker in ("部门数据", "已确认", "有异议"):
        assert marker not in row
    assert "由数源部门提供" not in html
