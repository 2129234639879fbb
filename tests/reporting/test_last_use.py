"""A subscription's last use, read from the access log one probe per subscription and kind: the office's
catalogue ("last delivered / read" per field) and the zombie check (idle subscriptions) both rest on it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from reporting.models import AccessKind, Sheet, Subscription, SubscriptionStatus, ZombieFlag
from reporting.reads.accesslog import last_uses, write_access_records
from reporting.services.catalogue import zombie_check

TODAY = dt.date(2026, 11, 22)


def _record(subscription: Subscription, kind: str, at: dt.datetime, unit_id: int) -> None:
    with time_machine.travel(at, tick=False):  # access records are never changed afterwards: written then
        _write(subscription, kind, unit_id)


def _write(subscription: Subscription, kind: str, unit_id: int) -> None:
    write_access_records(
        [
            (
                unit_id,
                subscription.department_id,
                subscription.pk,
                None,
                Sheet.objects.get(code="village_basics").pk,
                "2026Q3",
                ["library_books"],
            )
        ],
        kind,
    )


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10)))


@pytest.fixture
def culture(demo) -> Subscription:
    return Subscription.objects.get(department__code="culture")


def test_last_delivered_is_the_last_push_and_last_read_any_kind_ended_subscriptions_too(culture, village_cadre):
    stats = Subscription.objects.get(department__code="stats")
    Subscription.objects.filter(pk=stats.pk).update(status=SubscriptionStatus.ENDED)
    _record(culture, AccessKind.PUSHED, _at(dt.date(2026, 9, 1)), village_cadre.unit_id)
    _record(culture, AccessKind.QUERIED, _at(dt.date(2026, 10, 1)), village_cadre.unit_id)
    _record(stats, AccessKind.PULLED, _at(dt.date(2026, 8, 1)), village_cadre.unit_id)
    _record(stats, AccessKind.CHARTED, _at(dt.date(2026, 8, 2)), village_cadre.unit_id)  # a chart read it last

    uses = last_uses()

    assert uses[culture.pk] == (_at(dt.date(2026, 9, 1)), _at(dt.date(2026, 10, 1)))
    assert uses[stats.pk] == (None, _at(dt.date(2026, 8, 2)))
    assert uses[Subscription.objects.get(department__code="civil").pk] == (None, None)


def test_the_catalogue_shows_each_fields_last_delivery_and_read(client, office_admin, culture, village_cadre):
    _record(culture, AccessKind.PUSHED, _at(dt.date(2026, 9, 1)), village_cadre.unit_id)
    _record(culture, AccessKind.PULLED, _at(dt.date(2026, 10, 2)), village_cadre.unit_id)
    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    books = re.search(r"library_books.*?</tr>", html, re.S).group(0)  # a culture field
    assert "2026-09-01 / 2026-10-02" in books
    households = re.search(r">households[ <].*?</tr>", html, re.S).group(0)  # civil and stats only: never used
    assert "— / —" in households


@pytest.mark.parametrize(
    ("kind", "day", "flagged"),
    [
        (AccessKind.PUSHED, dt.date(2026, 10, 1), False),  # a delivery reached its system within the window
        (AccessKind.QUERIED, dt.date(2026, 8, 24), False),  # the window's first day counts
        (AccessKind.PULLED, dt.date(2026, 8, 23), True),  # the day before the window does not
        (AccessKind.CHARTED, dt.date(2026, 11, 1), False),  # summed in a chart within the window
        (AccessKind.CHARTED, dt.date(2026, 8, 1), True),
    ],
)
def test_a_subscription_is_idle_when_nothing_was_delivered_pulled_queried_or_charted_in_the_window(
    settings, culture, village_cadre, kind, day, flagged
):
    settings.ONETABLE_ZOMBIE_MONTHS = 3  # the window: the 90 days from 2026-08-24
    _record(culture, kind, _at(day), village_cadre.unit_id)
    zombie_check(today=TODAY)
    assert ZombieFlag.objects.filter(subscription=culture).exists() is flagged
