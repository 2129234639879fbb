"""Workers on several hosts whose clocks disagree: three worker processes, their wall clocks skewed by ±30 s with
Debian's libfaketime (preloaded into each process; `tools.launcher.ensure_libfaketime` installs it), relay and
send many filings while one of them is killed mid-request. Coordination goes through PostgreSQL's clock only
(core/clock.py), so nothing is relayed twice, nothing is lost, and no endpoint has two senders at once.

libfaketime rather than time-machine: it skews the clock of the real `celery worker` command, every thread and
library in it (psycopg, Celery's timers, Python's `time` and `datetime`), with no code of OneTable's or the
test's inside the worker. Only the wall clock is skewed (`FAKETIME_DONT_FAKE_MONOTONIC`): that is what differs
between hosts; each process's monotonic clock counts its own durations, as on a real host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
from django.db.models import Count, F
from django.db.models.functions import Now

from core.models import User
from reporting.models import Delivery, DeliveryStatus, Endpoint, RelayPending
from tests.deliveries.conftest import file_activity, wire
from tests.deliveries.test_resilience import _sending, stack  # noqa: F401 (the fixture)
from tests.waiting import wait_for
from tools.launcher import FAKETIME_LIBRARY, INSTALL_FAKETIME

OFFSETS = ("+30s", "-30s", "+30s")  # the three workers' clocks: two a minute ahead of the third
FILINGS = 60


def _skewed(offset: str) -> dict[str, str]:
    assert FAKETIME_LIBRARY.exists(), f"libfaketime is missing: run `{INSTALL_FAKETIME}` (python3 dev.py test does)"
    return {"LD_PRELOAD": str(FAKETIME_LIBRARY), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def _clock_ahead(env: dict[str, str]) -> float:
    """How far ahead of this process's clock a process started with `env` reads the time, in seconds."""
    probe = "import time; print(time.time())"
    before = time.time()
    theirs = float(subprocess.check_output([sys.executable, "-c", probe], env=env, text=True))
    return theirs - before


def _done() -> bool:
    return not RelayPending.objects.exists() and not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


def test_three_workers_with_skewed_clocks_relay_each_filing_once_and_lose_no_delivery_even_when_one_is_killed(
    stack,  # noqa: F811 (the fixture)
    loopback_allowed,
    receivers,
):
    cadre = User.objects.select_related("unit__area").get(username="village")
    propaganda, culture = receivers(delay=0.2), receivers(delay=0.2)  # a batch is on the wire long enough to kill
    wire("propaganda", propaganda)
    wire("culture", culture)
    # every filing committed and waiting for the relay, which the skewed workers will run side by side
    versions = [file_activity(cadre, relay=False, activity_title=f"夜校第{i}期") for i in range(FILINGS)]
    for offset in set(OFFSETS):  # the skew is real: each worker's clock is 30 s off
        assert abs(_clock_ahead(_skewed(offset)) - int(offset[:-1])) < 5

    processes = stack(ONETABLE_RELAY_BATCH="5", ONETABLE_DELIVERY_BATCH="5", ONETABLE_DELIVERY_LEASE_SECONDS="5")
    processes.beat()
    workers = [processes.worker(**_skewed(offset)) for offset in OFFSETS]
    ports = [int(r.url.split(":")[2].split("/")[0]) for r in (propaganda, culture)]

    def a_sender() -> bool:
        return any(_sending(w, port) for w in workers for port in ports)

    assert wait_for(a_sender, timeout=60)
    killed = next(w for w in workers if any(_sending(w, port) for port in ports) or w is workers[-1])
    # frozen first, so it opens no connection and sends nothing more, while its connections are noted: a request it
    # wrote whole just before it died is read by the receiver after the kill, and counts as sent before it
    os.killpg(killed.pid, signal.SIGSTOP)
    its_ports = {
        c.laddr.port for c in psutil.Process(killed.pid).net_connections("tcp") if c.raddr and c.raddr.port in ports
    }
    processes.kill(killed)  # SIGKILL, most likely mid-request: its endpoint's lease runs out on the database's clock
    arrived_before_kill = set(propaganda.arrived) | set(culture.arrived)
    assert wait_for(_done, timeout=180), Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).count()

    # the relay: each version made its two deliveries exactly once, and each feed is numbered 1…n without a gap
    made = Delivery.objects.values("version_id").annotate(n=Count("id"))
    assert sorted((m["version_id"], m["n"]) for m in made) == [(v.pk, 2) for v in versions]
    for department in ("propaganda", "culture"):
        positions = sorted(Delivery.objects.filter(department__code=department).values_list("position", flat=True))
        assert positions == list(range(1, FILINGS + 1))

    for receiver, department in ((propaganda, "propaganda"), (culture, "culture")):
        expected = {d.public_id for d in Delivery.objects.filter(department__code=department)}
        assert set(receiver.applied()) == expected  # none lost
        assert set(receiver.seen) == expected  # a repeat carried the same id
        # one sender per endpoint at a time: no batch was sent while another worker held the endpoint's lease
        assert receiver.most_in_flight == 1
        # and an id came twice only if the killed sender had sent it (it reached the receiver before the kill, or
        # was on the killed worker's connection): its batch, sent again once its lease ran out
        sent_by_the_killed = {i for port in its_ports for i in receiver.arrived_on.get(port, [])}
        assert {i for i, n in receiver.seen.items() if n > 1} <= arrived_before_kill | sent_by_the_killed

    # every stamp the workers left is on the one clock: none in the database's future, none delivered before made
    assert not Delivery.objects.filter(delivered_at__gt=Now()).exists()
    assert not Delivery.objects.filter(delivered_at__lt=F("created_at")).exists()
    assert not Endpoint.objects.filter(last_delivered_at__gt=Now()).exists()
