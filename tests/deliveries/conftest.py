"""Delivery tests run on the real stack: PostgreSQL, Redis, a Celery worker and HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker
from celery.fixups.django import DjangoWorkerFixup
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from rest_framework.test import APIClient

from core.celery import QUEUES
from core.celery import app as celery_app
from core.models import Department, Role, User
from core.tokens import issue_token
from reporting.delivery import webhooks
from reporting.models import AllowedNetwork, Endpoint, RelayPending, Sheet, Subscription
from reporting.services import deliveries
from reporting.services.relay import relay_versions
from reporting.services.submissions import add_record
from tests.receiver import Receiver
from tests.reporting.helpers import ACTIVITY as BASE_ACTIVITY
from tests.waiting import wait_for

ACTIVITY = {
    **BASE_ACTIVITY,
    "organiser": "村委会",
    "volunteers_involved": "12",
    "is_volunteer_service": "1",
}


@pytest.fixture
def demo(committed_demo):
    """The demo county, committed, so worker threads and processes see it; and a broker holding nothing an
    earlier test left: no task message and no "one task waits" flag (a flag whose message was purged or
    consumed by a worker since stopped would keep this test's filings from waking the relay for a minute)."""
    celery_app.control.purge()
    flags = deliveries._flags()
    for key in [*deliveries._WAITING_FLAGS.values(), *flags.scan_iter(deliveries.QUEUED_KEY.format("*"))]:
        flags.delete(key)


@pytest.fixture
def cadre(demo) -> User:
    return User.objects.select_related("unit__area").get(username="village")


def system_client(department_code: str) -> APIClient:
    """An API client signed in with a department system's token."""
    user, _ = User.objects.get_or_create(
        username=f"{department_code}-system",
        defaults={"role": Role.DEPARTMENT_SYSTEM, "department": Department.objects.get(code=department_code)},
    )
    _row, token = issue_token(user=user, name="system")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def propaganda_system(demo) -> APIClient:
    return system_client("propaganda")


@pytest.fixture
def worker(demo):
    """A real Celery worker consuming from the real Redis broker, in threads of this process, with Celery's
    Django fixup installed as the `celery worker` command installs it (start_worker alone does not). It takes
    every queue (relay, send, export, housekeeping): one worker runs whatever the tested path publishes."""
    opened: dict[int, BaseDatabaseWrapper] = {}

    def remember(**_kwargs) -> None:
        for wrapper in connections.all(initialized_only=True):
            opened[id(wrapper)] = wrapper

    fixup = DjangoWorkerFixup(celery_app).install()
    signals.task_postrun.connect(remember, weak=False)
    try:
        with start_worker(
            celery_app, pool="threads", concurrency=4, queues=QUEUES, perform_ping_check=False, shutdown_timeout=30
        ):
            yield
    finally:
        # the worker threads kept their connections (as a worker process does until it exits): close them, so
        # they neither pile up over the run nor keep the test database from being dropped. Closed, not
        # terminated on the server: behind PgBouncer a server connection is anyone's (tests/pooling.py)
        signals.task_postrun.disconnect(remember)
        for wrapper in opened.values():
            wrapper.inc_thread_sharing()  # the worker's thread is done with it
            wrapper.close()
        signals.task_prerun.disconnect(fixup.on_task_prerun)
        signals.task_postrun.disconnect(fixup.on_task_postrun)
        signals.worker_process_init.disconnect(fixup.on_worker_process_init)
        signals.beat_embedded_init.disconnect(fixup.close_database)


@pytest.fixture
def loopback_allowed(demo):
    AllowedNetwork.objects.get_or_create(cidr="127.0.0.0/8", defaults={"note": "test receivers"})


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(webhooks.new_secret(), **kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def wire(
    department_code: str, receiver: Receiver | None = None, *, url: str | None = None, secret: str | None = None
) -> Endpoint:
    """Give a department a webhook endpoint and send all its subscriptions there."""
    department = Department.objects.get(code=department_code)
    endpoint = Endpoint.objects.create(
        department=department,
        name=f"{department_code} system",
        url=url or receiver.url,
        secret=secret or receiver.secret,
    )
    Subscription.objects.filter(department=department).update(endpoint=endpoint)
    return endpoint


def file_activity(cadre: User, *, relay: bool = True, **changes) -> object:
    """File a cultural-activity record (committed); with `relay`, wait until the relay has made its deliveries."""
    version = add_record(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw={**ACTIVITY, **changes},
        not_applicable={},
        by=cadre,
    )
    if relay:
        relayed()
    return version


def relayed() -> None:
    """Wait until the relay has made the deliveries of every filing so far. It runs here too, as in a worker (a
    worker's relay may hold some versions: they are done when their markers are gone)."""
    assert wait_for(lambda: relay_versions() >= 0 and not RelayPending.objects.exists(), timeout=60)
