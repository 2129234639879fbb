"""DATABASE_REPLICA_URL: data pages, exports, charts and the DHIS2 face read from a streaming replica, while the
access records those reads leave (and every other write) go to the primary. A private primary and replica
(tests/replication.py), OneTable run against them in processes of its own (tests/replica_driver.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.replication import PrivateReplication
from tools.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "onetable"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A Redis of its own: the tasks the filings and the export queue must not reach this run's workers."""
    redis = EmbeddedRedis(tmp_path_factory.mktemp("replica-broker"))
    try:
        yield redis.start()
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def replication():
    cluster = PrivateReplication(Path(tempfile.mkdtemp(prefix="onetable-replica-")))
    try:
        cluster.start()
        with cluster.primary.connect() as primary:
            primary.execute(f"CREATE DATABASE {DATABASE}")
        yield cluster
    finally:
        cluster.stop()


def _onetable(cluster: PrivateReplication, broker: str, tmp_path: Path, *args: str) -> str:
    assert cluster.primary is not None and cluster.replica is not None
    environment = {
        **os.environ,
        "DATABASE_URL": cluster.primary.url(DATABASE),
        "DATABASE_REPLICA_URL": cluster.replica.url(DATABASE),
        "REDIS_URL": broker,
        "DJANGO_SETTINGS_MODULE": "core.settings",
        "ALLOWED_HOSTS": "testserver",
        "ONETABLE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.replica_driver", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def _access_records(server) -> dict[str, int]:
    with server.connect(DATABASE) as conn:
        return dict(conn.execute("SELECT kind, count(*) FROM reporting_accessrecord GROUP BY kind").fetchall())


def test_it_reads_pages_exports_charts_and_dhis2_from_the_replica_and_records_access_on_the_primary(
    replication, broker, tmp_path
):
    # given OneTable migrated and the demo county filed on the primary, the village's library books at 611
    _onetable(replication, broker, tmp_path, "setup")
    _onetable(replication, broker, tmp_path, "file", "611")
    replication.wait_until_caught_up()
    before = json.loads(_onetable(replication, broker, tmp_path, "read"))
    assert before["statuses"] == [200] * 5
    assert before["page"] == before["csv"] == before["export"] == before["dhis2"]["library_books"] == "611"
    replication.wait_until_caught_up()
    records_before = _access_records(replication.replica)

    # when the replica stops replaying and the village corrects its library books to 733 on the primary
    replication.pause_replay()
    _onetable(replication, broker, tmp_path, "file", "733")
    seen = json.loads(_onetable(replication, broker, tmp_path, "read"))

    # then every read path still shows the replica's state: 611, the township's sums unchanged
    assert seen["statuses"] == [200] * 5  # no write reached the read-only replica (it would have refused it)
    assert seen["page"] == seen["csv"] == seen["export"] == seen["dhis2"]["library_books"] == "611"
    assert seen["chart"] == before["chart"] and seen["analytics"] == before["analytics"]
    # a read that must see its writes (a request that writes, an open transaction) read the primary
    assert str(seen["pinned"]) == "733" and seen["aliases"] == ["replica", "default"]
    # and the access records of those reads are on the primary, not (yet) on the paused replica
    written = _access_records(replication.primary)
    assert _access_records(replication.replica) == records_before
    assert written["queried"] > records_before["queried"]  # the page, the CSV, the export, the DHIS2 values
    assert written["charted"] > records_before["charted"]

    # when the replica replays again, the reads show the correction, summed into the township's figures
    replication.resume_replay()
    replication.wait_until_caught_up()
    after = json.loads(_onetable(replication, broker, tmp_path, "read"))
    assert after["page"] == after["csv"] == after["export"] == after["dhis2"]["library_books"] == "733"
    assert after["chart"] == before["chart"] + 733 - 611
    [[*_dims, total]] = after["analytics"]
    [[*_dims, old_total]] = before["analytics"]
    assert float(total) == float(old_total) + 733 - 611
