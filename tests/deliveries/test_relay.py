"""The relay: a filing stores one marker; the relay (a real worker) makes its deliveries once per subscription, for
the subscriptions the filing's table was built from, and numbers each department's feed in commit order."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from django.db import connection

from core.models import Department
from reporting.delivery.feed import read_feed
from reporting.models import (
    Delivery,
    DeliveryStatus,
    FeedCounter,
    Field,
    RelayPending,
    Sheet,
    Submission,
    Subscription,
    SubscriptionStatus,
)
from reporting.services import relay
from reporting.services.catalogue import end_subscription
from reporting.services.submissions import add_record, correct_submission
from tests.deliveries.conftest import ACTIVITY, file_activity
from tests.waiting import wait_for


def _covering(version) -> set[int]:
    """The subscriptions the QuerySet rule sends this version to now: active on its day, covering its unit,
    unit-level, taking a field it answers (the rule the relay evaluates in the filing's snapshot)."""
    submission = version.submission
    codes = set(version.values) | set(version.not_applicable)
    return set(
        Subscription.objects.active(on=submission.period_start)
        .covering(submission.unit.area)
        .filter(level__isnull=True, fields__code__in=codes)
        .values_list("pk", flat=True)
    )


def _sent_to(version) -> set[int]:
    return set(Delivery.objects.filter(version=version).values_list("subscription_id", flat=True))


def test_a_filing_stores_one_marker_and_a_worker_makes_its_deliveries(cadre, worker):
    version = file_activity(cadre, relay=False)
    expected = _covering(version)
    assert len(expected) >= 2
    assert wait_for(lambda: not RelayPending.objects.filter(version=version).exists(), timeout=30)
    assert _sent_to(version) == expected
    assert Delivery.objects.filter(version=version).count() == len(expected)


def test_the_relay_sends_a_version_to_the_subscriptions_in_force_when_it_was_filed(cadre):
    # no worker: the relay runs when the test says, after the subscriptions changed
    version = file_activity(cadre, relay=False)
    in_force = _covering(version)
    ended = Subscription.objects.filter(pk__in=in_force).order_by("pk").first()
    end_subscription(subscription=ended, reason="到期不再使用", by=None)
    started = Subscription.objects.create(
        department=Department.objects.get(code="propaganda"),
        scope=cadre.unit.area,
        purpose="新增订阅",
        starts_on=dt.date(2020, 1, 1),
    )
    started.fields.set(Field.objects.filter(sheet__code="cultural_activity"))

    assert relay.relay_versions() == 1
    # exactly as an insert in the filing's transaction would have: the ended one gets it, the new one does not
    assert _sent_to(version) == in_force
    withdrawn = Delivery.objects.get(version=version, subscription=ended)
    assert withdrawn.status in (DeliveryStatus.FEED, DeliveryStatus.WITHDRAWN)  # never sent, never shown
    later = file_activity(cadre, relay=False, activity_title="第二场")
    relay.relay_versions()
    assert _sent_to(later) == in_force - {ended.pk} | {started.pk}


def test_a_correction_relayed_with_its_first_version_names_the_delivery_it_supersedes(cadre):
    first = file_activity(cadre, relay=False)
    submission = Submission.objects.get(pk=first.submission_id)
    second = correct_submission(
        submission=submission,
        raw={**ACTIVITY, "attendance": "99"},
        not_applicable={},
        reason="人数填错",
        by=cadre,
        expected_version=1,
    )
    relay.relay_versions()
    for delivery in Delivery.objects.filter(version=second):
        replaced = Delivery.objects.get(version=first, subscription=delivery.subscription_id)
        assert delivery.supersedes_id == replaced.pk


def test_two_relays_racing_make_each_delivery_once_and_number_each_feed_without_gaps(cadre, settings):
    settings.ONETABLE_RELAY_BATCH = 3
    versions = [file_activity(cadre, relay=False, activity_title=f"讲座{i}") for i in range(40)]
    expected = {(v.pk, s) for v in versions for s in _covering(v)}
    start = threading.Barrier(2)
    took: list[int] = []

    def run() -> None:
        try:
            start.wait()
            took.append(relay.relay_versions())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(took) == 40 and not RelayPending.objects.exists()
    made = list(Delivery.objects.filter(version__in=versions).values_list("version_id", "subscription_id"))
    assert len(made) == len(set(made)) and set(made) == expected
    for counter in FeedCounter.objects.all():
        positions = sorted(Delivery.objects.filter(department=counter.department_id).values_list("position", flat=True))
        assert positions == list(range(1, counter.last + 1))

    # a marker put back (a repeat) makes nothing new: one delivery per (version, subscription)
    RelayPending.objects.create(
        version=versions[0],
        submission_id=versions[0].submission_id,
        period_start=versions[0].period_start,
        snapshot="1:1:",
        xid=0,
    )
    assert relay.relay_versions() == 1
    assert Delivery.objects.filter(version__in=versions).count() == len(expected)


def _scratch_url(name: str) -> str:
    db = connection.settings_dict
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={name}"


@pytest.fixture
def scratch_database():
    """A database of this test's own on the same server, dropped at the end."""
    name = f"ot_scratch_{connection.settings_dict['NAME']}".replace("-", "_")[:60]
    with psycopg.connect(_scratch_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_scratch_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_long_write_transaction_in_another_database_does_not_hold_the_feed_back(cadre, worker, scratch_database):
    propaganda = Department.objects.get(code="propaganda")
    cursor = read_feed(department=propaganda, after=None, limit=1000).next_cursor
    with psycopg.connect(_scratch_url(scratch_database)) as other:  # one transaction, open until the end
        other.execute("CREATE TABLE chart_access (n int)")
        other.execute("INSERT INTO chart_access SELECT generate_series(1, 1000)")
        (held,) = other.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        try:
            version = file_activity(cadre, relay=False, activity_title="长事务期间的活动")
            with connection.cursor() as db:  # the old rule would hide the filing until `other` ends
                db.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint <= %s", [held])
                assert db.fetchone()[0]
            read: set[str] = set()

            def arrived() -> bool:
                nonlocal cursor
                page = read_feed(department=propaganda, after=cursor, limit=1000)
                cursor = page.next_cursor
                read.update(item["id"] for item in page.items)
                mine = {d.public_id for d in Delivery.objects.filter(version=version, department=propaganda)}
                return bool(mine) and mine <= read

            assert wait_for(arrived, timeout=30)
            assert other.execute("SELECT count(*) FROM chart_access").fetchone()[0] == 1000  # still open
        finally:
            other.rollback()


def test_a_subscription_suspended_and_ended_by_sql_is_stamped_by_the_database(cadre):
    subscription = Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).first()
    subscription.save()  # a save of stale values in Python changes nothing
    stamped = Subscription.objects.get(pk=subscription.pk)
    assert stamped.active_from_xid is not None and stamped.active_until_xid is None
    Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.SUSPENDED)
    assert Subscription.objects.get(pk=subscription.pk).active_until_xid is not None


