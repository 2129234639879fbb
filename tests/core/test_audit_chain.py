"""The audit trail is tamper-evident: events are sealed after commit into a hash chain, in the order their
transactions settled, and `manage.py verify_audit` names the first event that a database superuser changed,
removed or slipped in (triggers disabled), and events left unsealed for more than a minute."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from core.appendonly import maintenance
from core.audit import CHAINED, SEAL_LOCK, chain_hash, read_seal_log, record, seal_events
from core.models import AuditEvent, User
from core.tasks import seal_audit_task
from reporting.services.submissions import correct_submission
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics


@pytest.fixture
def seal_file(transactional_db, settings, tmp_path):
    """An empty audit trail (committed: the sealer only takes settled transactions) and a seal file of its own."""
    with maintenance(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_auditevent")
    settings.ONETABLE_AUDIT_SEAL_LOG = str(tmp_path / "audit" / "seals.jsonl")
    return tmp_path / "audit" / "seals.jsonl"


@pytest.fixture
def someone(seal_file) -> User:
    return User.objects.create(username="auditor-target")


def events(someone: User, count: int) -> list[AuditEvent]:
    """`count` events, each committed in its own transaction."""
    return [record(action="test.done", target=someone, n=n) for n in range(count)]


def seal_all() -> None:
    """Seal until no event is left unsealed. The sealer only takes transactions older than every one of this
    database still running, and other test runs' sessions share this database server."""
    deadline = time.monotonic() + 60
    while AuditEvent.objects.filter(seq__isnull=True).exists():
        assert time.monotonic() < deadline, "events still unsealed after a minute"
        seal_events()
        time.sleep(0.02)


def verify(*args: str) -> str:
    """What `manage.py verify_audit` says of a chain it finds intact; fails the test otherwise."""
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    assert "audit chain intact" in out.getvalue()
    return out.getvalue()


def problems(*args: str) -> list[str]:
    """The problems `manage.py verify_audit` reports (it must exit with an error)."""
    out = io.StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("verify_audit", *args, stdout=out)
    kinds = ("changed:", "removed:", "out_of_order:", "unsealed:")
    return [line for line in out.getvalue().splitlines() if line.startswith(kinds)]


@contextmanager
def triggers_disabled() -> Iterator[None]:
    """What a database superuser can do: switch every trigger off for the session."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET session_replication_role")


def tamper(sql: str, params: list | None = None) -> None:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_filing_and_its_correction_are_sealed_by_the_housekeeping_task_and_verify(
    committed_demo, seal_file, caplog, village_cadre
):
    version = file_village_basics(village_cadre)
    correct_submission(
        submission=version.submission,
        raw={**VILLAGE_BASICS_Q4, "households": "611"},
        not_applicable={},
        reason="数错了",
        by=village_cadre,
        expected_version=1,
    )
    with caplog.at_level("INFO", logger="onetable.audit"):
        seal_audit_task()
        seal_all()

    chain = list(AuditEvent.objects.order_by("seq").values_list("seq", "action", "hash"))
    assert [(seq, action) for seq, action, _ in chain] == [(1, "submission.submitted"), (2, "submission.corrected")]
    written = json.loads(seal_file.read_text().splitlines()[-1])
    assert (written["seq"], written["hash"]) == (2, chain[-1][2])
    assert f"sealed through position 2: {chain[-1][2]}" in caplog.text  # the log holds it too
    assert "checked against" in verify()


def test_seals_continue_the_chain_across_runs_and_a_second_sealer_never_waits(someone, seal_file):
    events(someone, 3)
    seal_all()
    events(someone, 2)
    with another_sealer_at_work():
        assert seal_events() == 0  # it skips at once; the sealer at work takes these rows too
    seal_all()
    chain = dict(AuditEvent.objects.values_list("seq", "hash"))
    assert sorted(chain) == [1, 2, 3, 4, 5]
    written = [json.loads(line) for line in seal_file.read_text().splitlines()]
    assert written[-1]["seq"] == 5 and all(chain[seal["seq"]] == seal["hash"] for seal in written)
    verify()


@contextmanager
def another_sealer_at_work() -> Iterator[None]:
    """Another connection holds the sealer's lock for the duration of the block."""
    holding, release = threading.Event(), threading.Event()

    def sealer() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=sealer)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


def test_an_event_of_a_transaction_still_running_holds_back_later_ones_and_is_chained_first(someone, seal_file):
    # given a filing transaction that took its id first and is still running
    began, recorded, finish = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_filing() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_current_xact_id()")
                began.set()
                recorded.wait(10)
                record(action="test.slow", target=someone)
                finish.wait(10)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_filing)
    thread.start()
    assert began.wait(10)
    # when a later transaction records an event (a smaller id) and commits, the sealer seals nothing yet
    quick = record(action="test.quick", target=someone)
    recorded.set()
    assert seal_events() == 0
    assert not AuditEvent.objects.filter(pk=quick.pk, seq__isnull=False).exists()
    # then, once the slow one commits, both are sealed: the slow transaction's event first
    finish.set()
    thread.join(10)
    assert errors == []
    seal_all()
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == ["test.slow", "test.quick"]
    assert AuditEvent.objects.get(action="test.slow").pk > quick.pk
    verify()


