import datetime as dt

import pytest
import time_machine

from core.models import Area, Unit
from reporting.catalogue.periods import Period
from reporting.filing.onetable import build_one_table, due_items
from reporting.models import Sheet, Subscription, SubscriptionStatus
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, subscribe

Q4 = Period.parse("2026Q4")


@pytest.fixture
def village(village_cadre) -> Unit:
    return village_cadre.unit


def table(unit, sheet_code, period=Q4):
    return build_one_table(unit=unit, sheet=Sheet.objects.get(code=sheet_code), period=period)


def test_a_field_several_departments_need_is_asked_once(village):
    fields = [e.code for e in table(village, "village_basics").fields]
    assert fields.count("resident_population") == 1
    entry = table(village, "village_basics").by_code()["resident_population"]
    assert len(entry.department_ids) == 3  # culture, civil affairs, statistics


def test_a_field_no_subscription_needs_is_not_asked(village):
    codes = {e.code for e in table(village, "village_basics").fields}
    assert "village_type" not in codes and "grid_workers" not in codes
    assert "registered_population" in codes


def test_a_field_stops_being_asked_after_the_subscription_expires(village):
    Subscription.objects.update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["veterans"], expires_on=dt.date(2026, 9, 30))
    assert [e.code for e in table(village, "civil_affairs", Period.parse("2026Q3")).fields] == ["veterans"]
    assert not table(village, "civil_affairs", Q4)


def test_a_field_is_not_asked_before_the_subscription_starts(village):
    Subscription.objects.update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["veterans"], starts_on=dt.date(2027, 1, 1))
    assert not table(village, "civil_affairs", Q4)
    assert [e.code for e in table(village, "civil_affairs", Period.parse("2027Q1")).fields] == ["veterans"]


def test_a_subscription_scoped_to_one_township_asks_only_its_units(village):
    Subscription.objects.update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["veterans"], scope=Area.objects.get(name="石门乡"))
    assert not table(village, "civil_affairs")
    other = Unit.objects.filter(area__parent__name="石门乡").first()
    assert [e.code for e in table(other, "civil_affairs").fields] == ["veterans"]


def test_a_township_sheet_is_not_asked_of_a_village(village, township_cadre):
    assert not table(village, "township_monthly", Period.parse("202611"))
    assert table(township_cadre.unit, "township_monthly", Period.parse("202611"))


def test_stable_facts_are_carried_forward_from_the_last_accepted_value(village):
    entries = table(village, "village_basics").by_code()
    q3 = village.submissions.get(period="2026Q3").versions.get().values
    assert entries["registered_population"].carried == q3["registered_population"]
    assert entries["registered_population"].carried_from == "2026Q3"
    assert entries["culture_centre_area"].carried == q3["culture_centre_area"]
    assert not entries["volunteers"].has_carried  # not a stable fact: asked afresh each period


def test_a_stable_fact_left_blank_last_time_is_carried_from_the_filing_before(village, village_cadre):
    q3 = village.submissions.get(period="2026Q3").versions.get().values
    assert "elderly_over_60" in q3
    raw = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "elderly_over_60"}  # optional: left blank in Q4
    submit_sheet(
        unit=village,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Q4,
        raw={**raw, "library_books": "3500"},
        not_applicable={},
        by=village_cadre,
    )
    entries = table(village, "village_basics", Period.parse("2027Q1")).by_code()
    assert (entries["library_books"].carried, entries["library_books"].carried_from) == (3500, "2026Q4")
    assert (entries["elderly_over_60"].carried, entries["elderly_over_60"].carried_from) == (
        q3["elderly_over_60"],
        "2026Q3",
    )
    assert not entries["volunteers"].has_carried


@time_machine.travel(dt.datetime(2026, 11, 22, 10, 0), tick=False)
def test_the_home_list_shows_each_due_sheet_with_one_office_due_date_and_status(village):
    items = {(i.sheet.code, str(i.period)): i for i in due_items(unit=village)}
    assert set(items) == {
        ("village_basics", "2026Q3"),
        ("village_basics", "2026Q4"),
        ("civil_affairs", "2026Q3"),
        ("civil_affairs", "2026Q4"),
    }
    assert items[("village_basics", "2026Q3")].status == "submitted"
    assert items[("village_basics", "2026Q4")].status == "not_started"
    assert items[("village_basics", "2026Q4")].due_on == dt.date(2027, 1, 10)  # the office's rule: +10 days
    assert items[("village_basics", "2026Q4")].department_count == 4
