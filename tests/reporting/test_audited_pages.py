"""Changes made from the pages and the API leave their audit event, naming who made them; refused ones leave none."""

from __future__ import annotations

import datetime as dt
import json
import re

from rest_framework.test import APIClient

from core.models import AuditEvent
from core.tokens import department_system_user, issue_token
from reporting.models import DueException, DueRule, Endpoint, Sheet, Subscription
from reporting.services.deliveries import create_endpoint


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_it_audits_the_offices_calendar_edits_and_not_a_refused_one(client, office_admin):
    client.force_login(office_admin)
    client.post("/office/calendar/", {"action": "rules", "days_monthly": "7", "days_quarterly": "12"})
    changed = {e.detail["cadence"]: (e.detail["was"], e.detail["days"]) for e in events("calendar.rule_set")}
    assert DueRule.objects.get(cadence="monthly").days_after_period_end == 7
    assert changed["monthly"] == (5, 7) and "quarterly" in changed
    assert {e.actor_id for e in events("calendar.rule_set")} == {office_admin.pk}

    sheet = Sheet.objects.get(code="township_monthly")
    refused = client.post(
        "/office/calendar/",
        {"action": "exception", "sheet": sheet.pk, "period": "202701", "due_on": "2027-01-20", "reason": ""},
    )
    assert refused.status_code == 400 and not DueException.objects.exists()
    assert events("calendar.exception_set") == []
    saved = client.post(
        "/office/calendar/",
        {"action": "exception", "sheet": sheet.pk, "period": "202701", "due_on": "2027-02-12", "reason": "春节假期"},
    )
    assert saved.status_code == 302
    [event] = events("calendar.exception_set")
    assert event.actor_id == office_admin.pk and event.target_id == str(DueException.objects.get().pk)
    assert event.detail == {
        "sheet": "township_monthly",
        "period": "202701",
        "due_on": str(dt.date(2027, 2, 12)),
        "was": None,
        "reason": "春节假期",
    }


def _endpoint(department_code: str) -> Endpoint:
    subscriptions = Subscription.objects.filter(department__code=department_code)
    endpoint = create_endpoint(
        endpoint=Endpoint(department=subscriptions[0].department, name="sys", url="http://127.0.0.1:9/"), by=None
    )
    subscriptions.update(endpoint=endpoint)
    return endpoint


def test_it_audits_an_analyst_pausing_and_resuming_an_endpoint_on_the_page(client, propaganda_analyst):
    endpoint = _endpoint("propaganda")
    client.force_login(propaganda_analyst)
    assert client.post(f"/department/endpoints/{endpoint.pk}/active/", {"active": "0"}).status_code == 302
    assert not Endpoint.objects.get(pk=endpoint.pk).active
    [paused] = events("endpoint.paused")
    assert (paused.actor_id, paused.target_type, paused.target_id) == (
        propaganda_analyst.pk,
        "reporting.endpoint",
        str(endpoint.pk),
    )
    client.post(f"/department/endpoints/{endpoint.pk}/active/", {"active": "1"})
    assert [e.actor_id for e in events("endpoint.resumed")] == [propaganda_analyst.pk]


def test_it_audits_a_department_system_pausing_its_endpoint_through_the_api(propaganda_analyst):
    endpoint = _endpoint("propaganda")
    system = department_system_user(department=propaganda_analyst.department)
    _row, token = issue_token(user=system, name="t", by=propaganda_analyst)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.post(f"/api/v1/endpoints/{endpoint.pk}/active", {"active": False}, format="json").status_code == 200
    assert [e.actor_id for e in events("endpoint.paused")] == [system.pk]
    [issued] = events("token.issued")
    assert issued.actor_id == propaganda_analyst.pk and token[3:] not in str(issued.detail)


def test_another_department_cannot_pause_it_and_nothing_is_audited(client, culture_analyst):
    endpoint = _endpoint("propaganda")
    client.force_login(culture_analyst)
    assert client.post(f"/department/endpoints/{endpoint.pk}/active/", {"active": "0"}).status_code == 404
    assert Endpoint.objects.get(pk=endpoint.pk).active and events("endpoint.paused") == []


def test_it_audits_tokens_issued_and_revoked_on_the_tokens_page_without_their_value(client, culture_analyst):
    client.force_login(culture_analyst)
    page = client.post("/department/tokens/", {"name": "数据中台", "days": "30"}).content.decode()
    [issued] = events("token.issued")
    [shown] = re.findall(r"ot_[A-Za-z0-9_-]{43}", page)  # shown once on the page, never written to the audit
    assert issued.actor_id == culture_analyst.pk and issued.detail["name"] == "数据中台"
    assert shown[3:10] not in json.dumps(issued.detail, ensure_ascii=False)
    client.post("/department/tokens/", {"revoke": issued.target_id})
    [revoked] = events("token.revoked")
    assert (revoked.actor_id, revoked.target_id) == (culture_analyst.pk, issued.target_id)


def test_it_audits_an_export_requested_on_the_data_page(client, culture_analyst):
    client.force_login(culture_analyst)
    response = client.post("/department/exports/?sheet=village_basics", {"format": "xlsx"})
    assert response.status_code == 302
    [requested] = events("export.requested")
    assert requested.actor_id == culture_analyst.pk and requested.detail["format"] == "xlsx"
    assert requested.detail["sheet"] == "village_basics"
