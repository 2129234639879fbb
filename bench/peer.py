"""A peer's pattern (issue 21): the fan-out most Django projects write, beside OneTable's relay and sender.

KoBoToolbox's REST services and most Django projects deliver a saved record this way: after the save commits,
one Celery task per (record, subscriber), each making one HTTP POST of that record to that subscriber. Here:
`peer_submit` wraps OneTable's real submit view (the same filing, the same 2xx) and, once it answered 2xx,
publishes one `bench.peer.post` task per subscription in force with a field of the sheet; each task reads the
version and the subscription's fields, restricts the values and posts them, on a new connection, to the
department's receiver. No batching, no lease, no record of what was delivered. Benchmark 2 (bench/delivered.py)
runs it on the same Celery worker, the same receivers and the same filings as OneTable's pipeline.

Mounted only by bench/urls.py; the worker imports this module with `-I bench.peer`.
"""

from __future__ import annotations

import http.client
import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.celery import SEND, app

TASK = "bench.peer.post"


@csrf_exempt
def peer_submit(request: HttpRequest) -> HttpResponse:
    """The real filing; after its 2xx, one task per subscriber (what a post_save + on_commit hook publishes)."""
    from reporting.api.unit import SubmissionsView
    from reporting.models import Subscription, SubscriptionStatus

    port = request.headers["X-Bench-Peer-Port"]
    response = SubmissionsView.as_view()(request)
    if not 200 <= response.status_code < 300:
        return response
    answer = response.data  # type: ignore[attr-defined]
    version = _version_id(answer["id"], answer["version"])
    subscribers = (
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE, fields__sheet__code=answer["sheet"], department__code__in=_hooked()
        )
        .values_list("pk", "department__code")
        .distinct()
    )
    for subscription, department in subscribers:
        url = f"http://127.0.0.1:{port}/hooks/{department}"
        app.send_task(TASK, args=[version, subscription, url], queue=SEND)  # where OneTable's sending goes
    return response


def _version_id(submission: int, number: int) -> int:
    from reporting.models import SubmissionVersion

    return SubmissionVersion.objects.values_list("pk", flat=True).get(submission_id=submission, number=number)


def _hooked() -> list[str]:
    """The departments receiving webhooks in benchmark 2 (the last four read the feed)."""
    from bench.delivered import FEED_READERS
    from core.models import Department

    departments = Department.objects.filter(code__startswith="prov-dept-").order_by("code")
    codes = list(departments.values_list("code", flat=True))
    return codes[:-FEED_READERS]


@app.task(name=TASK, bind=True, max_retries=5)
def post(self, version: int, subscription: int, url: str) -> None:  # type: ignore[no-untyped-def]
    """One record to one subscriber: read, restrict, POST; retried on failure."""
    from reporting.models import SubmissionVersion, Subscription

    row = SubmissionVersion.objects.select_related("submission__unit__area").get(pk=version)
    fields = set(Subscription.objects.get(pk=subscription).fields.values_list("code", flat=True))
    item = {
        "unit": {"code": row.submission.unit.area.code},
        "period": str(row.submission.period),
        "values": {k: v for k, v in row.values.items() if k in fields},
    }
    body = json.dumps({"deliveries": [item]}).encode()
    host, _, path = url.removeprefix("http://").partition("/")
    name, port = host.split(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=10)
    try:
        conn.request("POST", "/" + path, body=body, headers={"content-type": "application/json"})
        status = conn.getresponse().status
    except OSError as error:
        raise self.retry(exc=error, countdown=2) from error
    finally:
        conn.close()
    if status >= 300:
        raise self.retry(countdown=2)
