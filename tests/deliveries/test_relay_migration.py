"""Migration 0033 (the relay), from the state before it with rows written as the old code wrote them: every
delivery keeps its row and gets the position it had in the old feed order, cursors departments hold (txid-id)
keep reading on without a miss or a repeat, and new deliveries follow the old ones."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.models import Department, User
from reporting.delivery.feed import read_feed
from reporting.models import Delivery, FeedCounter, Subscription
from reporting.services import relay
from tests.deliveries.conftest import file_activity

BEFORE = [("reporting", "0032_unlock_withdrawn")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _old_deliveries(cadre: User) -> dict[str, list[tuple[int, int]]]:
    """Deliveries written as the old code wrote them (in the filing's transaction, stamped with its txid): txids
    out of id order, as transactions that commit out of order leave them. Returns per department (txid, id)."""
    departments = {code: Department.objects.get(code=code).pk for code in ("propaganda", "culture")}
    subscriptions = {
        code: Subscription.objects.filter(department_id=pk, level__isnull=True).values_list("pk", flat=True).first()
        for code, pk in departments.items()
    }
    txids = [907, 903, 905, 903, 911, 901]  # the i-th filing's transaction
    written: dict[str, list[tuple[int, int]]] = {code: [] for code in departments}
    with connection.cursor() as cursor:
        for i, txid in enumerate(txids):
            cursor.execute(
                "INSERT INTO reporting_submission (unit_id, sheet_id, period, record_key, record_date, period_start,"
                " current_version, created_at, updated_at) SELECT %s, id, '202611', %s, '2026-11-10', '2026-11-10',"
                " 1, now(), now() FROM reporting_sheet WHERE code = 'cultural_activity' RETURNING id",
                [cadre.unit_id, uuid.uuid4()],
            )
            (submission,) = cursor.fetchone()
            cursor.execute(
                'INSERT INTO reporting_submissionversion (submission_id, number, "values", not_applicable, carried,'
                " confirmed, disputed, gaps, reason, by_id, at, asked_count, typed_count, carried_count, na_count,"
                " confirmed_count, disputed_count, department_count, refills_spared)"
                " VALUES (%s, 1, %s, '{}', '{}', '{}', '{}', '{}', '', %s, now(), 1, 1, 0, 0, 0, 0, 2, 0) RETURNING id",
                [submission, f'{{"activity_title": "旧{i}"}}', cadre.pk],
            )
            (version,) = cursor.fetchone()
            for code, department in departments.items():
                cursor.execute(
                    "INSERT INTO reporting_delivery (department_id, subscription_id, submission_id, version_id, fields,"
                    " txid, status, attempts, next_attempt_at, last_error, created_at)"
                    " VALUES (%s, %s, %s, %s, '{activity_title}', %s, 'feed', 0, now(), '', now()) RETURNING id",
                    [department, subscriptions[code], submission, version, txid],
                )
                written[code].append((txid, cursor.fetchone()[0]))
    return written


def test_the_relay_migration_keeps_each_delivery_in_its_old_feed_order_and_old_cursors_read_on(cadre):
    _migrate(BEFORE)
    try:
        written = _old_deliveries(cadre)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    propaganda = Department.objects.get(code="propaganda")
    for code, rows in written.items():
        in_old_order = [pk for _, pk in sorted(rows)]
        by_position = list(
            Delivery.objects.filter(department__code=code).order_by("position").values_list("id", "position")
        )
        assert [pk for pk, _ in by_position] == in_old_order  # no delivery lost or repeated, the old order kept
        assert [p for _, p in by_position] == list(range(1, len(rows) + 1))
        assert FeedCounter.objects.get(department__code=code).last == len(rows)
    assert not Subscription.objects.filter(active_from_xid__isnull=True).exists()

    # a department that had read up to the third row in the old order reads on from the fourth, nothing else
    old_order = [pk for _, pk in sorted(written["propaganda"])]
    txid, pk = sorted(written["propaganda"])[2]
    page = read_feed(department=propaganda, after=f"{txid}-{pk}", limit=100)
    assert [item["id"] for item in page.items] == [f"dlv_{p}" for p in old_order[3:]]
    assert page.next_cursor == "6"

    # a filing made now comes after them, and the new cursor reads exactly it
    version = file_activity(cadre, activity_title="迁移之后")
    relay.relay_versions()
    newer = read_feed(department=propaganda, after=page.next_cursor, limit=100)
    assert [item["id"] for item in newer.items] == [
        d.public_id for d in Delivery.objects.filter(version=version, department=propaganda).order_by("position")
    ]
    assert read_feed(department=propaganda, after="0-0", limit=100).items[0]["id"] == f"dlv_{old_order[0]}"
