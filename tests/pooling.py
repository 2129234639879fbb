"""Tests through PgBouncer in transaction mode: the run `python3 dev.py test` makes with DATABASE_POOLER=pgbouncer
and ONETABLE_TEST_PGBOUNCER=host:port (tools/launcher.py), and the tests of tests/core/test_pooler.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, connections

from tools.pgbouncer import PgBouncer


def the_runs_pgbouncer() -> tuple[str, int] | None:
    """Where this run's PgBouncer listens, if this run goes through one."""
    address = os.environ.get("ONETABLE_TEST_PGBOUNCER")
    if not address:
        return None
    host, _, port = address.rpartition(":")
    return host, int(port)


@contextmanager
def routed(host: str, port: int) -> Iterator[None]:
    """Django's connections (this thread's now, every thread's new ones) reach the database through host:port for
    the block, without prepared statements (as DATABASE_POOLER=pgbouncer configures them); pytest-django created
    the test database directly and drops it directly after."""
    db = settings.DATABASES["default"]  # the dict the connections read (connection.settings_dict)
    assert connection.settings_dict is db
    saved = db["HOST"], db["PORT"], db.get("OPTIONS", {})
    connections.close_all()
    db["HOST"], db["PORT"] = host, port
    db["OPTIONS"] = {k: v for k, v in saved[2].items() if k not in ("prepare_threshold", "server_side_binding")}
    try:
        yield
    finally:
        connections.close_all()
        db["HOST"], db["PORT"], db["OPTIONS"] = saved


def transactions_through(bouncer: PgBouncer | tuple[str, int], database: str) -> int:
    """How many transactions PgBouncer has run on `database` (its admin console's SHOW STATS)."""
    if isinstance(bouncer, PgBouncer):
        args = bouncer.connect_args("pgbouncer")
    else:
        args = {"host": bouncer[0], "port": bouncer[1], "user": settings.DATABASES["default"]["USER"]}
        args["dbname"] = "pgbouncer"
    # the admin console knows no prepared statements and no server-side binding
    with psycopg.connect(**args, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor) as c:
        rows = c.execute("SHOW STATS").fetchall()
    return next((int(row[1]) for row in rows if row[0] == database), 0)


def end_server_sessions() -> None:
    """End the test database's other sessions (PgBouncer's server connections), so that it can be dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
