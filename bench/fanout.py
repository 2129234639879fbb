"""Fan-out benchmark: outbox rows created and deliveries sent per second, against their anchors.

Creating: the real relay (`relay_batch`, versions handed to it as a filing hands them) for
versions of the 200-field sheet with 30 subscriptions, against
PostgreSQL COPY of the same rows into a table with the outbox's columns and indexes.
Sending: the real sender (`send_batch`: lease, claim, sign, post, record) to a receiver
on 127.0.0.1, against a plain keep-alive HTTP client posting the same bodies to it. Floor:
the same client posting, for each batch, the stored documents of its versions as PostgreSQL
returns them (read, joined, posted; nothing restricted, signed or recorded): about the least
a sender whose deliveries live in the database pays, so about the most its ratio can be.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.province import SHEET


class Receiver:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # http.server calls it by this name
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _versions(limit: int):
    from reporting.models import SubmissionVersion

    return list(
        SubmissionVersion.objects.filter(submission__sheet__code=SHEET).select_related(
            "submission__unit__area", "submission__sheet"
        )[:limit]
    )


# the outbox's columns the relay fills (the partition key `version_month` too)
_COLUMNS = (
    "department_id, subscription_id, endpoint_id, submission_id, version_id, supersedes_id, fields, position, status,"
    " attempts, next_attempt_at, last_error, created_at, version_month, version_start"
)


def create_rate(limit: int) -> dict:
    """Outbox rows a second from the real statement, in one transaction rolled back afterwards."""
    from django.db import connection, transaction

    from reporting.filing.onetable import catalogue_reading
    from reporting.services.relay import queue_versions, relay_batch, relay_versions

    relay_versions()  # what earlier benchmarks left waiting, so that the timed loop relays this one's versions only
    versions = _versions(limit)
    with transaction.atomic():
        with connection.cursor() as cursor:  # the versions' own rows are made again: none exist in this run
            cursor.execute("DELETE FROM reporting_delivery WHERE version_id = ANY(%s)", [[v.pk for v in versions]])
        queue_versions([v.pk for v in versions], snapshot=catalogue_reading()[1])
        started = time.perf_counter()
        while relay_batch():
            continue
        seconds = time.perf_counter() - started
        with connection.cursor() as cursor:  # the rows just made, to COPY the very same shapes
            cursor.execute(
                f"SELECT {_COLUMNS} FROM reporting_delivery WHERE version_id = ANY(%s)", [[v.pk for v in versions]]
            )
            made = cursor.fetchall()
        transaction.set_rollback(True)
    rows = len(made)
    with connection.cursor() as cursor:
        # same columns, defaults, identity and indexes as the outbox itself
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_outbox (LIKE reporting_delivery INCLUDING ALL)")
        cursor.execute("TRUNCATE bench_outbox")
        started = time.perf_counter()
        with cursor.copy(f"COPY bench_outbox ({_COLUMNS}) FROM STDIN") as copy:
            for line in made:
                copy.write_row(line)
        copy_seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "rows_per_s": rows / seconds,
        "copy_rows_per_s": rows / copy_seconds,
        "ratio": copy_seconds / seconds,
    }


# the floor's read: each delivery's version document as stored, in id order, each found as the sender finds it (one
# probe by the version's whole key: as a plain join the planner at times hashed every year's versions, which made
# the floor slower than the sender itself, 4,600/s on 2026-11-30)
_STORED_SQL = (
    "SELECT v.doc FROM reporting_delivery d CROSS JOIN LATERAL ("
    ' SELECT "values"::text AS doc FROM reporting_submissionversion'
    " WHERE id = d.version_id AND period_start = d.version_start LIMIT 1) v"
    " WHERE d.id = ANY(%s) ORDER BY d.id"
)


def _send_round(endpoint, department, receiver: Receiver, versions: list[int]) -> dict:
    """One round on the versions given: the real sender, then the floor, then the plain client, on the same rows."""
    from django.conf import settings
    from django.db import connection, transaction

    from reporting.filing.onetable import catalogue_reading
    from reporting.models import Delivery, DeliveryStatus
    from reporting.services.deliveries import batch_body, delivery_bodies, fixed_statements, send_batch
    from reporting.services.relay import queue_versions, relay_versions

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(  # the department's rows are made again by the relay, for this endpoint
                "DELETE FROM reporting_delivery WHERE version_id = ANY(%s) AND department_id = %s",
                [versions, department.pk],
            )
        queue_versions(versions, snapshot=catalogue_reading()[1])
    relay_versions()
    pending = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
    total = pending.count()
    ids = list(pending.order_by("id").values_list("id", flat=True))
    batches = [
        ids[start : start + settings.ONETABLE_DELIVERY_BATCH]
        for start in range(0, len(ids), settings.ONETABLE_DELIVERY_BATCH)
    ]
    bodies = [batch_body(department.code, delivery_bodies(batch)) for batch in batches]
    started = time.perf_counter()
    while send_batch(endpoint.pk):  # each call sends one batch and says whether more are due
        continue
    seconds = time.perf_counter() - started
    sent = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.DELIVERED, id__in=ids).count()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)

    def read_prepared(batch: list[int]) -> list[str]:  # the sender's session: prepared once, generic plan, no JIT
        with fixed_statements() as cursor:
            cursor.execute(_STORED_SQL, [batch], prepare=True)
            return [row[0] for row in cursor.fetchall()]

    def read_planned(batch: list[int]) -> list[str]:  # planned for these ids each time (a custom plan), no JIT
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(_STORED_SQL, [batch])
            return [row[0] for row in cursor.fetchall()]

    # The floor is the faster of two ways to read the same documents, each timed in this round: the planner's
    # choice over the versions' partitions varied from one round to the next when planned each time (2,300 to
    # 35,000 rows/s), so neither alone is the most a sender could reach.
    floors = {}
    for name, read in (("prepared", read_prepared), ("planned", read_planned)):
        started = time.perf_counter()
        for batch in batches:
            body = batch_body(department.code, read(batch))
            conn.request("POST", "/hooks", body=body, headers={"content-type": "application/json"})
            conn.getresponse().read()
        floors[name] = time.perf_counter() - started
    floor_seconds = min(floors.values())
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/hooks", body=body, headers={"content-type": "application/json"})
        conn.getresponse().read()
    plain_seconds = time.perf_counter() - started
    conn.close()
    return {
        "deliveries": total,
        "sent": sent,
        "per_s": sent / seconds,
        "plain_per_s": total / plain_seconds,
        "ratio": plain_seconds / seconds,
        "floor_per_s": total / floor_seconds,
        "floor_ratio": plain_seconds / floor_seconds,
        "to_floor": floor_seconds / seconds,
        "floor_prepared_per_s": total / floors["prepared"],
        "floor_planned_per_s": total / floors["planned"],
    }


def send_rate(per_round: int, rounds: int = 3) -> dict:
    """Deliveries a second through the real sender against the floor and a plain keep-alive client: rounds of
    `per_round` versions each (one delivery of 150 fields each to one department), medians of the rounds."""
    from django.db import connection

    from core.appendonly import maintenance
    from core.models import Department
    from reporting.delivery import webhooks
    from reporting.models import AccessRecord, AllowedNetwork, Delivery, Endpoint, Subscription

    receiver = Receiver()
    try:
        AllowedNetwork.objects.get_or_create(cidr="127.0.0.1/32")
        department = Department.objects.get(code="prov-dept-00")
        endpoint = Endpoint.objects.create(
            department=department,
            name="bench",
            url=f"http://127.0.0.1:{receiver.port}/hooks",
            secret=webhooks.new_secret(),
        )
        Subscription.objects.filter(department=department).update(endpoint=endpoint)
        versions = [v.pk for v in _versions(per_round * rounds)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_delivery")
            (before,) = cursor.fetchone()
        done = [
            _send_round(endpoint, department, receiver, versions[r * per_round : (r + 1) * per_round])
            for r in range(rounds)
        ]
        Subscription.objects.filter(department=department).update(endpoint=None)
        with maintenance():  # retention, as the schema owner: keep the bench DB small
            AccessRecord.objects.filter(delivery__endpoint=endpoint).delete()
        Delivery.objects.filter(endpoint=endpoint).delete()
        # and the other departments' rows the relay made for these versions (feed rows nobody reads)
        Delivery.objects.filter(version_id__in=versions, id__gt=before).delete()
        endpoint.delete()
    finally:
        receiver.close()
    keys = (
        "per_s",
        "plain_per_s",
        "ratio",
        "floor_per_s",
        "floor_ratio",
        "to_floor",
        "floor_prepared_per_s",
        "floor_planned_per_s",
    )
    return {
        "deliveries": done[0]["deliveries"],
        "sent": done[0]["sent"],
        "rounds": done,
        **{key: statistics.median(r[key] for r in done) for key in keys},
    }


def main(quick: bool) -> dict:
    limit = 100 if quick else 400
    rounds = [create_rate(limit) for _ in range(3)]  # each round: the real statement, then COPY (interleaved)
    create = {key: statistics.median(r[key] for r in rounds) for key in ("rows_per_s", "copy_rows_per_s", "ratio")}
    # sending: more than one batch a round (a single batch's rate was mostly the round's first statements)
    return {"create": {"rows": rounds[0]["rows"], **create}, "send": send_rate(600 if quick else 2000)}
