import datetime as dt
import json
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.db.models import F, ProtectedError
from rest_framework.test import APIClient
from standardwebhooks import Webhook, WebhookVerificationError

from core.tokens import issue_token
from reporting.delivery import webhooks
from reporting.models import AccessRecord, AllowedNetwork, Delivery, DeliveryStatus, Endpoint, Subscription
from reporting.services import deliveries
from reporting.services.submissions import correct_submission
from tests.deliveries.conftest import ACTIVITY, file_activity, system_client, wire
from tests.waiting import wait_for

PROPAGANDA_LEDGER = {
    "activity_date",
    "activity_title",
    "activity_venue",
    "activity_category",
    "attendance",
    "organiser",
    "volunteers_involved",
    "is_volunteer_service",
}
CULTURE_LEDGER = {"activity_date", "activity_title", "activity_venue", "activity_category", "attendance", "organiser"}


def test_a_record_reaches_both_departments_with_exactly_their_fields_and_a_correction_names_version_1(
    worker, loopback_allowed, receivers, cadre
):
    propaganda, culture, civil = receivers(), receivers(), receivers()
    wire("propaganda", propaganda)
    wire("culture", culture)
    wire("civil", civil)  # civil affairs takes no field of the ledger

    version = file_activity(cadre)
    assert wait_for(lambda: propaganda.seen and culture.seen)
    (p,), (c,) = propaganda.applied().values(), culture.applied().values()
    assert set(p["values"]) == PROPAGANDA_LEDGER and set(c["values"]) == CULTURE_LEDGER
    assert c["values"]["attendance"] == 230 and "volunteers_involved" not in c["values"]
    assert p["unit"]["code"] == cadre.unit.area.code and p["version"] == 1 and p["supersedes"] is None

    correct_submission(
        submission=version.submission,
        raw={**ACTIVITY, "attendance": "260"},
        not_applicable={},
        reason="补录人数",
        by=cadre,
        expected_version=1,
    )
    assert wait_for(lambda: len(propaganda.seen) == 2 and len(culture.seen) == 2)
    for receiver, first in ((propaganda, p), (culture, c)):
        second = next(d for d in receiver.applied().values() if d["version"] == 2)
        assert second["supersedes"] == {"delivery": first["id"], "version": 1}
        assert second["values"]["attendance"] == 260
        assert second["values"]["activity_title"] == "村晚"  # untouched fields still travel: a complete picture
    # the worker is done: every row of the outbox was delivered, and civil affairs had none to be sent
    assert wait_for(lambda: not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists())
    assert civil.requests == 0 and not Delivery.objects.filter(department__code="civil").exists()
    assert propaganda.bad_signatures == culture.bad_signatures == 0


def test_an_outbox_row_names_its_subscription_department_and_endpoint_and_the_endpoint_cannot_be_deleted(
    receivers, cadre
):
    endpoint = wire("propaganda", receivers())
    version = file_activity(cadre)
    rows = list(Delivery.objects.filter(version=version).select_related("subscription"))
    assert {d.department.code for d in rows} == {"propaganda", "culture"}
    for delivery in rows:
        assert delivery.department_id == delivery.subscription.department_id
        assert delivery.endpoint_id == delivery.subscription.endpoint_id
    Subscription.objects.filter(endpoint=endpoint).update(endpoint=None)  # only the outbox names it now
    with pytest.raises(ProtectedError):
        endpoint.delete()
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_every_push_is_recorded_for_the_unit_to_see(worker, loopback_allowed, receivers, cadre, client):
    wire("propaganda", receivers())
    file_activity(cadre)
    assert wait_for(lambda: AccessRecord.objects.filter(kind="pushed").exists())
    record = AccessRecord.objects.get(kind="pushed")
    assert (record.unit_id, record.department.code, record.period) == (cadre.unit_id, "propaganda", "202611")
    client.force_login(cadre)
    html = client.get("/fill/data-use/").content.decode()
    assert "中共青山县委宣传部" in html and "文化活动台账" in html


def _age(delivery_id: int, by: dt.timedelta) -> None:
    """Move a delivery's times `by` into the past: the outbox judges them on the database's clock, which a test
    cannot move (core/clock.py), so the row ages instead, as if that much time had passed."""
    Delivery.objects.filter(pk=delivery_id).update(
        created_at=F("created_at") - by, retry_from=F("retry_from") - by, next_attempt_at=F("next_attempt_at") - by
    )


