"""Waiting for the event that proves something, instead of sleeping a while and hoping it happened."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> bool:
    """Whether `condition` came true within `timeout` seconds (polled every `every`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def this_runs_sessions_sql(alias: str = "pg_stat_activity") -> str:
    """The SQL condition for this test run's own sessions: its database and its application name (set in
    tests/conftest.py), so that another database's or another process's sessions on the server never count."""
    return f"{alias}.datname = current_database() AND {alias}.application_name = current_setting('application_name')"


def someone_waits_for_my_lock() -> bool:
    """Whether another session of this run waits for a lock this thread's connection holds."""
    with connection.cursor() as cursor:
        # inside a transaction PostgreSQL shows the sessions as they were at its first look: look afresh
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE {this_runs_sessions_sql()} "
            "AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        )
        return cursor.fetchone()[0] > 0
