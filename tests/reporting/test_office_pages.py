import datetime as dt
from html import unescape

import pytest
import time_machine

from core.models import AuditEvent
from reporting.models import (
    ClosureLog,
    DueException,
    DueRule,
    Field,
    Notice,
    Subscription,
    SubscriptionStatus,
    ZombieFlag,
)
from reporting.rejections import Problems
from reporting.services.calendar import set_due_rules
from reporting.services.catalogue import zombie_check
from tests.reporting.helpers import REQUEST_FORM, form_of, text_of


def _change_form(html: str, code: str) -> dict[str, list[str]]:
    """The catalogue's change form of one field, as the page shows it."""
    row = html[html.index(f'<span class="muted">{code}') :]
    return form_of(row[: row.index("</tr>")], "field")


def test_the_catalogue_page_shows_definitions_users_and_flags(client, office_admin):
    zombie_check(today=dt.date(2026, 11, 22))
    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    assert "户籍人口" in html and "青山县民政局" in html and "青山县统计局" in html
    assert 'id="zombies"' in html and "网格员人数" in html  # unused field flagged


def test_the_office_retires_a_flagged_field_and_it_is_logged(client, office_admin):
    client.force_login(office_admin)
    grid = Field.objects.get(code="grid_workers")
    response = client.post("/office/catalogue/", {"action": "retire_field", "field": grid.pk, "reason": "无部门使用"})
    assert response.status_code == 302
    assert Field.objects.get(pk=grid.pk).retired_from is not None
    assert ClosureLog.objects.filter(kind="field", by=office_admin).exists()


def test_a_retroactive_definition_change_is_refused_by_name(client, office_admin):
    client.force_login(office_admin)
    squares = Field.objects.get(code="culture_squares")
    response = client.post(
        "/office/catalogue/",
        {"action": "change", "field": squares.pk, "period": "2020Q1", "integer_max": "5", "reason": "x"},
    )
    assert response.status_code == 400
    assert "a definition change can only apply from a period not yet begun" in response.content.decode()
    assert Field.objects.get(pk=squares.pk).constraints["max"] == 100


def test_the_calendar_saved_as_shown_records_nothing_and_says_nothing_changed(client, office_admin):
    client.force_login(office_admin)
    shown = form_of(client.get("/office/calendar/").content.decode(), "lock_ledger")
    assert shown["lock_ledger"] == [""]  # the demo has no ledger rule: its lock input is empty
    before = (list(DueRule.objects.values().order_by("cadence")), AuditEvent.objects.count())
    page = client.post("/office/calendar/", shown)
    assert page.status_code == 400
    said = text_of(page.content.decode())
    assert "日历规则没有任何修改，未保存" in said and "nothing changed" in said
    assert (list(DueRule.objects.values().order_by("cadence")), AuditEvent.objects.count()) == before
    with pytest.raises(Problems):  # the service alike: the quarterly rule as it is
        set_due_rules(days={"quarterly": 10}, leads={"quarterly": 0}, locks={"ledger": None}, by=office_admin)
    assert AuditEvent.objects.count() == before[1]
    # one change is stored and recorded once, the rules left as they were are not
    client.post("/office/calendar/", {**shown, "days_monthly": ["7"]})
    assert DueRule.objects.get(cadence="monthly").days_after_period_end == 7
    assert list(AuditEvent.objects.filter(action="calendar.rule_set").values_list("detail__cadence", flat=True)) == [
        "monthly"
    ]


def test_the_office_sets_the_calendar_and_bad_input_is_named(client, office_admin):
    client.force_login(office_admin)
    client.post(
        "/office/calendar/", {"action": "rules", "days_monthly": "7", "days_quarterly": "12", "days_yearly": "40"}
    )
    assert DueRule.objects.get(cadence="monthly").days_after_period_end == 7
    from reporting.models import Sheet

    sheet = Sheet.objects.get(code="township_monthly")
    bad = client.post(
        "/office/calendar/",
        {"action": "exception", "sheet": sheet.pk, "period": "2027Q1", "due_on": "2027-01-15", "reason": ""},
    )
    html = bad.content.decode()
    assert bad.status_code == 400 and "the period must be monthly" in html and "Reason: is required" in html
    ok = client.post(
        "/office/calendar/",
        {"action": "exception", "sheet": sheet.pk, "period": "202701", "due_on": "2027-02-12", "reason": "春节假期"},
    )
    assert ok.status_code == 302 and DueException.objects.get().due_on == dt.date(2027, 2, 12)