def test_a_receiver_that_answers_500_then_200_gets_the_data_after_a_retry(worker, loopback_allowed, receivers, cadre):
    flaky = receivers(script=[500])
    wire("propaganda", flaky)
    file_activity(cadre)
    assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RETRYING).exists())
    delivery = Delivery.objects.get(department__code="propaganda")
    assert delivery.attempts == 1 and "HTTP 500" in delivery.last_error
    assert dt.timedelta(seconds=40) < delivery.next_attempt_at - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=80)
    _age(delivery.pk, dt.timedelta(minutes=2))  # the backoff has passed; beat's sweep finds the row
    deliveries.sweep()
    assert wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED)
    assert list(flaky.seen.values()) == [1]


def test_a_400_dead_letters_the_delivery_and_a_replay_delivers_it(
    worker, loopback_allowed, receivers, cadre, propaganda_system
):
    picky = receivers(script=[400])
    wire("propaganda", picky)
    file_activity(cadre)
    assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).exists())
    dead = Delivery.objects.get(department__code="propaganda")
    assert "HTTP 400" in dead.last_error and dead.attempts == 1
    status = propaganda_system.get("/api/v1/deliveries").json()
    assert status["dead"][0]["id"] == dead.public_id and "HTTP 400" in status["dead"][0]["last_error"]
    (endpoint,) = status["endpoints"]
    assert endpoint["deliveries"] == {"pending": 0, "retrying": 0, "dead": 1}
    assert endpoint["last_delivered_at"] is None and status["newest_at"]
    response = propaganda_system.post("/api/v1/deliveries/replay", {"ids": [dead.public_id]}, format="json")
    assert response.json() == {"replayed": 1}
    assert wait_for(lambda: Delivery.objects.get(pk=dead.pk).status == DeliveryStatus.DELIVERED)
    assert picky.applied()[dead.public_id]["values"]["attendance"] == 230
    after = propaganda_system.get("/api/v1/deliveries").json()
    assert after["endpoints"][0]["deliveries"] == {"pending": 0, "retrying": 0, "dead": 0} and after["dead"] == []
    assert after["endpoints"][0]["last_delivered_at"] >= status["newest_at"]


def test_retries_go_on_for_three_days_then_dead_letter(worker, loopback_allowed, receivers, cadre):
    down = receivers(script=[503] * 100)
    wire("propaganda", down)
    file_activity(cadre)
    delivery = Delivery.objects.get(department__code="propaganda")
    elapsed = dt.timedelta()
    while Delivery.objects.get(pk=delivery.pk).status != DeliveryStatus.DEAD:
        assert wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status != DeliveryStatus.PENDING)
        current = Delivery.objects.get(pk=delivery.pk)
        if current.status == DeliveryStatus.DEAD:
            break
        step = current.next_attempt_at - dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        assert step <= dt.timedelta(days=1, hours=7)  # never more than a day (+25 % jitter) apart
        _age(delivery.pk, step)
        elapsed += step
        Endpoint.objects.update(open_until=None)  # the circuit is tested below; here every attempt goes out
        deliveries.sweep()
        seen = current.attempts
        assert wait_for(lambda s=seen: Delivery.objects.get(pk=delivery.pk).attempts > s)
    assert elapsed >= dt.timedelta(days=3)
    assert Delivery.objects.get(pk=delivery.pk).attempts >= 10


def test_an_endpoint_circuit_opens_after_repeated_failures_and_a_paused_endpoint_waits(
    loopback_allowed, receivers, cadre, propaganda_system
):
    # the worker's own step, driven from here so each attempt is exactly one request
    down = receivers(script=[500] * 100)
    endpoint = wire("propaganda", down)
    file_activity(cadre)

    def attempt():
        Delivery.objects.filter(status=DeliveryStatus.RETRYING).update(next_attempt_at=dt.datetime.now(dt.UTC))
        deliveries.send_batch(endpoint.pk)

    for _ in range(deliveries.CIRCUIT_AFTER):
        attempt()
    endpoint.refresh_from_db()
    assert endpoint.failures == deliveries.CIRCUIT_AFTER and endpoint.open_until is not None
    attempt()
    assert down.requests == deliveries.CIRCUIT_AFTER  # circuit open: nothing more is sent

    assert propaganda_system.post(
        f"/api/v1/endpoints/{endpoint.pk}/active", {"active": False}, format="json"
    ).json() == {"active": False}
    down.script.clear()
    Endpoint.objects.filter(pk=endpoint.pk).update(open_until=None)
    attempt()
    assert down.requests == deliveries.CIRCUIT_AFTER  # paused: nothing is sent
    propaganda_system.post(f"/api/v1/endpoints/{endpoint.pk}/active", {"active": True}, format="json")
    attempt()
    assert Delivery.objects.get(endpoint=endpoint).status == DeliveryStatus.DELIVERED
    assert Endpoint.objects.get(pk=endpoint.pk).failures == 0


