"""The anchor for the submit benchmark: a bare Django view that parses the same JSON body and stores it
with one SQL statement. Mounted only when ONETABLE_BENCH_ANCHOR=1 (the benchmark's own server)."""

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def anchor(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_anchor (body) VALUES (%s) RETURNING id", [json.dumps(body)])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [path("bench/anchor", anchor)]