def test_a_long_write_transaction_in_another_database_does_not_hold_the_seal_back(someone, seal_file):
    name = f"ot_scratch_audit_{connection.settings_dict['NAME']}".replace("-", "_")[:60]
    db = connection.settings_dict
    server = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']}"
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"{server} dbname={name}") as other:
            other.execute("CREATE TABLE chart_access (n int)")  # a write transaction, left open
            (held,) = other.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            events(someone, 3)  # each committed after `other` began: the old rule held them back
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint <= %s", [held])
                assert cursor.fetchone()[0]
            seal_all()
            assert other.execute("SELECT count(*) FROM chart_access").fetchone()[0] == 0  # still open
            other.rollback()
        verify()
    finally:
        with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_names_the_event_a_superuser_changed(someone, seal_file):
    trail = events(someone, 5)
    seal_all()
    tamper("UPDATE core_auditevent SET detail = '{\"n\": 99}' WHERE id = %s", [trail[2].pk])
    assert problems() == [
        f"changed: event {trail[2].pk} at position 3 was changed (or the hash of the event before it was)"
    ]


def test_it_names_where_a_superuser_removed_events_in_the_middle(someone, seal_file):
    trail = events(someone, 5)
    seal_all()
    tamper("DELETE FROM core_auditevent WHERE id IN (%s, %s)", [trail[1].pk, trail[2].pk])
    assert problems() == [
        f"removed: position 2 is missing: 2 sealed event(s) removed before event {trail[3].pk} (position 4)"
    ]


def test_it_finds_the_newest_events_removed_from_the_seal_written_out(someone, seal_file):
    trail = events(someone, 5)
    seal_all()
    latest = json.loads(seal_file.read_text().splitlines()[-1])
    tamper("DELETE FROM core_auditevent WHERE id IN (%s, %s)", [trail[3].pk, trail[4].pk])
    expected = "removed: the newest sealed events were removed: the chain ends at position 3, but position 5 was sealed"
    assert problems()[0].startswith(expected)
    # with no seal file, the seal taken from the log finds it too
    seal_file.unlink()
    assert problems("--latest", f"5:{latest['hash']}")[-1].startswith(expected)


def test_it_finds_a_chain_rewritten_with_recomputed_hashes(someone, seal_file):
    trail = events(someone, 4)
    seal_all()
    tamper("UPDATE core_auditevent SET action = 'test.undone' WHERE id = %s", [trail[1].pk])
    previous = AuditEvent.objects.get(seq=1).hash
    for seq, *row in AuditEvent.objects.filter(seq__gte=2).order_by("seq").values_list("seq", *CHAINED):
        previous = chain_hash(previous, seq, tuple(row))
        tamper("UPDATE core_auditevent SET hash = %s WHERE seq = %s", [previous, seq])
    # the first seal written out after the change no longer matches (sealing may have taken several runs)
    position = min(seal for seal in read_seal_log(seal_file) if seal >= 2)
    assert problems() == [
        f"changed: the chain at position {position} differs from the seal written out when it was sealed: events "
        f"up to event {trail[position - 1].pk} were changed and the chain rewritten"
    ]


def test_it_finds_an_event_slipped_in_behind_the_sealed_chain_before_and_after_it_is_sealed(someone, seal_file):
    events(someone, 3)
    seal_all()
    # a superuser inserts an event claiming an old transaction (the database's stamp is switched off)
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditevent (at, action, target_type, target_id, detail, txid) "
            "VALUES (now(), 'test.backdated', 'core.user', '1', '{}', 1) RETURNING id"
        )
        (slipped,) = cursor.fetchone()
    assert problems() == [
        f"out_of_order: event {slipped} was inserted out of order: it is unsealed but belongs before the sealed "
        "chain (transaction 1)"
    ]
    seal_all()  # an old transaction is settled: the sealer takes it, at the chain's end
    assert problems()[0].startswith(f"out_of_order: event {slipped} at position 4 was inserted out of order")


def test_it_reports_events_left_unsealed_for_more_than_a_minute(someone, seal_file):
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC), tick=False) as traveller:
        event = record(action="test.done", target=someone)
        traveller.shift(dt.timedelta(seconds=60))
        verify()  # a minute is allowed
        traveller.shift(dt.timedelta(seconds=1))
        assert problems() == [
            f"unsealed: 1 event(s) unsealed for more than a minute, the oldest event {event.pk} since "
            "2026-11-20T10:00:00+00:00"
        ]
        seal_all()
        verify()


def test_the_beat_schedule_runs_the_sealer(settings):
    from core.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["seal-audit"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks and entry["schedule"] <= 10
