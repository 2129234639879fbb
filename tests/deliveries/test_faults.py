"""Delivery under faults a receiver can cause: trickled and cut-off answers, outages, dead letters, repeats."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reporting.models import Delivery, DeliveryStatus, Endpoint
from reporting.services import deliveries
from tests.deliveries.conftest import file_activity, wire
from tests.receiver import RawReceiver
from tests.waiting import wait_for


@pytest.fixture
def raw_receivers():
    made: list[RawReceiver] = []

    def make(**kwargs) -> RawReceiver:
        made.append(RawReceiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _status(delivery: Delivery) -> str:
    return Delivery.objects.get(pk=delivery.pk).status


def test_a_trickling_receiver_is_cut_off_at_the_deadline_holds_one_sender_and_others_keep_receiving(
    worker, loopback_allowed, receivers, raw_receivers, cadre, settings
):
    # a lease far shorter than the request's deadline: only renewing it keeps a second sender out
    settings.ONETABLE_WEBHOOK_DEADLINE_SECONDS = 4
    settings.ONETABLE_DELIVERY_LEASE_SECONDS = 1
    trickler = raw_receivers(every=0.3)  # a status line, then a header byte every 0.3 s, never done
    healthy = receivers()
    wire("propaganda", url=trickler.url, secret="whsec_" + "A" * 32)
    wire("culture", healthy)

    version = file_activity(cadre)
    stuck = Delivery.objects.get(version=version, department__code="propaganda")
    assert wait_for(lambda: trickler.open == 1)
    sweeps, leases = 0, set()
    while trickler.open:  # while the first request trickles, the sweep offers the endpoint again and again
        leases.add(Endpoint.objects.get(pk=stuck.endpoint_id).lease_until)
        assert stuck.endpoint_id not in deliveries.sweep()  # its lease is held: nobody else is sent there
        sweeps += 1
        for i in range(2):  # and the healthy department gets each new filing meanwhile
            other = file_activity(cadre, activity_title=f"夜校{sweeps}-{i}")
            public_id = Delivery.objects.get(version=other, department__code="culture").public_id
            assert wait_for(lambda p=public_id: p in healthy.seen, timeout=10)
    assert len(leases - {None}) >= 2  # the lease was renewed while the request lasted
    # the sender hung up at its deadline: the delivery backs off, it was not counted as delivered
    assert wait_for(lambda: _status(stuck) == DeliveryStatus.RETRYING, timeout=10)
    assert "deadline" in Delivery.objects.get(pk=stuck.pk).last_error
    assert trickler.hung_up >= 1  # (the filings above queued more for it: it may be trickling again)
    assert trickler.most_open == 1  # one sender at a time, whatever its lease did


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/pl",  # cut off inside the header block
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n",  # the blank line that ends it never came
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort",  # the body is cut off
        b"HTTP/1.1 200",  # not even a whole status line
    ],
)
def test_an_answer_cut_off_before_it_is_complete_is_not_a_delivery(loopback_allowed, raw_receivers, cadre, answer):
    cutter = raw_receivers(answer=answer)
    endpoint = wire("propaganda", url=cutter.url, secret="whsec_" + "A" * 32)
    file_activity(cadre)
    deliveries.send_batch(endpoint.pk)  # the worker's own step
    (delivery,) = Delivery.objects.filter(endpoint=endpoint)
    assert cutter.connections == 1
    assert delivery.status == DeliveryStatus.RETRYING and delivery.delivered_at is None
    assert delivery.last_error


def test_webhook_id_names_the_batch_content_and_stays_with_it_when_retried(
    loopback_allowed, receivers, cadre, settings
):
    settings.ONETABLE_DELIVERY_BATCH = 3
    receiver = receivers(script=[500, 500])
    endpoint = wire("propaganda", receiver)
    d1, d2, d3, d4 = (
        Delivery.objects.get(version=file_activity(cadre, activity_title=f"讲座{i}"), endpoint=endpoint)
        for i in range(4)
    )
    later = timezone.now() + dt.timedelta(hours=1)

    def due(*due_rows: Delivery) -> None:
        Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=later)
        Delivery.objects.filter(pk__in=[d.pk for d in due_rows]).update(next_attempt_at=timezone.now())

    due(d1, d2, d4)
    deliveries.send_batch(endpoint.pk)  # answered 500
    due(d1, d2, d4)
    deliveries.send_batch(endpoint.pk)  # the same batch again: answered 500
    due(d1, d3, d4)
    deliveries.send_batch(endpoint.pk)  # same first, last and count, other content
    due(d2)
    deliveries.send_batch(endpoint.pk)
    first, retried, other, _last = receiver.batches
    assert first[1] == retried[1] == [d1.public_id, d2.public_id, d4.public_id] and first[0] == retried[0]
    assert other[1] == [d1.public_id, d3.public_id, d4.public_id] and other[0] != first[0]
    # a receiver that drops a webhook-id it already took (as Standard Webhooks suggests) keeps everything
    kept, taken = set(), set()
    for webhook_id, ids, status in receiver.batches:
        if status == 200 and webhook_id not in taken:
            taken.add(webhook_id)
            kept.update(ids)
    assert kept == {d.public_id for d in (d1, d2, d3, d4)}


def test_a_replayed_dead_letter_older_than_the_retry_window_is_retried_like_a_new_delivery(
    loopback_allowed, receivers, cadre, propaganda_system
):
    receiver = receivers(script=[400, 503])
    endpoint = wire("propaganda", receiver)
    version = file_activity(cadre)
    deliveries.send_batch(endpoint.pk)  # 400: dead-lettered
    dead = Delivery.objects.get(version=version, endpoint=endpoint)
    assert dead.status == DeliveryStatus.DEAD
    # it was made four days ago: older than the retry window
    Delivery.objects.filter(pk=dead.pk).update(created_at=timezone.now() - deliveries.RETRY_FOR - dt.timedelta(days=1))
    response = propaganda_system.post("/api/v1/deliveries/replay", {"ids": [dead.public_id]}, format="json")
    assert response.json() == {"replayed": 1}
    deliveries.send_batch(endpoint.pk)  # 503: a retryable failure…
    assert _status(dead) == DeliveryStatus.RETRYING  # …inside the replay's fresh window, not dead at once
    Delivery.objects.filter(pk=dead.pk).update(next_attempt_at=timezone.now())
    deliveries.send_batch(endpoint.pk)
    assert _status(dead) == DeliveryStatus.DELIVERED and dead.public_id in receiver.seen


def _backed_off_for_a_day(endpoint: Endpoint, delivery: Delivery) -> None:
    """As after a long outage: the row's next try is most of a day away."""
    assert _status(delivery) == DeliveryStatus.RETRYING
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + dt.timedelta(hours=20))


