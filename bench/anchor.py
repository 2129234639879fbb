"""The submit benchmark's two reference views, mounted only by the benchmarks' URLconf (bench/urls.py,
in bench.settings: the benchmark's own server).

- `anchor`: a bare Django view that parses the same JSON body and stores it with one SQL statement.
- `floor`: what DESIGN.md invariant 4 (as issue 21 changed it) obliges a filing to write, and nothing else:
  the idempotency key claimed and answered, the submission, its version, its relay marker and the audit
  event, in one transaction, through OneTable's own statements. No token, no validation, no carried
  values, no DRF. The unit, its area and the filing user come in headers the benchmark prepared. Its rate
  is the most a filing made of these statements could reach on this stack, so its ratio to the anchor
  bounds the submit ratio from above.
"""

import json

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from core.audit import record
from core.models import Area, Unit, User
from reporting.catalogue.periods import Period
from reporting.filing import idempotency
from reporting.filing.onetable import active_sheet, read_sheet_catalogue
from reporting.services.relay import queue_versions
from reporting.services.submissions import Answers, _first_submission, _new_version


@csrf_exempt
def anchor(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_anchor (body) VALUES (%s) RETURNING id", [json.dumps(body)])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    user = User(pk=int(request.headers["X-Bench-User"]))
    unit = Unit(pk=int(request.headers["X-Bench-Unit"]), area=Area(path=request.headers["X-Bench-Area"]))
    values = body["values"]
    with transaction.atomic():
        claim = idempotency.claim_key(user=user, key=request.headers["Idempotency-Key"], fingerprint="")
        sheet = active_sheet(body["sheet"])
        period = Period.parse(body["period"])
        catalogue, snapshot = read_sheet_catalogue(sheet)
        submission = _first_submission(unit, sheet, period)
        answers = Answers(
            values=values,
            not_applicable={},
            carried=[],
            asked_count=len(values),
            typed_count=len(values),
            department_count=len({claim.department_id for _, claim in catalogue.claims}),
            refills_spared=0,
        )
        version = _new_version(submission, 1, answers, user)
        queue_versions([version.pk], snapshot=snapshot)
        record(action="submission.submitted", target=submission, actor=user, period=str(period), version=1)
        answer = {"id": submission.pk, "version": 1}
        idempotency.finish_key(claim, status=201, body=answer)
    return JsonResponse(answer, status=201)


urlpatterns = [path("bench/anchor", anchor), path("bench/floor", floor)]
