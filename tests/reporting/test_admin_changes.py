"""Django admin shows subscriptions and the due-date calendar but never changes them: their changes have services
that check and audit them (a subscription edited in the admin pushed one department's data to another's
endpoint, unaudited)."""

from __future__ import annotations

import pytest

from core.models import User
from reporting.models import DueRule, Endpoint, Subscription
from reporting.services.deliveries import create_endpoint


@pytest.fixture
def root(client, demo):
    client.force_login(User.objects.create_superuser("root", password="not-a-demo-password"))
    return client


def test_a_subscription_is_shown_but_never_changed_in_the_admin(root):
    culture = Subscription.objects.filter(department__code="culture").first()
    civil_endpoint = create_endpoint(
        endpoint=Endpoint(
            department=Subscription.objects.filter(department__code="civil").first().department,
            name="civil",
            url="http://127.0.0.1:9/hook",
        ),
        by=None,
    )
    page = root.get(f"/admin/reporting/subscription/{culture.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    answer = root.post(
        f"/admin/reporting/subscription/{culture.pk}/change/",
        {"endpoint": civil_endpoint.pk, "department": culture.department_id, "purpose": culture.purpose},
    )
    assert answer.status_code == 403
    culture.refresh_from_db()
    assert culture.endpoint_id is None
    assert root.get("/admin/reporting/subscription/add/").status_code == 403
    assert root.post(f"/admin/reporting/subscription/{culture.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Subscription.objects.filter(pk=culture.pk).exists()


def test_the_due_date_calendar_is_changed_only_on_the_office_calendar(root):
    rule = DueRule.objects.first()
    days = rule.days_after_period_end
    answer = root.post(
        f"/admin/reporting/duerule/{rule.pk}/change/", {"cadence": rule.cadence, "days_after_period_end": days + 30}
    )
    assert answer.status_code == 403
    rule.refresh_from_db()
    assert rule.days_after_period_end == days
    assert root.get("/admin/reporting/dueexception/add/").status_code == 403


def test_an_audit_event_is_never_added_in_the_admin(root):
    from core.models import AuditEvent

    before = AuditEvent.objects.count()
    assert root.get("/admin/core/auditevent/add/").status_code == 403
    forged = root.post("/admin/core/auditevent/add/", {"action": "forged.event", "target_type": "x", "target_id": "1"})
    assert forged.status_code == 403
    assert AuditEvent.objects.count() == before and not AuditEvent.objects.filter(action="forged.event").exists()
