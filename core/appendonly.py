"""Append-only tables: PostgreSQL itself refuses to change or delete audit events, submission versions and
access records (triggers from migrations core.0003_audit_chain and reporting.0017_append_only).

A Python `save()` override is bypassed by `QuerySet.update()` or plain SQL, and privileges prove nothing
where the application connects as a superuser (CI, the embedded server): so the rule lives in triggers,
row-level for UPDATE and DELETE and statement-level for TRUNCATE.

Rows leave only through the schema owner's maintenance: a transaction that sets `onetable.maintenance = on`
*and* whose role owns the table (a superuser counts). What maintenance may do, per table:

    core_auditevent               TRUNCATE (emptying a whole database: `manage.py flush`, test runs)
    reporting_submissionversion   TRUNCATE (the same; no retention ever applies to versions)
    reporting_accessrecord        DELETE and TRUNCATE (retention of old access records)

No UPDATE is ever let through, except the audit sealer's one-time setting of an event's `seq` and `hash`
from empty. Production never sets the setting outside these paths; a migration that must rewrite such rows
drops the trigger in plain sight, and the audit chain (`manage.py verify_audit`) still shows what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

SETTING = "onetable.maintenance"
TABLES = ("core_auditevent", "reporting_submissionversion", "reporting_accessrecord")


@contextmanager
def maintenance(using: str = "default") -> Iterator[None]:
    """Let the schema owner's maintenance through the append-only guards for the duration of the block, which is
    one transaction (a savepoint in the caller's)."""
    connection = connections[using]
    # The setting is always the transaction's (a rollback takes it away), never the session's: behind PgBouncer in
    # transaction mode a session's setting stays on whichever server connection ran it, open to the next client's
    # transactions there, while this block's own statements may run on another.
    with transaction.atomic(using=using):
        _set(connection, "on")
        try:
            yield
        finally:
            # An aborted transaction or a lost connection takes the setting with it: nothing left to reset then.
            with suppress(DatabaseError):
                _set(connection, "")


def _set(connection: BaseDatabaseWrapper, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, value])
