"""Rotating an endpoint's secret locks its row: two rotations at once both count, and each is audited."""

from __future__ import annotations

import threading

from django.db import connection, transaction

from core.models import AuditEvent, Department
from reporting.models import Endpoint
from reporting.services import deliveries
from tests.waiting import this_runs_sessions_sql, wait_for


def _someone_waits_on_a_lock() -> bool:
    # any session of this run, not the second thread's by its pid: behind PgBouncer its next transaction may
    # run on another server connection than the one it asked its pid on
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE {this_runs_sessions_sql()} AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_two_rotations_at_once_keep_both_new_secrets_signing(demo, propaganda_analyst):
    # given an endpoint both rotations start from (each caller holds the same, soon stale, row)
    endpoint = deliveries.create_endpoint(
        endpoint=Endpoint(department=Department.objects.get(code="propaganda"), name="sys", url="http://127.0.0.1:9/"),
        by=propaganda_analyst,
    )
    original = endpoint.secret
    first_rotated, second_started, release = threading.Event(), threading.Event(), threading.Event()
    handed_out: dict[str, str] = {}
    finished = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():  # the first rotation is not committed until the second has started
                handed_out["first"] = deliveries.rotate_secret(endpoint=endpoint, by=propaganda_analyst)
                first_rotated.set()
                release.wait(30)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_rotated.wait(30)
            second_started.set()
            handed_out["second"] = deliveries.rotate_secret(endpoint=endpoint, by=propaganda_analyst)
        finally:
            finished.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # when the second rotation runs while the first holds its transaction open
    assert second_started.wait(30)
    assert wait_for(lambda: finished.is_set() or _someone_waits_on_a_lock())
    release.set()
    for thread in threads:
        thread.join(30)

    # then the endpoint signs with the newest secret and the one the first rotation handed out: none is lost
    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert (stored.secret, stored.previous_secret) == (handed_out["second"], handed_out["first"])
    assert set(deliveries.signing_secrets(stored)) == {handed_out["first"], handed_out["second"]}
    assert original not in deliveries.signing_secrets(stored)
    rotations = AuditEvent.objects.filter(action="endpoint.secret_rotated", target_id=str(endpoint.pk))
    assert rotations.count() == 2 and all(e.actor_id == propaganda_analyst.pk for e in rotations)
    for event in rotations:
        assert not {original, *handed_out.values()} & set(map(str, event.detail.values()))
