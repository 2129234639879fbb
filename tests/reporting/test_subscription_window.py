"""Which subscriptions cover a unit on a day: the QuerySet, the SQL fragment, the one table's cached
catalogue and the relay's targets say the same, on crafted subscriptions (scopes, windows, statuses) and fields
(retired or not)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from itertools import product

import pytest
from django.db import connection

from core.models import Area, Department, Office, Unit
from reporting.filing.onetable import Claims, SheetCatalogue, catalogue_reading
from reporting.models import (
    Cadence,
    Delivery,
    Field,
    Sheet,
    Status,
    Subscription,
    SubscriptionStatus,
    covers_sql,
    entitles_sql,
)
from reporting.services.relay import queue_versions, relay_versions

START, EXPIRY = dt.date(2026, 3, 1), dt.date(2026, 5, 31)
DAYS = {
    "before start": START - dt.timedelta(days=1),
    "start day": START,
    "expiry day": EXPIRY,
    "after expiry": EXPIRY + dt.timedelta(days=1),
    "a year on": EXPIRY + dt.timedelta(days=365),
}
WINDOWS = {"bounded": (START, EXPIRY), "open": (START, None)}
SCOPES = ("own", "ancestor", "sibling", "descendant")
STATUSES = SubscriptionStatus.values  # active, suspended, ended

# By hand: only active subscriptions scoped to the unit's area or one above it, on days inside their window.
COVERING = {
    "before start": set(),
    "start day": {("own", "bounded"), ("own", "open"), ("ancestor", "bounded"), ("ancestor", "open")},
    "expiry day": {("own", "bounded"), ("own", "open"), ("ancestor", "bounded"), ("ancestor", "open")},
    "after expiry": {("own", "open"), ("ancestor", "open")},
    "a year on": {("own", "open"), ("ancestor", "open")},
}
# Fields: one in use, one retired from the expiry day (asked on the days before it), one retired undated.
ASKED = {
    "before start": {"live", "retired_on_expiry"},
    "start day": {"live", "retired_on_expiry"},
    "expiry day": {"live"},
    "after expiry": {"live"},
    "a year on": {"live"},
}


@dataclass
class Crafted:
    unit: Unit
    sheet: Sheet
    subscriptions: dict[tuple[str, str, str], Subscription]  # (scope, window, status)
    fields: dict[str, Field]

    def named(self, pks) -> set[tuple[str, str, str]]:
        names = {s.pk: key for key, s in self.subscriptions.items()}
        return {names[pk] for pk in pks if pk in names}


@pytest.fixture
def crafted(demo) -> Crafted:
    unit = Unit.objects.select_related("area__parent").get(area__name="城关镇")
    area = unit.area
    scopes = {
        "own": area,
        "ancestor": area.parent,
        "sibling": Area.objects.filter(parent=area.parent).exclude(pk=area.pk).order_by("code").first(),
        "descendant": area.children.order_by("code").first(),
    }
    sheet = Sheet.objects.create(
        code="window_probe",
        name_zh="覆盖规则探针",
        name_en="Covering probe",
        topic_zh="测试",
        topic_en="test",
        cadence=Cadence.MONTHLY,
        unit_levels=[area.level],
        owner=Office.objects.first(),
    )
    fields = {
        name: Field.objects.create(
            sheet=sheet, code=f"probe_{name}", name_zh=name, name_en=name, type="integer", status=status, **retired
        )
        for name, status, retired in (
            ("live", Status.ACTIVE, {}),
            ("retired_on_expiry", Status.RETIRED, {"retired_from": EXPIRY}),
            ("retired_undated", Status.RETIRED, {}),
        )
    }
    subscriptions = {}
    for i, (scope, window, status) in enumerate(product(SCOPES, WINDOWS, STATUSES)):
        # one department each, so that the one table's "departments by field" names the subscription
        department = Department.objects.create(code=f"probe-{i}", name=f"probe {i}", jurisdiction=area.parent)
        starts_on, expires_on = WINDOWS[window]
        subscription = Subscription.objects.create(
            department=department,
            scope=scopes[scope],
            purpose="probe",
            starts_on=starts_on,
            expires_on=expires_on,
            status=status,
        )
        subscription.fields.set(fields.values())
        subscriptions[(scope, window, status)] = subscription
    return Crafted(unit, sheet, subscriptions, fields)


def _expected(day: str) -> set[tuple[str, str, str]]:
    return {(scope, window, SubscriptionStatus.ACTIVE) for scope, window in COVERING[day]}


@pytest.mark.parametrize("day", DAYS)
def test_it_covers_by_the_queryset_exactly_what_the_rule_says(crafted, day):
    covering = Subscription.objects.active(on=DAYS[day]).covering(crafted.unit.area)
    assert crafted.named(covering.values_list("pk", flat=True)) == _expected(day)


def test_the_sql_fragment_covers_what_the_queryset_covers(crafted):
    # as data.py reads: each subscription read through `active()` judged against an area and a day in SQL
    selects, params = [], {"area": crafted.unit.area.pk, "days": list(DAYS.values())}
    for subscription in Subscription.objects.active().filter(pk__in=[s.pk for s in crafted.subscriptions.values()]):
        key = str(subscription.pk)
        condition, bound = covers_sql(
            key,
            scope_path=subscription.scope.path,
            starts_on=subscription.starts_on,
            expires_on=subscription.expires_on,
            area_path="a.path",
            day="d.day",
        )
        params |= bound | {f"sub_{key}": subscription.pk}
        selects.append(
            f"SELECT %(sub_{key})s::bigint, d.day FROM core_area a CROSS JOIN unnest(%(days)s::date[]) AS d(day) "
            f"WHERE a.id = %(area)s AND {condition}"
        )
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        by_sql = {(pk, day) for pk, day in cursor.fetchall()}
    for name, day in DAYS.items():
        by_queryset = Subscription.objects.active(on=day).covering(crafted.unit.area).values_list("pk", flat=True)
        assert crafted.named(pk for pk, on in by_sql if on == day) == crafted.named(by_queryset) == _expected(name)


@pytest.mark.parametrize("day", DAYS)
def test_the_one_tables_cached_catalogue_asks_what_the_queryset_asks(crafted, day):
    on = DAYS[day]
    covering = Subscription.objects.active(on=on).covering(crafted.unit.area)
    asked = Field.objects.asked_on(on).filter(sheet=crafted.sheet)
    by_queryset = {
        (field_id, department_id)
        for field_id, department_id in Subscription.fields.through.objects.filter(
            subscription__in=covering, field__in=asked
        ).values_list("field_id", "subscription__department_id")
    }
    catalogue = SheetCatalogue.load(crafted.sheet)
    by_catalogue = {
        (f, d) for f, departments in catalogue.needed(crafted.unit, crafted.sheet, on).items() for d in departments
    }
    by_claims = {
        (f, d)
        for f, departments in Claims(crafted.unit).departments_by_field(crafted.sheet, on).items()
        for d in departments
    }
    assert by_catalogue == by_claims == by_queryset
    # and they say what the rule says: every asked field, by every covering subscription
    departments = {crafted.subscriptions[key].department_id for key in _expected(day)}
    fields = {crafted.fields[name].pk for name in ASKED[day]} if departments else set()
    assert by_queryset == set(product(fields, departments))
    # the relay's targets for a filing that answers every field: the covering subscriptions
    version = _version_of_every_field(crafted, on)
    queue_versions([version], snapshot=catalogue_reading()[1])
    relay_versions()
    targets = Delivery.objects.filter(version_id=version).values_list("subscription_id", flat=True)
    assert crafted.named(targets) == crafted.named(covering.values_list("pk", flat=True))


def _version_of_every_field(crafted: Crafted, day: dt.date) -> int:
    """A filed version of the probe sheet for `day` answering every field (a ledger-like key: any day may hold one)."""
    values = json.dumps({f.code: 1 for f in crafted.fields.values()})
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reporting_submission (unit_id, sheet_id, period, record_key, record_date, period_start,"
            " current_version, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 1, now(), now()) RETURNING id",
            [crafted.unit.pk, crafted.sheet.pk, day.strftime("%Y%m"), uuid.uuid4(), day, day],
        )
        (submission,) = cursor.fetchone()
        cursor.execute(
            'INSERT INTO reporting_submissionversion (submission_id, number, "values", not_applicable, carried,'
            " confirmed, disputed, gaps, reason, by_id, at, asked_count, typed_count, carried_count, na_count,"
            " confirmed_count, disputed_count, department_count, refills_spared, period_start)"
            " SELECT %s, 1, %s, '{}', '{}', '{}', '{}', '{}', '', min(id), now(), 0, 0, 0, 0, 0, 0, 0, 0, %s"
            " FROM core_user RETURNING id",
            [submission, values, day],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("day", DAYS)
def test_it_asks_a_retired_field_only_before_its_retirement(crafted, day):
    asked = Field.objects.asked_on(DAYS[day]).filter(sheet=crafted.sheet).values_list("code", flat=True)
    assert set(asked) == {f"probe_{name}" for name in ASKED[day]}


@pytest.mark.parametrize("day", DAYS)
def test_the_sql_rule_and_the_queryset_for_an_entitling_subscription_agree(crafted, day):
    today = DAYS[day]
    crafted_ids = [s.pk for s in crafted.subscriptions.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sub.id FROM reporting_subscription sub WHERE sub.id = ANY(%s) AND {entitles_sql('sub', '%s')}",
            [crafted_ids, today],
        )
        by_sql = crafted.named(row[0] for row in cursor.fetchall())
    by_queryset = crafted.named(Subscription.objects.entitling(today).values_list("pk", flat=True))
    # entitled: active and not expired by `today`, wherever its scope and whether or not it has begun
    expected = {
        (scope, window, SubscriptionStatus.ACTIVE)
        for scope, window in product(SCOPES, WINDOWS)
        if WINDOWS[window][1] is None or today <= WINDOWS[window][1]
    }
    assert by_sql == by_queryset == expected
    # what the daily check ends is the rest of the active ones
    expired = crafted.named(Subscription.objects.expired(today).values_list("pk", flat=True))
    active = crafted.named(Subscription.objects.active().values_list("pk", flat=True))
    assert expired == active - expected and not expired & expected