def test_after_an_outage_the_first_2xx_makes_everything_that_waited_due_at_once(
    worker, loopback_allowed, receivers, cadre
):
    receiver = receivers(script=[503])
    endpoint = wire("propaganda", receiver)
    waited = Delivery.objects.get(version=file_activity(cadre), endpoint=endpoint)
    assert wait_for(lambda: _status(waited) == DeliveryStatus.RETRYING)
    _backed_off_for_a_day(endpoint, waited)
    fresh = Delivery.objects.get(version=file_activity(cadre, activity_title="新活动"), endpoint=endpoint)
    assert wait_for(lambda: fresh.public_id in receiver.seen)  # the receiver is back…
    assert wait_for(lambda: waited.public_id in receiver.seen)  # …so what waited goes now, not in 20 hours


def test_resuming_an_endpoint_sends_what_waited_at_once(worker, loopback_allowed, receivers, cadre, propaganda_system):
    receiver = receivers(script=[503])
    endpoint = wire("propaganda", receiver)
    waited = Delivery.objects.get(version=file_activity(cadre), endpoint=endpoint)
    assert wait_for(lambda: _status(waited) == DeliveryStatus.RETRYING)
    url = f"/api/v1/endpoints/{endpoint.pk}/active"
    assert propaganda_system.post(url, {"active": False}, format="json").status_code == 200
    _backed_off_for_a_day(endpoint, waited)
    assert propaganda_system.post(url, {"active": True}, format="json").json() == {"active": True}
    assert wait_for(lambda: waited.public_id in receiver.seen)


def test_a_host_name_that_does_not_resolve_is_retried_with_back_off_not_dead_lettered(loopback_allowed, cadre):
    # a name that never resolves (RFC 2606 reserves .invalid), as a DNS server that is down answers for any name
    endpoint = wire("propaganda", url="http://onetable-receiver.invalid/hook", secret="whsec_" + "A" * 32)
    file_activity(cadre)
    deliveries.send_batch(endpoint.pk)  # the worker's own step, with the real resolver
    (delivery,) = Delivery.objects.filter(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.RETRYING and delivery.next_attempt_at is not None
    assert "onetable-receiver.invalid" in delivery.last_error
    assert Endpoint.objects.get(pk=endpoint.pk).failures == 1


@pytest.mark.parametrize("port", ["99999", "0", "65536", "x"])
def test_a_port_out_of_range_is_refused_by_name_not_posted_to_the_default_port(loopback_allowed, port):
    from reporting.delivery import webhooks

    with pytest.raises(webhooks.Refused, match=r"端口须为 1 至 65535.*port must be a whole number from 1 to 65535"):
        webhooks.resolve_allowed(f"http://127.0.0.1:{port}/hook", ["127.0.0.0/8"])
    assert webhooks.resolve_allowed("http://127.0.0.1:65535/hook", ["127.0.0.0/8"]).port == 65535