@pytest.mark.parametrize("persona", ["village_cadre", "propaganda_analyst"])
def test_only_the_office_reaches_its_pages(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    for url in ("/office/catalogue/", "/office/calendar/", "/office/requests/"):
        assert client.get(url).status_code == 404
    assert client.post("/office/calendar/", {"action": "rules", "days_monthly": "1"}).status_code == 404
    assert DueRule.objects.get(cadence="monthly").days_after_period_end == 5


def test_a_department_keeps_a_flagged_subscription_by_saying_why(client, stats_user, civil_analyst):
    zombie_check(today=dt.date(2026, 11, 22))
    flag = ZombieFlag.objects.get(subscription__department__code="stats")
    client.force_login(civil_analyst)
    assert client.post("/department/notices/", {"flag": flag.pk, "reason": "x"}).status_code == 404  # not theirs
    client.force_login(stats_user)
    refused = client.post("/department/notices/", {"flag": flag.pk, "reason": " "})
    assert refused.status_code == 400 and "Reason: is required" in refused.content.decode()
    assert client.post("/department/notices/", {"flag": flag.pk, "reason": "年报季使用"}).status_code == 302
    assert ZombieFlag.objects.get(pk=flag.pk).confirm_reason == "年报季使用"
    zombie_check(today=dt.date(2027, 1, 1))
    assert Subscription.objects.get(department__code="stats").status == SubscriptionStatus.ACTIVE


def test_the_catalogue_reads_each_definition_in_words_not_as_code(client, office_admin):
    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    row = html[html.index("registered_population") :]
    row = row[: row.index("</tr>")]
    assert "必填 · 0 至 1,000,000" in row
    assert "{&#x27;" not in html and "&#x27;required&#x27;" not in html  # no Python dict shown as the definition
    assert "选项：城郊融合类、集聚提升类" in html  # village_type's choices by name
    # still editable, in an input per rule of its type (not as JSON)
    form = _change_form(html, "registered_population")
    assert (form["required"], form["integer_min"], form["integer_max"]) == (["1"], ["0"], ["1000000"])
    assert "constraints" not in form and "{" not in unescape(row)


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_the_office_changes_a_definition_through_the_inputs_of_its_type(client, office_admin):
    client.force_login(office_admin)
    form = _change_form(client.get("/office/catalogue/").content.decode(), "registered_population")
    refused = client.post(
        "/office/catalogue/",
        {**form, "action": "change", "integer_max": "一百万", "period": "2027Q1", "reason": "扩容"},
    )
    assert refused.status_code == 400
    said = text_of(refused.content.decode(), 'role="alert"', "</div>")
    assert "户籍人口 · 最大值：须为整数 / Registered population · Maximum: must be a whole number" in said
    assert "constraints" not in said and "integer_max" not in said
    kept = _change_form(refused.content.decode(), "registered_population")
    assert (kept["integer_max"], kept["period"], kept["reason"]) == (["一百万"], ["2027Q1"], ["扩容"])
    assert Field.objects.get(code="registered_population").constraints["max"] == 1000000

    kept["integer_max"] = ["2,000,000"]
    ok = client.post("/office/catalogue/", {**kept, "action": "change"})
    assert ok.status_code == 302, text_of(ok.content.decode(), 'role="alert"', "</div>")
    assert Field.objects.get(code="registered_population").constraints == {"required": True, "min": 0, "max": 2000000}


def test_every_office_page_shows_the_office_navigation(client, office_admin, stats_user):
    from reporting.models import DataRequest

    client.force_login(stats_user)
    client.post("/department/requests/new/", REQUEST_FORM)
    request = DataRequest.objects.get()
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    pages = [
        "/office/requests/",
        f"/office/requests/{request.pk}/",
        "/office/catalogue/",
        "/office/calendar/",
        "/office/indicators/",
        "/office/rules/",
    ]
    for url in [*pages, "/burden/", "/closures/"]:
        nav = text_of(client.get(url).content.decode(), '<nav class="subnav">', "</nav>")
        assert nav == "用数申请 数据目录 指标 校验规则 报送日历 汇总公开门槛 减负成效 关停记录", url
    client.logout()
    assert '<nav class="subnav">' not in client.get("/burden/").content.decode()  # a public page, for anyone


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_saving_any_fields_change_form_as_shown_keeps_its_definition(client, office_admin):
    from reporting.services.catalogue import first_open

    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    # one field of each shape of definition in the demo catalogue: each type with each set of rules it uses
    shapes = {(f.type, frozenset(f.constraints)): f for f in Field.objects.filter(retired_from__isnull=True)}
    fields = list(shapes.values())
    assert {f.type for f in fields} >= {"integer", "decimal", "text", "choice", "multi_choice", "date", "boolean"}
    for field in fields:
        form = _change_form(html, field.code)
        form |= {"action": "change", "period": str(first_open(field.sheet.period_type)), "reason": "核对"}
        response = client.post("/office/catalogue/", form)
        # the form as shown is the definition as stored: saving it changes nothing, and is refused as such (a
        # form that lost or altered a rule would be saved as a change)
        said = text_of(response.content.decode(), 'role="alert"', "</div>")
        assert response.status_code == 400 and "nothing changed" in said, (field.code, said)
        stored = {k: v for k, v in field.constraints.items() if not (k == "required" and v is False)}
        assert Field.objects.get(pk=field.pk).constraints == stored, field.code


def test_a_flagged_field_is_retired_once_its_flag_closed_and_a_second_retirement_refused(client, office_admin):
    zombie_check(today=dt.date(2026, 11, 22))
    grid = Field.objects.get(code="grid_workers")
    flag = ZombieFlag.objects.get(field=grid, closed_on__isnull=True)
    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    assert f'name="flag" value="{flag.pk}"' in html  # the flag's button posts the flag, not a field and a reason
    assert client.post("/office/catalogue/", {"action": "retire_flagged", "flag": flag.pk}).status_code == 302
    retired_from = Field.objects.get(pk=grid.pk).retired_from
    assert retired_from is not None
    assert ZombieFlag.objects.get(pk=flag.pk).closed_on is not None  # the flag and its button are gone
    html = client.get("/office/catalogue/").content.decode()
    assert f'name="flag" value="{flag.pk}"' not in html
    notices = Notice.objects.count()
    # the closed flag's button posted again: not found; the field posted by hand again: refused by name
    assert client.post("/office/catalogue/", {"action": "retire_flagged", "flag": flag.pk}).status_code == 404
    response = client.post("/office/catalogue/", {"action": "retire_field", "field": grid.pk, "reason": "再停一次"})
    assert response.status_code == 400
    page = unescape(response.content.decode())
    assert "字段“网格员人数”：该字段已自" in page and "cannot be retired again" in page
    assert ClosureLog.objects.filter(kind="field", object_id=grid.pk).count() == 1
    assert Notice.objects.count() == notices
    assert Field.objects.get(pk=grid.pk).retired_from == retired_from


def test_the_flag_button_retires_only_an_unused_field_flag(client, office_admin):
    zombie_check(today=dt.date(2026, 11, 22))
    client.force_login(office_admin)
    other = ZombieFlag.objects.exclude(kind="unused_field").first()
    for forged in ("abc", "-1", str(other.pk) if other else "0"):
        response = client.post("/office/catalogue/", {"action": "retire_flagged", "flag": forged})
        assert response.status_code == 404
    assert not ClosureLog.objects.filter(kind="field").exists()


def test_the_closure_log_says_the_kind_and_the_rule_s_reason_in_the_reader_s_language(client, office_admin):
    zombie_check(today=dt.date(2026, 11, 22))
    flag = ZombieFlag.objects.get(field__code="grid_workers", closed_on__isnull=True)
    client.force_login(office_admin)
    client.cookies["django_language"] = "en"  # the daily check's flags, named in the reader's language
    zombies = text_of(client.get("/office/catalogue/").content.decode())
    zombies = zombies[zombies.index("Flagged by the daily check") :]
    assert "Grid workers (grid_workers)" in zombies and "网格员人数" not in zombies[:2000]
    client.cookies["django_language"] = "zh-hans"
    client.post("/office/catalogue/", {"action": "retire_flagged", "flag": flag.pk})
    entry = ClosureLog.objects.get(kind="field")
    assert entry.reason == "没有有效订阅使用该字段" and entry.rule == "unused_field"
    html = text_of(client.get("/closures/").content.decode())
    assert "字段 · 网格员人数" in html and "field ·" not in html
    assert "没有有效订阅使用该字段" in html and "no active subscription" not in html
    client.cookies["django_language"] = "en"
    html = text_of(client.get("/closures/").content.decode())
    # the field still in the catalogue (retired): named in English, though the log stored its Chinese name
    assert "field · Grid workers (grid_workers)" in html and "no active subscription uses this field" in html
    assert "没有有效订阅" not in html


def test_an_original_definition_is_named_in_chinese_on_the_catalogue(client, office_admin):
    squares = Field.objects.get(code="culture_squares")
    client.force_login(office_admin)
    client.post(
        "/office/catalogue/",
        {"action": "change", "field": squares.pk, "period": "2027Q1", "integer_max": "50", "reason": "新口径"},
    )
    html = client.get("/office/catalogue/").content.decode()
    assert "原始定义" in html and "original definition" not in html
