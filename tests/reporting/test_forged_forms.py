"""A forged or broken form (an id that is not a number, a missing field, an overlong token) is answered
like any id the user may not see, or as bad input by name; never with a server error, and nothing changes.
Found by posting hostile values to every page; each of these was a server error."""

from __future__ import annotations

import pytest

from core.models import ApiToken
from core.tokens import department_system_user, issue_token
from reporting.models import ClosureLog, DueException, Field, Submission

NOT_IDS = ["x", "-1", "1.5", "99999999999999999999", "１２"]


@pytest.mark.parametrize("value", NOT_IDS)
@pytest.mark.parametrize(
    ("persona", "url", "form"),
    [
        ("office_admin", "/office/catalogue/", {"action": "retire_field", "field": "{v}", "reason": "r"}),
        ("office_admin", "/office/catalogue/", {"action": "retire_sheet", "sheet": "{v}", "reason": "r"}),
        ("office_admin", "/office/catalogue/", {"action": "change", "field": "{v}", "constraints": "{{}}"}),
        ("propaganda_analyst", "/department/replay/", {"delivery": "{v}"}),
        ("propaganda_analyst", "/department/tokens/", {"revoke": "{v}"}),
        ("propaganda_analyst", "/department/notices/", {"flag": "{v}", "reason": "r"}),
    ],
)
def test_an_id_that_is_not_one_is_a_404_and_changes_nothing(client, request, persona, url, form, value):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    if user.department_id:  # a token the revoke form could reach if the id were misread
        issue_token(user=department_system_user(department=user.department), name="kept")
    before = (ClosureLog.objects.count(), Field.objects.filter(retired_from__isnull=False).count())
    response = client.post(url, {key: text.format(v=value) for key, text in form.items()})
    assert response.status_code == 404
    assert (ClosureLog.objects.count(), Field.objects.filter(retired_from__isnull=False).count()) == before
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()


def test_a_calendar_exception_for_a_sheet_that_is_not_one_is_named(client, office_admin):
    client.force_login(office_admin)
    form = {"action": "exception", "sheet": "x", "period": "202701", "due_on": "2027-02-12", "reason": "春节"}
    response = client.post("/office/calendar/", form)
    assert response.status_code == 400 and not DueException.objects.exists()
    assert "表：没有这张表，请从列表中选择" in response.content.decode()
    assert "Sheet: no such sheet; choose one from the list" in response.content.decode()


def test_an_overlong_form_token_still_files_once(client, village_cadre):
    client.force_login(village_cadre)
    values = {
        "activity_date": "2026-11-08",
        "activity_title": "村晚",
        "activity_venue": "文化广场",
        "activity_category": "performance",
        "attendance": "120",
    }
    form = {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": "t" * 5000}
    assert client.post("/ledger/cultural_activity/new/", form).status_code == 302
    assert Submission.objects.filter(sheet__code="cultural_activity", unit=village_cadre.unit).count() == 1
