"""Site-wide views: health, the home page that sends each role to its place."""

from __future__ import annotations

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 only when PostgreSQL and the Redis broker both answer."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse({"status": "healthy" if healthy else "unhealthy", **checks}, status=200 if healthy else 503)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _broker_ok() -> bool:
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        return bool(client.ping())
    except redis.RedisError:
        return False


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its own place."""
    if request.user.is_cadre:
        return redirect("cadre_home")
    if request.user.is_department_user:
        return redirect("department_home")
    if request.user.is_office_admin:
        return redirect("office_requests")
    return render(request, "home.html", {})
