"""Audit events, submission versions and access records are append-only in PostgreSQL itself: every statement
that would change or delete one is refused, however it is sent (ORM update, plain SQL, TRUNCATE), also where
the application connects as a superuser. Only the schema owner's maintenance gets through, and only where
core/appendonly.py says."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from core.appendonly import maintenance
from core.audit import record
from core.models import AuditEvent
from reporting.models import AccessKind, AccessRecord, Sheet, SubmissionVersion, Subscription
from reporting.reads.accesslog import write_access_records
from tests.reporting.helpers import file_village_basics


def refused(sql: str, params: list | None = None) -> bool:
    """Run `sql` in a savepoint; True when PostgreSQL refused it as a change to an append-only table."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # the test's own inserts leave deferred foreign-key checks pending, which TRUNCATE will not run past
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(sql, params)
    except DatabaseError as error:
        assert "append-only" in str(error), error
        return True
    return False


@pytest.fixture
def version(village_cadre) -> SubmissionVersion:
    return file_village_basics(village_cadre)


def write_access_record(unit_id: int) -> AccessRecord:
    culture = Subscription.objects.get(department__code="culture")
    sheet = Sheet.objects.get(code="village_basics")
    write_access_records(
        [(unit_id, culture.department_id, culture.pk, None, sheet.pk, "2026Q3", ["library_books"])],
        AccessKind.QUERIED,
    )
    return AccessRecord.objects.filter(unit_id=unit_id).latest("id")


@pytest.fixture
def access_record(village_cadre) -> AccessRecord:
    return write_access_record(village_cadre.unit_id)


def test_it_refuses_every_change_to_a_version_also_in_maintenance(version):
    assert refused("UPDATE reporting_submissionversion SET values = '{}' WHERE id = %s", [version.pk])
    assert refused("UPDATE reporting_submissionversion SET reason = reason WHERE id = %s", [version.pk])
    assert refused("DELETE FROM reporting_submissionversion WHERE id = %s", [version.pk])
    assert refused("TRUNCATE reporting_submissionversion CASCADE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        SubmissionVersion.objects.filter(pk=version.pk).update(values={"households": "1"})
    with maintenance():  # no retention ever applies to versions
        assert refused("UPDATE reporting_submissionversion SET values = '{}' WHERE id = %s", [version.pk])
        assert refused("DELETE FROM reporting_submissionversion WHERE id = %s", [version.pk])
    assert SubmissionVersion.objects.get(pk=version.pk).values == version.values


def test_it_refuses_to_change_or_delete_an_access_record_outside_retention(access_record):
    assert refused("UPDATE reporting_accessrecord SET at = at - interval '1 year' WHERE id = %s", [access_record.pk])
    assert refused("DELETE FROM reporting_accessrecord WHERE id = %s", [access_record.pk])
    assert refused("TRUNCATE reporting_accessrecord")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessRecord.objects.filter(pk=access_record.pk).update(kind=AccessKind.PUSHED)
    with maintenance():
        assert refused("UPDATE reporting_accessrecord SET kind = 'pushed' WHERE id = %s", [access_record.pk])
    assert AccessRecord.objects.get(pk=access_record.pk).kind == AccessKind.QUERIED
    with maintenance():  # retention, run as the schema owner
        assert not refused("DELETE FROM reporting_accessrecord WHERE id = %s", [access_record.pk])
    assert not AccessRecord.objects.filter(pk=access_record.pk).exists()


def test_it_refuses_to_change_or_delete_an_audit_event_also_in_maintenance(village_cadre):
    event = record(action="test.done", target=village_cadre, actor=village_cadre)
    assert refused("UPDATE core_auditevent SET action = 'test.undone' WHERE id = %s", [event.pk])
    assert refused("UPDATE core_auditevent SET at = at + interval '1 day' WHERE id = %s", [event.pk])
    with maintenance():
        assert refused("DELETE FROM core_auditevent WHERE id = %s", [event.pk])
        assert refused("UPDATE core_auditevent SET detail = '{\"x\": 1}' WHERE id = %s", [event.pk])
    assert refused("TRUNCATE core_auditevent")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.done"


def test_the_only_change_to_an_event_is_sealing_it_once_and_nothing_else_with_it(village_cadre):
    event = record(action="test.done", target=village_cadre)
    # a seal smuggled in with another change, then a plain seal (allowed), then a second seal
    assert refused("UPDATE core_auditevent SET seq = -1, hash = 'h', action = 'x' WHERE id = %s", [event.pk])
    assert refused("UPDATE core_auditevent SET seq = -1 WHERE id = %s", [event.pk])  # a seal has both
    assert not refused("UPDATE core_auditevent SET seq = -1, hash = 'h' WHERE id = %s", [event.pk])
    assert refused("UPDATE core_auditevent SET seq = -2, hash = 'g' WHERE id = %s", [event.pk])
    assert refused("UPDATE core_auditevent SET seq = NULL, hash = NULL WHERE id = %s", [event.pk])


def test_an_insert_cannot_choose_its_place_in_the_chain_or_bring_a_seal(village_cadre):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditevent (at, action, target_type, target_id, detail, txid, seq, hash) "
            "VALUES (now(), 'forged', 'core.user', '1', '{}', 1, 1, 'h') RETURNING id, txid, seq, hash"
        )
        event_id, txid, seq, digest = cursor.fetchone()
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        assert (txid, seq, digest) == (cursor.fetchone()[0], None, None)
    assert AuditEvent.objects.get(pk=event_id).txid == txid


def test_a_role_that_does_not_own_the_tables_cannot_let_itself_through_with_the_maintenance_setting(
    access_record, version
):
    role = sql.Identifier(f"onetable_test_{uuid.uuid4().hex[:12]}")  # roles are the cluster's: a name of its own
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
        cursor.execute(sql.SQL("GRANT ALL ON reporting_accessrecord, reporting_submissionversion TO {}").format(role))
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(role))
    with maintenance():
        assert refused("DELETE FROM reporting_accessrecord WHERE id = %s", [access_record.pk])
        assert refused("TRUNCATE reporting_accessrecord")
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert AccessRecord.objects.filter(pk=access_record.pk).exists()


def test_maintenance_empties_the_tables_as_flush_does_and_ends_with_its_block(access_record, version):
    assert refused("TRUNCATE core_auditevent, reporting_accessrecord, reporting_submissionversion CASCADE")
    with maintenance():
        assert not refused("TRUNCATE core_auditevent, reporting_accessrecord, reporting_submissionversion CASCADE")
    assert not SubmissionVersion.objects.exists() and not AccessRecord.objects.exists()
    written = write_access_record(access_record.unit_id)  # the block is over: the guard is back
    assert refused("DELETE FROM reporting_accessrecord WHERE id = %s", [written.pk])
