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
