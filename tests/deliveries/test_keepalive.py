"""Connections kept open to receivers: reused only to the same checked address and after a complete answer,
dropped after any error, and never a way around the deadline or the allowed networks."""

from __future__ import annotations

import pytest

from reporting.delivery import webhooks
from reporting.models import AllowedNetwork, Delivery, DeliveryStatus
from reporting.services import deliveries
from tests.deliveries.conftest import file_activity, wire
from tests.receiver import KeepAliveReceiver

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def keep_alive_receivers():
    made: list[KeepAliveReceiver] = []

    def make(script: list[str] | None = None) -> KeepAliveReceiver:
        made.append(KeepAliveReceiver(script))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _post(target: webhooks.Target, connections: webhooks.Connections, deadline: float = 10.0) -> webhooks.Outcome:
    return webhooks.post(target, b'{"deliveries": []}', {}, deadline=deadline, connections=connections)


def test_a_connection_is_reused_for_the_same_checked_address_and_host_only(keep_alive_receivers):
    receiver, connections = keep_alive_receivers(), webhooks.Connections()
    target = webhooks.resolve_allowed(receiver.url, LOOPBACK)
    assert _post(target, connections).ok and _post(target, connections).ok
    assert receiver.connections == 1 and receiver.requests == 2
    # the same receiver under another host name (TLS would check that name): a connection of its own
    by_name = webhooks.resolve_allowed(receiver.url.replace("127.0.0.1", "localhost"), LOOPBACK)
    assert by_name.address == target.address
    assert _post(by_name, connections).ok
    assert receiver.connections == 2
    # without `connections` nothing is kept (the request asks the receiver to close)
    assert webhooks.post(target, b"{}", {}).ok and webhooks.post(target, b"{}", {}).ok
    assert receiver.connections == 4


def test_a_connection_the_receiver_closed_while_idle_is_replaced_once_and_a_failed_one_is_never_kept(
    keep_alive_receivers,
):
    receiver, connections = keep_alive_receivers(["ok", "drop", "ok", "drop", "drop"]), webhooks.Connections()
    target = webhooks.resolve_allowed(receiver.url, LOOPBACK)
    assert _post(target, connections).ok
    # the kept connection is closed without an answer: the request goes again, once, on a new connection
    assert _post(target, connections).ok
    assert receiver.connections == 2 and receiver.requests == 3
    # the kept one dropped, and the new one too: a failure, not a third try
    outcome = _post(target, connections)
    assert not outcome.ok and outcome.retryable and outcome.status is None
    assert receiver.connections == 3 and receiver.requests == 5
    # the failed connection was not kept
    assert _post(target, connections).ok
    assert receiver.connections == 4


def test_an_answer_that_asks_to_close_is_not_kept(keep_alive_receivers):
    receiver, connections = keep_alive_receivers(["close"]), webhooks.Connections()
    target = webhooks.resolve_allowed(receiver.url, LOOPBACK)
    assert _post(target, connections).ok and _post(target, connections).ok
    assert receiver.connections == 2


def test_a_trickled_answer_on_a_kept_connection_is_cut_off_at_the_deadline_and_the_connection_dropped(
    keep_alive_receivers,
):
    receiver, connections = keep_alive_receivers(["ok", "trickle"]), webhooks.Connections()
    target = webhooks.resolve_allowed(receiver.url, LOOPBACK)
    assert _post(target, connections).ok
    outcome = _post(target, connections, deadline=1.5)
    assert outcome.status is None and "deadline" in outcome.error
    assert receiver.connections == 1  # the kept connection carried it: no retry after an answer had begun
    assert _post(target, connections).ok
    assert receiver.connections == 2


def test_the_sender_keeps_its_connection_between_batches_and_a_withdrawn_network_refuses_before_reusing_it(
    loopback_allowed, keep_alive_receivers, cadre
):
    receiver = keep_alive_receivers()
    endpoint = wire("propaganda", url=receiver.url, secret=webhooks.new_secret())
    for _ in range(2):
        file_activity(cadre)
        deliveries.send_batch(endpoint.pk)  # the worker's own step
    assert Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.DELIVERED).count() == 2
    assert receiver.connections == 1 and receiver.requests == 2
    AllowedNetwork.objects.all().delete()
    file_activity(cadre)
    deliveries.send_batch(endpoint.pk)
    (refused,) = Delivery.objects.filter(endpoint=endpoint).exclude(status=DeliveryStatus.DELIVERED)
    assert refused.status == DeliveryStatus.DEAD and "not in a network the office allowed" in refused.last_error
    assert receiver.requests == 2
