"""Queues by kind: an export finishes while a deadline burst of sends holds every sending thread.

One worker process per queue, as docker-compose.yml runs them; the sending worker has one thread, and the
departments' systems answer one byte a second and never finish, so every send task waits there (for the webhook
deadline, set far beyond the test) and the rest of the burst waits in the send queue.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest
import redis
from django.conf import settings

from core.celery import QUEUES, SEND
from core.celery import app as celery_app
from core.models import User
from reporting.delivery import webhooks
from reporting.models import Delivery, ExportJob, ExportStatus
from tests.deliveries.conftest import file_activity, wire
from tests.deliveries.test_resilience import Stack
from tests.waiting import wait_for

BIN = Path(sys.executable).parent


class TricklingSystem:
    """A department's system that reads a request and then answers one byte a second, never finishing: it
    holds the sending thread until the webhook deadline (silence alone would end the request sooner)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"

    def _accept(self) -> None:
        while True:
            try:
                connection = self.server.accept()[0]
            except OSError:  # closed
                return
            self.held.append(connection)
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Waiting: ")
            while not self.closed.wait(1):
                connection.sendall(b".")
        except OSError:  # the sender gave up, or the test ended
            return

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def trickling_system():
    system = TricklingSystem()
    yield system
    system.close()


@pytest.fixture
def workers(tmp_path, demo):
    """A worker process per queue; the sending one with a single thread."""
    stack = Stack(tmp_path, settings.CELERY_BROKER_URL, ONETABLE_WEBHOOK_DEADLINE_SECONDS="600")
    for queue in QUEUES:
        threads = "1" if queue == SEND else "2"
        argv = [str(BIN / "celery"), "-A", "core", "worker", "-Q", queue, "-n", f"{queue}@%h", "-P", "threads"]
        stack.start(f"{queue}-worker", [*argv, "-c", threads, "-l", "warning", "--without-gossip", "--without-mingle"])
    yield
    stack.stop_all()
    celery_app.control.purge()  # the burst's send tasks still queued: nobody is left to want them


def _queued(queue: str) -> int:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue)


def test_an_export_finishes_while_a_deadline_burst_of_sends_clogs_the_send_queue(
    workers, loopback_allowed, trickling_system, client
):
    cadre = User.objects.select_related("unit__area").get(username="village")
    endpoints = [
        wire(code, url=trickling_system.url, secret=webhooks.new_secret()) for code in ("propaganda", "culture")
    ]
    for i in range(20):  # the deadline burst: every filing owes both departments a delivery
        file_activity(cadre, activity_title=f"截止日前{i}")
    assert wait_for(lambda: Delivery.objects.filter(endpoint__in=endpoints).count() == 40)
    # the sending thread is stuck on one department's system; the other department's send task waits behind it
    assert wait_for(lambda: len(trickling_system.held) == 1 and _queued(SEND) >= 1, timeout=60)

    client.force_login(User.objects.get(username="culture"))
    client.post("/department/exports/?sheet=village_basics", {"format": "csv"})
    job = ExportJob.objects.get()
    assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == ExportStatus.DONE, timeout=60)
    # done while the burst still holds the sender and its queue: the export never stood in line behind it
    assert len(trickling_system.held) == 1 and _queued(SEND) >= 1
    assert not Delivery.objects.filter(endpoint__in=endpoints, delivered_at__isnull=False).exists()