def _public_id(version, department_code: str) -> str:
    return f"dlv_{Delivery.objects.get(version=version, department__code=department_code).pk}"


def test_a_dead_receiver_does_not_delay_a_healthy_department(
    worker, loopback_allowed, receivers, cadre, settings, monkeypatch
):
    """The healthy department's deliveries arrive while a request to the dead one is still hanging in its
    first attempt: none of them waited for it. (How fast they arrive beside it is measured in bench/faults.py.)"""
    # the hanging request lasts the whole test: by default the sender gives it up after 5 s of silence, and the five
    # healthy deliveries on a loaded machine must not race that (the check below is on the first attempt)
    monkeypatch.setattr(webhooks, "READ_TIMEOUT", 90.0)
    settings.ONETABLE_WEBHOOK_DEADLINE_SECONDS = 90
    healthy = receivers()
    wire("culture", healthy)
    # propaganda's receiver accepts connections and never answers in time (worse than refusing them)
    dead = receivers(delay=75)
    wire("propaganda", dead)
    first = file_activity(cadre, activity_title="活动0")
    hanging = Delivery.objects.get(version=first, department__code="propaganda")
    assert wait_for(lambda: f"dlv_{hanging.pk}" in dead.arrived)  # the dead receiver holds a request open
    for i in range(5):
        version = first if i == 0 else file_activity(cadre, activity_title=f"活动{i}")
        wanted = _public_id(version, "culture")
        assert wait_for(lambda w=wanted: w in healthy.seen, timeout=60)
        hanging.refresh_from_db()
        assert (hanging.status, hanging.attempts) == (DeliveryStatus.PENDING, 0), "a healthy delivery waited"


def test_a_filing_relayed_while_the_last_batch_is_recorded_is_sent_without_waiting_for_the_sweep(
    loopback_allowed, receivers, cadre, settings
):
    """A send task that finds its endpoint leased leaves at once: the sender holding the lease, once its batch is
    recorded, says whether more are due, and must count the rows that task was sent for, or they wait for the
    sweep. Here the recording statement is held (a lock on its delivery's row, taken while the request is on the
    wire) while a filing is relayed and its send task comes and goes: what a sender thread delayed between that
    statement and its commit did for a moment in CI, behind PgBouncer, and culture's next delivery never came."""
    settings.ONETABLE_DELIVERY_LEASE_SECONDS = 60  # the first sender's lease holds however slow this machine is
    holder = psycopg.connect(**connection.get_connection_params())
    held: list[int] = []

    def hold_the_row(ids: list[str]) -> None:
        if not held:  # the first batch only: its sender's recording will wait for this transaction
            holder.execute("SELECT 1 FROM reporting_delivery WHERE id = %s FOR UPDATE", [int(ids[0][4:])])
            held.append(holder.execute("SELECT pg_backend_pid()").fetchone()[0])

    receiver = receivers(on_request=hold_the_row)
    endpoint = wire("culture", receiver)
    first = file_activity(cadre, activity_title="活动0")
    more: list[bool] = []

    def send() -> None:
        try:
            more.append(deliveries.send_batch(endpoint.pk))  # the worker's own step
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    try:
        sender.start()
        assert wait_for(lambda: held and _waits_for(held[0]))  # answered 200; its recording waits on the row
        second = file_activity(cadre, activity_title="活动1")
        assert deliveries.send_batch(endpoint.pk) is False  # the task this filing woke: the endpoint is leased
    finally:
        holder.close()  # the recording goes on
        sender.join(30)
    assert more == [True]  # so its task publishes another, which sends the second filing's delivery now
    deliveries.send_batch(endpoint.pk)
    assert list(receiver.seen) == [_public_id(first, "culture"), _public_id(second, "culture")]


