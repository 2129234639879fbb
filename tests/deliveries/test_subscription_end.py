"""When a subscription ends (ended, suspended, or past its expiry), its deliveries leave the feed and every other
read path, and what still waited to be pushed is withdrawn, never sent (design invariant 3). Seen from the
department: its feed and data over the API with its token, and a real HTTP receiver."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from core.models import Department, User
from reporting.models import Delivery, DeliveryStatus, Field, Sheet, Subscription, SubscriptionStatus, entitles_sql
from reporting.services import deliveries
from reporting.services.catalogue import end_subscription, zombie_check
from reporting.services.submissions import add_record
from tests.deliveries.conftest import ACTIVITY, file_activity, relayed, wire
from tests.deliveries.conftest import system_client as _system_client
from tests.waiting import wait_for

ACTIVITY_FIELDS = ["activity_date", "activity_title", "attendance"]


@pytest.fixture
def cadre(demo) -> User:
    return User.objects.select_related("unit__area").get(username="village")


def _feed_once_visible(client, count: int = 1) -> dict:
    """The first feed page once it shows `count` items: the feed holds back rows newer than the oldest
    transaction still running on the server (the snapshot rule), and other tests share that server."""
    assert wait_for(lambda: len(client.get("/api/v1/feed").json()["items"]) >= count)
    return client.get("/api/v1/feed").json()


def _file_second_activity(cadre: User) -> None:
    """A second record, without the fields only the ended subscription asked (they are no longer asked)."""
    second = {k: v for k, v in ACTIVITY.items() if k not in ("volunteers_involved", "is_volunteer_service")}
    add_record(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw={**second, "activity_title": "第二场"},
        not_applicable={},
        by=cadre,
    )
    relayed()


def _propaganda_subscription() -> Subscription:
    return Subscription.objects.get(department__code="propaganda")


def _new_subscription(endpoint=None) -> Subscription:
    """A second, still running subscription of the propaganda department on the same ledger."""
    department = Department.objects.get(code="propaganda")
    subscription = Subscription.objects.create(
        department=department,
        scope=department.jurisdiction,
        purpose="second",
        starts_on=dt.date(2025, 1, 1),
        endpoint=endpoint,
    )
    subscription.fields.set(Field.objects.filter(code__in=ACTIVITY_FIELDS))
    return subscription


def test_the_feed_stops_serving_a_subscription_that_ended_and_reads_the_same_while_it_lasts(cadre):
    propaganda = _system_client("propaganda")
    file_activity(cadre)
    first = _feed_once_visible(propaganda)
    assert [item["sheet"] for item in first["items"]] == ["cultural_activity"]  # so this test can fail
    assert propaganda.get("/api/v1/feed").json()["items"] == first["items"]  # twice: the same, while it lasts
    assert propaganda.get("/api/v1/data", {"sheet": "cultural_activity"}).json()["rows"]

    end_subscription(subscription=_propaganda_subscription(), reason="不再需要", by=None)

    assert propaganda.get("/api/v1/feed").json()["items"] == []
    assert propaganda.get("/api/v1/feed", {"after": "0-0", "limit": 1000}).json()["items"] == []
    assert propaganda.get("/api/v1/data", {"sheet": "cultural_activity"}).status_code == 400  # no such sheet for it
    # the culture bureau's subscription did not end: its feed is untouched
    assert [i["sheet"] for i in _feed_once_visible(_system_client("culture"))["items"]] == ["cultural_activity"]


@pytest.mark.parametrize("status", [SubscriptionStatus.SUSPENDED, SubscriptionStatus.ENDED])
def test_a_suspended_or_ended_subscription_leaves_the_feed_whoever_changed_it(cadre, status):
    propaganda = _system_client("propaganda")
    file_activity(cadre)
    assert len(_feed_once_visible(propaganda)["items"]) == 1
    Subscription.objects.filter(department__code="propaganda").update(status=status)  # e.g. in the admin
    assert propaganda.get("/api/v1/feed").json()["items"] == []


def test_the_feed_stops_the_day_after_the_expiry_without_anything_written(cadre):
    Subscription.objects.filter(department__code="propaganda").update(expires_on=dt.date(2026, 12, 31))
    with time_machine.travel(dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC), tick=False) as clock:
        propaganda = _system_client("propaganda")
        file_activity(cadre)
        page = _feed_once_visible(propaganda)
        assert len(page["items"]) == 1
        clock.move_to(dt.datetime(2026, 12, 31, 17, tzinfo=dt.UTC))  # 1 January in Beijing: expired
        assert propaganda.get("/api/v1/feed").json()["items"] == []
        assert propaganda.get("/api/v1/feed", {"after": page["next"]}).json()["items"] == []
        assert _propaganda_subscription().status == SubscriptionStatus.ACTIVE  # nothing was written


def test_a_push_waiting_when_its_subscription_ends_is_withdrawn_and_never_sent(
    worker, loopback_allowed, receivers, cadre
):
    receiver = receivers(script=[503])  # the first push fails: the delivery waits for its retry
    endpoint = wire("propaganda", receiver)
    propaganda = _system_client("propaganda")
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as clock:
        file_activity(cadre)
        assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RETRYING).exists())
        waiting = Delivery.objects.get(department__code="propaganda")
        (shown,) = propaganda.get("/api/v1/deliveries").json()["endpoints"]
        assert shown["deliveries"]["retrying"] == 1

        end_subscription(subscription=_propaganda_subscription(), reason="不再需要", by=None)

        assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.WITHDRAWN
        (shown,) = propaganda.get("/api/v1/deliveries").json()["endpoints"]
        assert shown["deliveries"] == {"pending": 0, "retrying": 0, "dead": 0}
        # the proof that the sender ran past it: a later filing under a running subscription arrives
        _new_subscription(endpoint)
        clock.shift(dt.timedelta(minutes=5))  # the withdrawn row's retry time has passed
        _file_second_activity(cadre)
        deliveries.sweep()
        assert wait_for(lambda: len(receiver.seen) == 1)
    (arrived,) = receiver.applied().values()
    assert arrived["values"]["activity_title"] == "第二场" and waiting.public_id not in receiver.seen
    assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.WITHDRAWN


def test_a_push_waiting_when_its_subscription_expires_is_never_sent_and_withdrawn_by_the_daily_check(
    worker, loopback_allowed, receivers, cadre
):
    receiver = receivers(script=[503])
    endpoint = wire("propaganda", receiver)
    expiring = _propaganda_subscription()
    today = timezone.localdate()  # the outbox's own timestamps come from the database's clock: stay near it
    Subscription.objects.filter(pk=expiring.pk).update(expires_on=today)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        file_activity(cadre)
        assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RETRYING).exists())
        waiting = Delivery.objects.get(department__code="propaganda")
        _new_subscription(endpoint)
        # half past midnight the next day, local time: expired, and nothing was written
        clock.move_to(timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 30))))
        # a record of a day both cover goes to both subscriptions: the expired one's row is never sent either
        _file_second_activity(cadre)
        assert Delivery.objects.filter(subscription=expiring).count() == 2
        Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=Now())  # its backoff is over (database's clock)
        deliveries.sweep()
        assert wait_for(lambda: len(receiver.seen) == 1)
        (arrived,) = receiver.applied().values()
        assert arrived["values"]["activity_title"] == "第二场" and waiting.public_id not in receiver.seen
        assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.RETRYING  # not written yet
        assert deliveries.sweep() == []  # nothing left that may be sent: no task is queued for it

        zombie_check()  # the daily check ends the expired subscription and withdraws what waited

        assert not Delivery.objects.filter(subscription=expiring, status__in=[DeliveryStatus.PENDING, "retrying"])
        assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.WITHDRAWN


def test_a_dead_letter_of_an_ended_subscription_is_neither_listed_nor_replayed(
    worker, loopback_allowed, receivers, cadre
):
    receiver = receivers(script=[400])
    wire("propaganda", receiver)
    propaganda = _system_client("propaganda")
    file_activity(cadre)
    assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).exists())
    assert len(propaganda.get("/api/v1/deliveries").json()["dead"]) == 1  # so this test can fail
    end_subscription(subscription=_propaganda_subscription(), reason="不再需要", by=None)
    status = propaganda.get("/api/v1/deliveries").json()
    assert status["dead"] == [] and status["endpoints"][0]["deliveries"]["dead"] == 0
    assert propaganda.post("/api/v1/deliveries/replay", {}, format="json").json() == {"replayed": 0}
    assert Delivery.objects.get(department__code="propaganda").status == DeliveryStatus.DEAD


def test_the_sql_rule_and_the_orm_rule_for_an_entitling_subscription_agree(demo):
    today = dt.date(2026, 11, 29)
    department = Department.objects.get(code="civil")
    for status in SubscriptionStatus.values:
        for expires_on in (None, today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
            Subscription.objects.create(
                department=department,
                scope=department.jurisdiction,
                purpose="rule",
                starts_on=dt.date(2025, 1, 1),
                expires_on=expires_on,
                status=status,
            )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT sub.id FROM reporting_subscription sub WHERE {entitles_sql('sub', '%s')}", [today])
        by_sql = {row[0] for row in cursor.fetchall()}
    by_orm = set(Subscription.objects.entitling(today).values_list("pk", flat=True))
    assert by_sql == by_orm
    assert Subscription.objects.filter(pk__in=by_orm, purpose="rule").count() == 3  # active: open, today, tomorrow
