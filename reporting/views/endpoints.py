"""A department's own webhook endpoints: listed, added, their secret rotated; each secret shown once."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import access_department, signed_in
from core.problems import labelled
from reporting.access import access_endpoint
from reporting.models import Endpoint
from reporting.rejections import Problems
from reporting.services import endpoints
from reporting.services.endpoints import Secret


def _page(request: HttpRequest, department, *, typed=None, problems=None) -> HttpResponse:
    rows = [
        (e, endpoints.secret_hint(e.secret), e.previous_secret_expires_at if _overlapping(e) else None)
        for e in Endpoint.objects.filter(department=department).order_by("name", "pk")
    ]
    return render(
        request,
        "department/endpoints.html",
        {
            "department": department,
            "rows": rows,
            "now": timezone.now(),
            "typed": typed or {},
            "problems": problems or [],
        },
        status=400 if problems else 200,
    )


def _overlapping(endpoint: Endpoint) -> bool:
    expires = endpoint.previous_secret_expires_at
    return bool(endpoint.previous_secret and expires and expires > timezone.now())


ONCE = "onetable:endpoint-secret-once"  # the session key of the secret to show on the next page, once


def _shown_once(request: HttpRequest, secret: Secret, *, created: bool) -> HttpResponse:
    """Post, redirect, get: the answer to the POST sends the browser to the secret's page, which shows it once
    (taken out of the session as it is shown). Reloading that page shows it no more, and reloads no POST: a
    reload of the POST's own answer added a second endpoint or rotated again."""
    until = secret.previous_valid_until
    request.session[ONCE] = {
        "endpoint": secret.endpoint.pk,
        "secret": secret.secret,
        "until": until.isoformat() if until else None,
        "created": created,
    }
    return redirect("department_endpoint_secret", pk=secret.endpoint.pk)


@login_required
def endpoint_secret(request: HttpRequest, pk: int) -> HttpResponse:
    """The secret just made for one of the department's endpoints, once; afterwards only that it was shown."""
    department = access_department(request.user)
    endpoint = access_endpoint(department, pk)
    once = request.session.get(ONCE)
    shown = None
    if once and once.get("endpoint") == endpoint.pk:
        del request.session[ONCE]
        until = once["until"]
        shown = Secret(endpoint, once["secret"], dt.datetime.fromisoformat(until) if until else None)
    response = render(
        request,
        "department/endpoint_secret.html",
        {"department": department, "endpoint": endpoint, "shown": shown, "created": bool(once and once["created"])},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """The department's endpoints; a POST adds one, its URL checked against the office's allowed networks."""
    department = access_department(request.user)
    if request.method != "POST":
        return _page(request, department)
    typed = {"name": request.POST.get("name", ""), "url": request.POST.get("url", "")}
    try:
        added = endpoints.add_endpoint(department=department, **typed, by=signed_in(request.user))
    except Problems as error:
        return _page(request, department, typed=typed, problems=labelled(error.problems, endpoints.LABELS))
    return _shown_once(request, added, created=True)


@login_required
@require_POST
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """A new secret for one of the department's endpoints; the old one signs too for a day."""
    department = access_department(request.user)
    endpoint = access_endpoint(department, pk)
    return _shown_once(
        request, endpoints.rotate_endpoint_secret(endpoint=endpoint, by=signed_in(request.user)), created=False
    )