def _fields_owed(delivery: Delivery, version) -> list[str]:
    """The rule in Python: the subscription's fields (no roll-up) the version answers, sorted as PostgreSQL sorts."""
    answered = set(version.values) | set(version.not_applicable)
    taken = delivery.subscription.fields.filter(rollup_of__isnull=True).values_list("code", flat=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ARRAY(SELECT c FROM unnest(%s::text[]) c ORDER BY c)", [sorted(set(taken) & answered)])
        return cursor.fetchone()[0]


def test_each_delivery_carries_the_fields_its_subscription_takes_that_the_filing_answered(cadre):
    # one filing answers every field, one leaves two blank: the relay tests fields in two ways (all at once, or
    # one by one), and a subscription none of whose fields was answered gets nothing
    full = file_activity(cadre, relay=False)
    partial_raw = {k: v for k, v in ACTIVITY.items() if k not in ("organiser", "volunteers_involved")}
    partial = add_record(
        unit=cadre.unit, sheet=Sheet.objects.get(code="cultural_activity"), raw=partial_raw, not_applicable={}, by=cadre
    )
    relay.relay_versions()
    for version in (full, partial):
        deliveries = list(Delivery.objects.filter(version=version).select_related("subscription"))
        assert {d.subscription_id for d in deliveries} == _covering(version)
        for delivery in deliveries:
            assert delivery.fields == _fields_owed(delivery, version)
    assert "organiser" not in {f for d in Delivery.objects.filter(version=partial) for f in d.fields}
