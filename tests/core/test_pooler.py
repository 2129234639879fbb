"""What OneTable keeps across transactions holds behind PgBouncer in transaction mode, where each transaction may
run on another server connection: a PgBouncer of this module's own (tools/pgbouncer.py) stands in front of the
test database, and hands each next transaction to another server connection when it can."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from core.appendonly import SETTING, maintenance
from core.locks import exclusive
from core.models import Department
from reporting.models import Sheet
from reporting.reads.data import Query, rows
from tests.pooling import routed, transactions_through
from tools.pgbouncer import PgBouncer

SPACE = 19_099  # an advisory lock namespace no code of OneTable uses


@pytest.fixture(scope="module")
def pooled(tmp_path_factory) -> Iterator[PgBouncer]:
    """Django's connections go through a PgBouncer of this module's own, which has three server connections idle
    (a lock holder's transaction keeps one) and hands them out in turn."""
    # in front of the server itself (DATABASE_URL), also in the run that goes through the launcher's PgBouncer
    with PgBouncer(os.environ["DATABASE_URL"], Path(tmp_path_factory.mktemp("pgbouncer"))) as bouncer:
        with routed("127.0.0.1", bouncer.port):
            database = connection.settings_dict["NAME"]
            clients = [psycopg.connect(**{**client_args(bouncer), "autocommit": False}) for _ in range(3)]
            for client in clients:  # transactions at once leave as many server connections in the pool
                client.execute("SELECT 1")
            for client in clients:
                client.commit()  # ended, not cut off: PgBouncer keeps the server connection
                client.close()
            yield bouncer
            assert transactions_through(bouncer, database) > 0


def client_args(bouncer: PgBouncer) -> dict:
    """Another client of the test database through `bouncer` (in autocommit: a transaction per statement)."""
    database = connection.settings_dict["NAME"]
    return {**bouncer.connect_args(database), "prepare_threshold": None, "autocommit": True}


def backends(bouncer: PgBouncer, transactions: int = 6) -> set[int]:
    """The server connections a client's consecutive transactions ran on."""
    with psycopg.connect(**client_args(bouncer)) as client:
        return {client.execute("SELECT pg_backend_pid()").fetchone()[0] for _ in range(transactions)}


def direct_holders(key: int) -> int:
    """How many sessions hold the advisory lock (SPACE, key), asked on a connection that bypasses PgBouncer."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as direct:
        return direct.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
            [SPACE, key],
        ).fetchone()[0]


def test_the_tests_pgbouncer_runs_a_clients_transactions_on_changing_server_connections(pooled, db):
    # otherwise the tests below could pass on one server connection, as they would without a pooler
    assert len(backends(pooled)) > 1


def test_a_lock_held_across_transactions_is_held_until_its_block_ends_and_then_by_nobody(pooled, db):
    with exclusive(SPACE, 1) as mine:
        assert mine
        servers = backends(pooled)  # the work: transactions on changing server connections
        with exclusive(SPACE, 1) as again:  # a second worker, from any server connection
            assert not again
        assert direct_holders(1) == 1
    assert len(servers) > 1
    assert direct_holders(1) == 0  # not left on any server connection for the next client there
    with exclusive(SPACE, 1) as next_worker:
        assert next_worker


def test_a_lock_of_a_dead_worker_is_free(pooled, db):
    taken = threading.Event()
    holder_died = threading.Event()

    def worker() -> None:
        try:
            with exclusive(SPACE, 2):
                taken.set()
                holder_died.wait(10)
                raise ConnectionError("the worker's task failed")  # the block ends by an error
        except ConnectionError:
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    assert taken.wait(10)
    with exclusive(SPACE, 2) as mine:
        assert not mine
    holder_died.set()
    thread.join()
    with exclusive(SPACE, 2) as mine:
        assert mine


def test_the_locks_transaction_holds_back_neither_the_feed_nor_vacuum(pooled, db):
    # the feed waits for transactions with an id; VACUUM for snapshots: the lock's transaction has neither
    with exclusive(SPACE, 3), psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as direct:
        xid, xmin, state = direct.execute(
            "SELECT a.backend_xid, a.backend_xmin, a.state FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = 3",
            [SPACE],
        ).fetchone()
    assert (xid, xmin, state) == (None, None, "idle in transaction")


def test_maintenance_lets_no_other_clients_transaction_through_during_or_after_its_block(pooled, transactional_db):
    # Django's connection in autocommit, as a management command's: the setting must still be the transaction's
    with psycopg.connect(**client_args(pooled)) as other:

        def others_see() -> set:
            return {other.execute("SELECT current_setting(%s, true)", [SETTING]).fetchone()[0] for _ in range(6)}

        with maintenance(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s, true)", [SETTING])
            assert cursor.fetchone()[0] == "on"
            during = others_see()
        after = others_see()
        with connection.cursor() as cursor:  # nor this client's next transactions, wherever they run
            after |= {cursor.execute("SELECT current_setting(%s, true)", [SETTING]) or cursor.fetchone()[0]}
    assert "on" not in during | after


def test_the_rows_of_a_read_stream_only_inside_a_transaction(pooled, transactional_db):
    # outside one Django would declare the server-side cursor WITH HOLD, which a pooler in transaction mode cannot
    # keep; a page's or an export's read opens one (reporting/reads/exports.py)
    query = Query(department=Department(code="civil"), sheet=Sheet(code="village_basics"))
    with pytest.raises(RuntimeError, match="needs a transaction"):
        list(rows(query))
