"""An advisory lock held across many transactions, safe behind a pooler in transaction mode (PgBouncer).

A session-level `pg_advisory_lock` belongs to the server connection that took it. Behind PgBouncer in
transaction mode each transaction may run on another server connection: the unlock then goes to one that
holds nothing, and the lock stays with whichever client's transactions that connection serves next, until
PgBouncer closes it (an hour later by default). So the lock is taken in a transaction, with
`pg_try_advisory_xact_lock`, on a connection of its own that stays in that transaction for the block (PgBouncer
keeps a transaction on one server connection), and ends it when the block ends. The work inside runs on the
caller's connection in as many short transactions as it likes.

The lock's transaction only takes the lock: it never gets a transaction id and, in READ COMMITTED, holds no
snapshot between statements, so it holds back neither the feed (which waits for older transaction ids) nor
VACUUM. A worker that dies loses its connection, and PostgreSQL (or PgBouncer, closing the server connection of
a client gone mid-transaction) releases the lock, as it did with the session lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connections


@contextmanager
def exclusive(space: int, key: int, *, using: str = "default") -> Iterator[bool]:
    """Yield whether this block alone holds the advisory lock (space, key); it is released when the block ends.

    A block that got False must not do the work: another process holds the lock and does it."""
    wrapper = connections[using]
    with wrapper.wrap_database_errors:
        # Django's connection parameters (host, port, application name, prepared statements as configured);
        # a new psycopg connection is not in autocommit: its first statement opens the lock's transaction.
        holder = psycopg.connect(**wrapper.get_connection_params())
    try:
        with wrapper.wrap_database_errors, holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [space, key])
            row = cursor.fetchone()
            got = bool(row and row[0])
        yield got
    finally:
        holder.close()  # ends the transaction, and with it the lock
