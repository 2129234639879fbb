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

from core.broker import redis_client
from core.models import User


@require_GET
@never_cache
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers requests (restart it if not). Checks nothing else."""
    return JsonResponse({"status": "alive"})


@require_GET
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness to accept filings: PostgreSQL answers. What a load balancer routes on."""
    if _database_ok():
        return JsonResponse({"status": "ready", "database": True})
    return _unready({"status": "unready", "database": False})


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness, with the broker's state beside it: filings keep working while Redis is away (the outbox
    in PostgreSQL is the truth and the sweep catches up), so a broker outage is "degraded", still a 200."""
    database, broker = _database_ok(), _broker_ok()
    if not database:
        return _unready({"status": "unhealthy", "database": False, "broker": broker})
    return JsonResponse({"status": "healthy" if broker else "degraded", "database": True, "broker": broker})


def _unready(body: dict) -> JsonResponse:
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(settings.ONETABLE_RETRY_AFTER_SECONDS)
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _broker_ok() -> bool:
    timeout = min(1, settings.REDIS_SOCKET_TIMEOUT)  # a hung broker must not hang the health page
    try:
        return bool(redis_client(timeout=timeout).ping())
    except redis.RedisError:
        return False


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its own place."""
    user = request.user
    assert isinstance(user, User)  # login_required
    if user.is_cadre:
        return redirect("cadre_home")
    if user.is_department_user:
        return redirect("department_home")
    if user.is_office_admin:
        return redirect("office_requests")
    return render(request, "home.html", {})
