"""Pages for department staff: their subscriptions and the state of every delivery to them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.access import access_department
from reporting.models import Delivery, DeliveryStatus, Endpoint
from reporting.services import deliveries


@login_required
def department_home(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    counts: dict[int | None, dict[str, int]] = {}
    for row in Delivery.objects.filter(department=department).values("endpoint_id", "status").annotate(n=Count("id")):
        counts.setdefault(row["endpoint_id"], {})[row["status"]] = row["n"]
    endpoints = [(e, counts.get(e.pk, {})) for e in department.endpoints.order_by("pk")]
    subscriptions = department.subscriptions.select_related("scope", "endpoint").annotate(field_count=Count("fields"))
    dead = (
        Delivery.objects.filter(department=department, status=DeliveryStatus.DEAD)
        .select_related("submission__unit", "submission__sheet")
        .order_by("-id")[:100]
    )
    return render(
        request,
        "department/home.html",
        {
            "department": department,
            "endpoints": endpoints,
            "feed_counts": counts.get(None, {}),
            "subscriptions": subscriptions,
            "dead": dead,
        },
    )


@login_required
@require_POST
def replay(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    chosen = Delivery.objects.filter(department=department)
    if request.POST.get("delivery"):
        chosen = chosen.filter(pk=request.POST["delivery"])
    count = deliveries.replay(deliveries=chosen)
    messages.success(request, _("%(n)d deliveries will be sent again.") % {"n": count})
    return redirect("department_home")


@login_required
@require_POST
def endpoint_active(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    endpoint = Endpoint.objects.filter(pk=pk, department=department).first()
    if endpoint is None:
        raise Http404
    deliveries.set_endpoint_active(endpoint=endpoint, active=request.POST.get("active") == "1")
    return redirect("department_home")
