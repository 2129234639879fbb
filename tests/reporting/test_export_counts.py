"""An export's progress counts exactly the rows the department may read: `count_rows` and `rows` agree."""

from __future__ import annotations

import datetime as dt

import pytest

from core.models import Area, Department
from reporting.models import Sheet, Subscription
from reporting.reads.data import Query, count_rows, rows
from tests.reporting.helpers import subscribe


@pytest.fixture
def civil(demo) -> Department:
    """Civil affairs, with a second subscription overlapping its first (a filing entitled twice is one row),
    and one for a single township from 2026Q4 (a window and a scope)."""
    department = Department.objects.get(code="civil")
    subscribe("civil", ["households", "library_books"])
    subscribe("civil", ["arable_land"], scope=Area.objects.get(name="石门乡"), starts_on=dt.date(2026, 10, 1))
    return department


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"area": "石门乡"},
        {"period_from": "2026Q4"},
        {"period_to": "2026Q3"},
        {"fields": ["arable_land"]},
        {"fields": ["library_books"], "area": "石门乡"},
    ],
)
def test_the_count_is_that_of_the_rows(civil, filters):
    area = Area.objects.get(name=filters.pop("area")) if "area" in filters else None
    query = Query(department=civil, sheet=Sheet.objects.get(code="village_basics"), area=area, **filters)
    assert count_rows(query) == len(list(rows(query)))


def test_a_department_whose_subscriptions_ended_counts_nothing(civil):
    Subscription.objects.filter(department=civil).update(expires_on=dt.date(2026, 1, 1))
    query = Query(department=civil, sheet=Sheet.objects.get(code="village_basics"))
    assert count_rows(query) == 0 == len(list(rows(query)))


@pytest.fixture
def registers(civil, village_cadre):
    """Two fields with a source (statistics, civil affairs) supplied for some villages in both quarters, read by
    civil affairs beside its other fields: its rows are one per unit and period, filing and supplies merged."""
    from core.models import Unit, User
    from reporting.models import Field
    from reporting.services.supplies import SupplyRow, supply_values
    from tests.reporting.helpers import file_village_basics

    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="registered_population").update(source=stats)
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    subscribe("civil", ["registered_population", "elderly_over_60", "households"])
    villages = list(Unit.objects.filter(area__level="village").select_related("area").order_by("area__code")[:20])
    for department, code, value in ((stats, "registered_population", 2100), (civil, "elderly_over_60", 300)):
        rows_ = [
            SupplyRow(str(i), v.area.code, p, code, value) for i, v in enumerate(villages) for p in ("2026Q3", "2026Q4")
        ]
        supply_values(
            department=department,
            rows=rows_,
            by=User.objects.get(username=department.code),
            today=dt.date(2026, 11, 29),
        )
    file_village_basics(village_cadre, registered_population="", elderly_over_60="")
    return civil


@pytest.mark.parametrize(
    "filters", [{}, {"period_from": "2026Q4"}, {"fields": ["elderly_over_60"]}, {"area": "城关镇"}]
)
def test_the_count_is_that_of_the_rows_where_registers_are_merged_in(registers, filters):
    # the export's "300 / 750": the count took each supply for a row of its own, the rows merge them into the
    # unit's (one per unit and period)
    area = Area.objects.get(name=filters.pop("area")) if "area" in filters else None
    query = Query(department=registers, sheet=Sheet.objects.get(code="village_basics"), area=area, **filters)
    read = list(rows(query))
    assert read and count_rows(query) == len(read)
