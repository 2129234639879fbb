"""The clock that coordinates hosts: the database's.

Workers and web processes run on several hosts whose clocks drift apart (tens of seconds is ordinary on an
intranet without a reliable NTP server). Whatever one process writes for another to compare against (a lease,
a row's next attempt, a circuit's reopening, when a job counts as lost) is written and compared on PostgreSQL's
clock, the one clock all of them share. In SQL that is `now()` (the transaction's start; Django's `Now()`);
where Python needs the value, `database_now()` reads it. A process's own clock remains for what concerns it
alone: its monotonic clock for its own deadlines, and timestamps nobody compares across hosts.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone


def database_now() -> dt.datetime:
    """The database's `now()`: inside a transaction, the moment it began, as every `now()` in it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def database_today() -> dt.date:
    """The platform's local date on the database's clock."""
    return timezone.localdate(database_now())