def _waits_for(pid: int) -> bool:
    """Whether a session of the test database waits for a lock the server process `pid` holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND %s = ANY(pg_blocking_pids(pid)))",
            [pid],
        )
        return cursor.fetchone()[0]


def test_signatures_follow_standard_webhooks_and_an_independent_verifier_rejects_tampering():
    secret = webhooks.new_secret()
    body = json.dumps({"deliveries": [{"id": "dlv_1"}]}).encode()
    headers = webhooks.headers_for("msg_1_1_1", body, [secret])
    assert Webhook(secret).verify(body, headers) == {"deliveries": [{"id": "dlv_1"}]}
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)  # a wrong secret
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"dlv_1", b"dlv_2"), headers)  # a changed body
    old = webhooks.headers_for("msg_1_1_1", body, [secret], timestamp=int(time.time()) - 3600)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, old)  # an old timestamp


def test_during_a_rotation_both_secrets_sign(worker, loopback_allowed, receivers, cadre):
    old_receiver = receivers()
    endpoint = wire("propaganda", old_receiver)
    new_secret = deliveries.rotate_secret(endpoint=endpoint, by=None)
    file_activity(cadre)
    assert wait_for(lambda: old_receiver.seen)  # a receiver still on the old secret accepts it
    body = b"{}"
    endpoint.refresh_from_db()
    header = webhooks.headers_for("m", body, deliveries.signing_secrets(endpoint))
    assert len(header["webhook-signature"].split()) == 2
    Webhook(new_secret).verify(body, header)


def test_a_url_outside_the_allowed_networks_is_refused_before_any_connection(worker, receivers, cadre, demo):
    AllowedNetwork.objects.create(cidr="127.0.0.2/32")
    bystander = receivers()
    # the receiver listens on 127.0.0.1, which the office has not allowed
    wire("propaganda", bystander)
    # a name that resolves to a forbidden address
    wire("culture", url=bystander.url.replace("127.0.0.1", "localhost"), secret=bystander.secret)
    file_activity(cadre)
    assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 2)
    assert bystander.requests == 0 and bystander.bad_signatures == 0
    for delivery in Delivery.objects.all():
        assert "not in a network the office allowed" in delivery.last_error
    with pytest.raises(webhooks.Refused):
        webhooks.resolve_allowed("http://localhost:9/x", ["127.0.0.2/32"])
    with pytest.raises(webhooks.Refused):
        webhooks.resolve_allowed("ftp://127.0.0.2/x", ["127.0.0.2/32"])


def test_the_feed_gives_each_department_only_its_own_deliveries(loopback_allowed, cadre, demo):
    file_activity(cadre)
    propaganda = system_client("propaganda")
    civil = system_client("civil")
    # the feed holds back rows newer than the oldest transaction running on the server, and tests elsewhere
    # may share that server: wait until it shows (that read is recorded; an empty read records nothing)
    assert wait_for(lambda: propaganda.get("/api/v1/feed").json()["items"])
    page = propaganda.get("/api/v1/feed", {"limit": 10}).json()
    assert [item["sheet"] for item in page["items"]] == ["cultural_activity"]
    assert set(page["items"][0]["values"]) == PROPAGANDA_LEDGER
    assert propaganda.get("/api/v1/feed", {"after": page["next"]}).json()["items"] == []
    again = propaganda.get("/api/v1/feed").json()
    assert again["items"] == page["items"]  # reading twice gives the same items
    assert civil.get("/api/v1/feed").json()["items"] == []
    assert AccessRecord.objects.filter(kind="pulled", department__code="propaganda").count() == 3  # 3 reads of it
    bad = propaganda.get("/api/v1/feed", {"after": "yesterday", "limit": "5000"})
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["after", "limit"]
    assert "must be a whole number from 1 to 1000" in bad.json()["errors"][1]["message_en"]
    assert propaganda.get("/api/v1/feed", {"limit": "0"}).json()["errors"][0]["field"] == "limit"


def test_cadres_and_tokenless_callers_cannot_read_any_feed(cadre, demo):
    client = APIClient()
    assert client.get("/api/v1/feed").status_code == 401
    _row, token = issue_token(user=cadre, name="x")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/feed").status_code == 404
    assert client.post("/api/v1/deliveries/replay", {}, format="json").status_code == 404


def test_another_department_cannot_replay_or_pause_what_is_not_theirs(loopback_allowed, receivers, cadre, demo):
    endpoint = wire("propaganda", receivers(script=[400]))
    Subscription.objects.filter(department__code="culture").update(status="ended")
    file_activity(cadre)
    deliveries.send_batch(endpoint.pk)
    culture = system_client("culture")
    assert culture.post("/api/v1/deliveries/replay", {}, format="json").json() == {"replayed": 0}
    assert culture.post(f"/api/v1/endpoints/{endpoint.pk}/active", {"active": False}, format="json").status_code == 404
    assert Delivery.objects.get().status == DeliveryStatus.DEAD


def test_a_cadre_sees_which_department_read_the_unit_data_and_another_cadre_does_not(client, cadre, demo):
    from core.models import Department
    from reporting.delivery.feed import read_feed

    file_activity(cadre)
    culture = Department.objects.get(code="culture")
    assert wait_for(lambda: read_feed(department=culture, after=None, limit=10).items)  # see the test above
    client.force_login(cadre)
    html = client.get("/fill/data-use/").content.decode()
    assert "青山县文化广电新闻出版旅游体育局" in html and "活动日期" in html
    other = cadre.unit.area.parent.unit.members.first()
    client.force_login(other)
    assert "青山县文化广电新闻出版旅游体育局" not in client.get("/fill/data-use/").content.decode()


def test_the_worker_keeps_its_database_connections_between_tasks(worker, loopback_allowed, receivers, cadre):
    """Celery's Django fixup would open a PostgreSQL session for every task; the worker keeps its connections
    as web workers do (CONN_MAX_AGE), so a stream of delivery batches needs no new session after the first.

    Sessions are counted as Django opens them (`connection_created`, in every thread of this process, the
    worker's among them), not from the server's statistics, which a backend reports only now and then."""
    from django.db.backends.signals import connection_created

    opened_by: list[str] = []

    def count(sender, connection, **kwargs) -> None:
        opened_by.append(threading.current_thread().name)

    propaganda, culture = receivers(), receivers()
    wire("propaganda", propaganda)
    wire("culture", culture)
    file_activity(cadre, activity_title="warm-up")
    assert wait_for(lambda: propaganda.seen and culture.seen)  # worker threads have made their connections
    connection_created.connect(count)
    try:
        for i in range(8):
            file_activity(cadre, activity_title=f"batch {i}")
            assert wait_for(lambda n=i + 2: len(propaganda.seen) >= n and len(culture.seen) >= n)
    finally:
        connection_created.disconnect(count)
    opened = len(opened_by)
    # the receivers saw every batch; the sender records the last one's "delivered" just after its answer
    assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() >= 18)
    # at most one per worker thread that had not needed one yet (4 threads); Celery's default: one per task
    assert opened <= 4, f"{opened} new PostgreSQL sessions for 16 delivery batches"


def test_the_sender_replaces_a_connection_the_database_dropped(loopback_allowed, receivers, cadre):
    """The sender's fixed statements bypass Django's cursor: they must still get Django's health check, or a
    worker whose connection PostgreSQL dropped (a restart, a failover) would fail every task until it aged out."""
    from django.db import close_old_connections, connection, connections

    receiver = receivers()
    endpoint = wire("propaganda", receiver)
    file_activity(cadre)
    connection.ensure_connection()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    finally:
        other.close()
    close_old_connections()  # a task starting, as the worker's task_prerun does
    deliveries.send_batch(endpoint.pk)
    assert Delivery.objects.get(endpoint=endpoint).status == DeliveryStatus.DELIVERED
    assert len(receiver.seen) == 1


def test_the_sender_fixed_statements_fail_with_django_errors(demo):
    """Raised as Django's errors, so Django notes a broken connection and replaces it after the task."""
    from django.db import ProgrammingError

    with pytest.raises(ProgrammingError), deliveries.fixed_statements() as cursor:
        cursor.execute("SELECT no_such_column FROM reporting_delivery")
    from core.models import Department

    assert Department.objects.filter(code="propaganda").exists()  # the connection is usable afterwards


def test_a_feed_cursor_the_feed_never_gave_out_is_refused_by_name(loopback_allowed, cadre, demo):
    file_activity(cadre)
    propaganda = system_client("propaganda")
    assert wait_for(lambda: propaganda.get("/api/v1/feed").json()["items"])  # see the test above
    last = propaganda.get("/api/v1/feed").json()["next"]
    assert propaganda.get("/api/v1/feed", {"after": last}).json()["items"] == []  # the end: a cursor it gave
    for cursor in [
        str(int(last) + 1),
        "999999999999999999",
        "999999999-1",
        "9999999999999999999-1",
        "999999999999-99999999",
    ]:  # past the end, and old-form pairs naming no delivery of the department
        response = propaganda.get("/api/v1/feed", {"after": cursor})
        assert response.status_code == 400, cursor
        (error,) = response.json()["errors"]
        assert error["field"] == "after" and error["code"] == "feed.cursor"
        assert f"“{cursor}”" in error["message_zh"] and f"“{cursor}”" in error["message_en"]
    assert propaganda.get("/api/v1/feed", {"after": "0-0"}).json()["items"]  # the old form of "from the start"
