"""Validation rules across fields and plausibility: the shared semantics, definitions refused whole, and one
rule giving the same outcome through the form, the Excel upload, the unit API and the DHIS2 face."""

from __future__ import annotations

import io
import json
import statistics
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from openpyxl import load_workbook

from core.models import AuditEvent
from core.tokens import issue_token
from reporting.catalogue import rules
from reporting.catalogue.periods import Period
from reporting.filing.baselines import rebuild_baselines
from reporting.models import (
    ExpectedRange,
    Field,
    Sheet,
    Status,
    Submission,
    SubmissionVersion,
    ValidationRule,
    ValidationRuleRevision,
)
from reporting.rejections import Problems
from reporting.services.rules import define_rule, retire_rule, set_expected_range, set_plausibility
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, text_of

CASES = Path(rules.__file__).with_name("rule_cases.json")
HINT_CASES = Path(rules.__file__).with_name("plausibility_cases.json")

RULE = {
    "code": "elderly_within_population",
    "sheet": "village_basics",
    "left": "elderly_over_60",
    "operator": "<=",
    "right": "registered_population",
    "strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "importance": "error",
    "message_zh": "60岁以上人口不能多于户籍人口",
    "message_en": "people over 60 cannot outnumber the registered population",
}


def _cases() -> list[dict]:
    return json.loads(CASES.read_text(), parse_float=Decimal)["cases"]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_python_gives_every_shared_rule_case_its_verdict(case):
    assert rules.evaluate(case["rule"], case["values"]) == case["expected"]


def test_the_shared_cases_cover_every_operator_and_strategy():
    cases = _cases()
    assert {c["rule"]["operator"] for c in cases} == {*rules.OPERATORS, rules.COMPULSORY_PAIR}
    assert {c["rule"]["strategy"] for c in cases} == set(rules.STRATEGIES)
    assert {c["expected"] for c in cases} == {rules.PASS, rules.FAIL, rules.SKIP}


@pytest.mark.parametrize(
    ("changes", "rule", "field"),
    [
        ({"left": "elderly_over_70"}, "formula.unknown", "left"),
        ({"right": "attendance"}, "rule.other_sheet", "right"),  # a field of the ledger: another sheet
        ({"right": "village_type"}, "formula.type", "right"),  # a number compared with a choice
        ({"operator": "~"}, "rule.operator", "operator"),
        ({"operator": "compulsory_pair"}, "rule.condition", "left"),  # a number is no condition
        ({"strategy": "SOMETIMES"}, "rule.strategy", "strategy"),
        ({"message_en": ""}, "required", "message_en"),
        ({"left": "households_per_grid_worker"}, "formula.unknown", "left"),  # no indicators in rules
        ({"left": "elderly_over_60 +"}, "formula.syntax", "left"),
        ({"right": "registered_population / (3 - 3)"}, "formula.division_by_zero", "right"),
        ({"sheet": "cultural_activity"}, "rule.sheet", "sheet"),
    ],
)
def test_a_bad_rule_is_refused_by_name_and_nothing_is_stored(office_admin, changes, rule, field):
    with pytest.raises(Problems) as refused:
        define_rule(office=office_admin.office, definition={**RULE, **changes}, by=office_admin)
    assert (field, rule) in [(p.field, p.rule) for p in refused.value.problems]
    assert all(p.message_zh and p.message_en for p in refused.value.problems)
    assert not ValidationRule.objects.exists() and not ValidationRuleRevision.objects.exists()


def test_a_rule_on_a_retired_field_is_refused(office_admin):
    Field.objects.filter(code="volunteers").update(status="retired")
    with pytest.raises(Problems) as refused:
        define_rule(office=office_admin.office, definition={**RULE, "right": "volunteers"}, by=office_admin)
    assert [p.rule for p in refused.value.problems] == ["rule.retired_field"]
    assert "已停用" in refused.value.problems[0].message_zh


def test_a_rule_code_is_taken_once_and_a_retired_rule_stops_from_the_next_period(office_admin):
    rule = define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    assert rule.fields == ["elderly_over_60", "registered_population"] and rule.numbers == rule.fields
    with pytest.raises(Problems) as refused:
        define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    assert refused.value.problems[0].rule == "rule.code_taken"
    with pytest.raises(Problems):
        retire_rule(rule=rule, reason=" ", by=office_admin)
    day = retire_rule(rule=rule, reason="不再需要", by=office_admin)
    rule.refresh_from_db()
    assert rule.retired_from == day and rule.revisions.count() == 2


@pytest.mark.parametrize("threshold", ["0.5", "10.5", "abc", "3.55", "", "NaN"])
def test_a_threshold_out_of_range_is_refused(office_admin, threshold):
    with pytest.raises(Problems) as refused:
        set_plausibility(threshold=threshold, enabled=True, by=office_admin)
    problem = refused.value.problems[0]
    assert (problem.field, problem.rule) == ("threshold", "plausibility.threshold")
    assert "1.0" in problem.message_zh and "10.0" in problem.message_en


def test_an_expected_range_needs_a_number_field_and_bounds_in_order(office_admin):
    with pytest.raises(Problems) as refused:
        set_expected_range(field=Field.objects.get(code="households"), low="700", high="600", by=office_admin)
    assert [p.rule for p in refused.value.problems] == ["plausibility.range_order"]
    with pytest.raises(Problems) as refused:
        set_expected_range(field=Field.objects.get(code="village_type"), low="1", high="", by=office_admin)
    assert [p.rule for p in refused.value.problems] == ["plausibility.not_number"]


def test_an_expected_range_on_a_retired_field_is_refused_by_name_and_nothing_is_stored(office_admin, client):
    field = Field.objects.get(code="volunteers")
    Field.objects.filter(pk=field.pk).update(status=Status.RETIRED, retired_from="2027-01-01")
    field.refresh_from_db()
    before = (ExpectedRange.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Problems) as refused:
        set_expected_range(field=field, low="0", high="40", by=office_admin)
    problem = refused.value.problems[0]
    assert (problem.field, problem.rule) == ("field", "plausibility.retired_field")
    assert "注册志愿者人数" in problem.message_zh and "已停用" in problem.message_zh
    assert "Registered volunteers" in problem.message_en and "retired" in problem.message_en
    client.force_login(office_admin)  # the page's form, sent with a retired field's id
    page = client.post("/office/rules/", {"action": "range", "field": field.pk, "low": "0", "high": "40"})
    assert page.status_code == 400
    text = text_of(page.content.decode())
    assert "“注册志愿者人数”是已停用的字段，不能设置通常范围" in text
    assert "“Registered volunteers” is a retired field: it cannot be given an expected range" in text
    assert (ExpectedRange.objects.count(), AuditEvent.objects.count()) == before


def test_an_expected_range_beyond_the_fields_own_bounds_is_refused_by_name_and_nothing_is_stored(office_admin):
    before = (ExpectedRange.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Problems) as refused:  # volunteers: 0 to 1,000,000
        set_expected_range(field=Field.objects.get(code="volunteers"), low="-5", high="40", by=office_admin)
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("low", "plausibility.below_min")
    assert problem.message_zh == "下限：不能小于字段“注册志愿者人数”的最小值 0"
    assert problem.message_en == "Lower bound: must not be below the minimum of the field “Registered volunteers”, 0"
    with pytest.raises(Problems) as refused:  # grid workers: 0 to 500
        set_expected_range(field=Field.objects.get(code="grid_workers"), low="1", high="600", by=office_admin)
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("high", "plausibility.above_max")
    assert "网格员人数" in problem.message_zh and "500" in problem.message_zh
    assert "Grid workers" in problem.message_en and "maximum" in problem.message_en
    assert (ExpectedRange.objects.count(), AuditEvent.objects.count()) == before
    # within the field's bounds, as the demo sets them
    assert set_expected_range(field=Field.objects.get(code="grid_workers"), low="0", high="500", by=office_admin)


# --- one rule, four channels ---------------------------------------------------------------------------------


def _form(client, cadre, values, explain=None):
    client.force_login(cadre)
    page = client.get("/fill/village_basics/2026Q4/")
    token = page.context["token"]
    post = {"token": token, "action": "submit", **{f"v__{k}": v for k, v in values.items()}}
    post.update({f"explain__{k}": v for k, v in (explain or {}).items()})
    response = client.post("/fill/village_basics/2026Q4/", post)
    codes = [p.rule for p in response.context["problems"]] if response.status_code == 400 else []
    return response.status_code in (302, 303), codes


def _excel(client, cadre, values, explain=None):
    client.force_login(cadre)
    workbook = load_workbook(io.BytesIO(client.get("/fill/2026Q4/template.xlsx").content))
    ws = workbook[next(n for n in workbook.sheetnames if "村（社区）基本情况" in n)]
    for row in range(2, ws.max_row + 1):
        code = ws.cell(row, 1).value
        if code in values:
            ws.cell(row, 5).value = values[code]
        if code in (explain or {}):
            ws.cell(row, 7).value = explain[code]
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    response = client.post("/fill/2026Q4/upload/", {"file": buffer})
    codes = [p.problem.rule for p in response.context["problems"]] if response.status_code == 400 else []
    return response.status_code == 302, codes


def _api(client, cadre, values, explain=None):
    token = issue_token(user=cadre, name="system")[1]
    body = {"sheet": "village_basics", "period": "2026Q4", "values": values, "explanations": explain or {}}
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/unit/submissions",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    codes = [e["code"] for e in response.json().get("errors", [])]
    return response.status_code == 201, codes


def _dhis2(client, cadre, values, explain=None):
    token = issue_token(user=cadre, name="dhis2")[1]
    body = {
        "period": "2026Q4",
        "orgUnit": cadre.unit.area.code,
        "dataValues": [
            {"dataElement": k, "value": v, **({"comment": explain[k]} if k in (explain or {}) else {})}
            for k, v in values.items()
        ],
    }
    response = Client(HTTP_AUTHORIZATION=f"ApiToken {token}").post(
        "/dhis2/api/dataValueSets", json.dumps(body), content_type="application/json"
    )
    summary = response.json()["response"]
    codes = [c["rule"] for c in summary["conflicts"] if not c.get("warning")]
    return summary["importCount"]["imported"] > 0 and not codes, codes


CHANNELS = {"form": _form, "excel": _excel, "api": _api, "dhis2": _dhis2}


def _stored(cadre) -> SubmissionVersion | None:
    found = Submission.objects.by_units().filter(unit=cadre.unit, period="2026Q4", sheet__code="village_basics")
    return SubmissionVersion.objects.filter(submission__in=found).order_by("-number").first()


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_one_rule_gives_the_same_outcome_through_form_excel_api_and_dhis2(client, village_cadre, office_admin, channel):
    file = CHANNELS[channel]
    define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    warning = {
        **RULE,
        "code": "households_within_population",
        "left": "households * 2",
        "importance": "warning",
        "message_zh": "户数的两倍超过户籍人口",
        "message_en": "twice the households exceed the population",
    }
    define_rule(office=office_admin.office, definition=warning, by=office_admin)
    # an error: refused by the rule's code, nothing stored
    bad = {**VILLAGE_BASICS_Q4, "elderly_over_60": "2500"}
    accepted, codes = file(client, village_cadre, bad)
    assert (accepted, codes) == (False, ["rule.error"])
    assert _stored(village_cadre) is None
    # a warning explained: stored, with the explanation, whatever the channel
    odd = {**VILLAGE_BASICS_Q4, "households": "1200"}
    accepted, codes = file(client, village_cadre, odd, {"households": "新建小区入住，户籍尚未迁入"})
    assert (accepted, codes) == (True, [])
    version = _stored(village_cadre)
    assert version.explanations == {
        "rule:households_within_population": {
            "kind": "rule",
            "fields": ["households", "registered_population"],
            "message_zh": "户数的两倍超过户籍人口",
            "message_en": "twice the households exceed the population",
            "text": "新建小区入住，户籍尚未迁入",
        }
    }


def test_an_unexplained_warning_asks_on_the_form_and_is_stored_through_the_api(client, village_cadre, office_admin):
    define_rule(office=office_admin.office, definition={**RULE, "importance": "warning"}, by=office_admin)
    bad = {**VILLAGE_BASICS_Q4, "elderly_over_60": "2500"}
    accepted, codes = _form(client, village_cadre, bad)
    assert (accepted, codes) == (False, ["rule.warning"])
    assert _stored(village_cadre) is None
    accepted, codes = _api(client, village_cadre, bad)
    assert accepted and _stored(village_cadre).explanations["rule:elderly_within_population"]["text"] == ""


def test_a_rule_whose_field_the_table_does_not_ask_is_not_checked(village_cadre, office_admin):
    # `households` is in the unit's table but a rule on a field no subscription asks of it would never hold
    define_rule(
        office=office_admin.office,
        definition={**RULE, "right": "village_type = 'growing'", "left": "is_tourism_village", "operator": "=="},
        by=office_admin,
    )
    table_codes = set(VILLAGE_BASICS_Q4)
    assert "village_type" not in table_codes
    version = submit_sheet(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=village_cadre,
    )
    assert version.explanations == {}


# --- plausibility ------------------------------------------------------------------------------------------


def _history(cadre, values: list[int]) -> None:
    """Earlier quarters of the unit's village basics, oldest first, ending before 2026Q3 (the demo's)."""
    sheet = Sheet.objects.get(code="village_basics")
    periods = [Period.parse(f"{2023 + (q // 4)}Q{q % 4 + 1}") for q in range(len(values))]
    for period, households in zip(periods, values, strict=True):
        submission = Submission.objects.create(
            unit=cadre.unit, sheet=sheet, period=str(period), period_start=period.start
        )
        SubmissionVersion.objects.create(submission=submission, number=1, values={"households": households}, by=cadre)
    rebuild_baselines(unit_ids=[cadre.unit.pk])  # stored without the filing services


def test_a_value_far_from_the_units_own_history_is_a_warning_with_the_earlier_values(api_client_for, village_cadre):
    _history(village_cadre, [600, 604, 598, 610, 602, 606, 599, 601, 603])
    response = api_client_for(village_cadre, {**VILLAGE_BASICS_Q4, "households": "6100"})
    assert response.status_code == 201  # a hint: never a refusal
    warning = response.json()["warnings"]["plausibility:households"]
    assert warning["fields"] == ["households"] and "610" in warning["message_zh"]
    assert "far from this unit's earlier values" in warning["message_en"]


def test_a_usual_value_and_another_units_figures_raise_nothing(api_client_for, village_cadre, township_cadre):
    _history(village_cadre, [600, 604, 598, 610, 602, 606, 599, 601, 603])
    _history(township_cadre, [6000, 6100, 5900, 6050])  # never compared with the village's
    response = api_client_for(village_cadre, {**VILLAGE_BASICS_Q4, "households": "612"})
    assert response.json()["warnings"] == {}


def test_the_office_threshold_and_range_decide(api_client_for, village_cadre, office_admin):
    _history(village_cadre, [600, 604, 598, 610, 602, 606, 599, 601, 603])
    set_plausibility(threshold="10.0", enabled=True, by=office_admin)
    set_expected_range(field=Field.objects.get(code="volunteers"), low="0", high="40", by=office_admin)
    response = api_client_for(village_cadre, {**VILLAGE_BASICS_Q4, "households": "620"})
    warnings = response.json()["warnings"]
    assert list(warnings) == ["plausibility:volunteers"]  # 48 volunteers: above the range; 620 households: z ≈ 6 < 10
    assert "0～40" in warnings["plausibility:volunteers"]["message_zh"]


def _hint_cases() -> list[dict]:
    return json.loads(HINT_CASES.read_text())["cases"]


@pytest.mark.parametrize("case", _hint_cases(), ids=lambda c: c["name"])
def test_python_gives_every_shared_plausibility_case_its_hint(case):
    field, bound = case["field"], (lambda b: None if b is None else Decimal(str(b)))
    shipped = field["summary"]
    summary = shipped and rules.Summary(shipped["count"], shipped["median"], shipped["mad"], last=())
    got = rules.implausible(
        Decimal(str(case["value"])),
        low=bound(field["low"]),
        high=bound(field["high"]),
        summary=summary,
        threshold=case["threshold"],
    )
    assert got == case["expected"]


def test_the_shared_plausibility_cases_use_the_servers_constants_and_cover_each_outcome():
    shared = json.loads(HINT_CASES.read_text())
    assert (shared["min_history"], shared["z_factor"]) == (rules.MIN_HISTORY, rules.Z_FACTOR)
    assert {c["expected"] for c in shared["cases"]} == {"range", "history", None}


def test_a_history_summary_is_the_median_and_mad_of_the_numbers_newest_first():
    earlier = [610, "12.5", None, True, "n/a", 598, 604.5, 600, 602, 601, 599, 606]
    numbers = [610, 12.5, 598, 604.5, 600, 602, 601, 599, 606]
    summary = rules.summarise(earlier)
    assert summary.size == 9 and summary.median == statistics.median(numbers)
    assert summary.mad == statistics.median([abs(n - summary.median) for n in numbers])
    assert summary.last == (610, 12.5, 598, 604.5, 600, 602)
    assert rules.summarise([None, "", False]) is None


def test_the_form_carries_the_units_history_and_ranges_for_the_hint(client, village_cadre, office_admin):
    _history(village_cadre, [600, 604, 598, 610, 602, 606, 599, 601, 603])
    set_expected_range(field=Field.objects.get(code="volunteers"), low="0", high="40", by=office_admin)
    client.force_login(village_cadre)
    page = client.get("/fill/village_basics/2026Q4/").content.decode()
    data = json.loads(page.split('id="rules-data" type="application/json">', 1)[1].split("</script>", 1)[0])
    hint = data["plausibility"]
    households = hint["fields"]["households"]
    q3 = Submission.objects.get(unit=village_cadre.unit, sheet__code="village_basics", period="2026Q3")
    latest = q3.versions.get(number=q3.current_version).values["households"]  # the demo's, newest
    numbers = [latest, 603, 601, 599, 606, 602, 610, 598, 604, 600]
    median = statistics.median(numbers)
    assert households["summary"] == {
        "count": 10,
        "median": median,
        "mad": statistics.median([abs(n - median) for n in numbers]),
    }
    assert households["before"] == [str(n) for n in numbers[:6]]  # newest first
    assert (hint["fields"]["volunteers"]["low"], hint["fields"]["volunteers"]["high"]) == (0.0, 40.0)
    assert hint["threshold"] == 3.5 and set(hint["words"]) == {"range", "history"}


@pytest.fixture
def api_client_for():
    def post(cadre, values):
        token = issue_token(user=cadre, name="system")[1]
        body = {"sheet": "village_basics", "period": "2026Q4", "values": values}
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            "/api/v1/unit/submissions", json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="p1"
        )

    return post


# --- the office's page, from the side of those who must not get through ----------------------------------


@pytest.mark.parametrize("username", ["village", "township", "propaganda", "stats"])
def test_only_the_office_reaches_the_rules_page_or_changes_a_rule(client, demo, username, office_admin):
    from tests.conftest import _user

    rule = define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    client.force_login(_user(username))
    assert client.get("/office/rules/").status_code == 404
    answers = [
        client.post("/office/rules/", {**RULE, "code": "sneaked_in"}),
        client.post("/office/rules/", {"action": "retire", "rule": rule.pk, "reason": "x"}),
        client.post("/office/rules/", {"action": "plausibility", "threshold": "9.0", "enabled": "1"}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert list(ValidationRule.objects.values_list("code", "status")) == [("elderly_within_population", "active")]


def test_the_office_defines_a_rule_on_its_page_and_a_bad_one_is_named(client, office_admin):
    client.force_login(office_admin)
    refused = client.post("/office/rules/", {**RULE, "right": "elderly_over_70", "action": "define"})
    assert refused.status_code == 400
    assert "“elderly_over_70”不是目录中的字段或指标" in refused.content.decode()
    assert not ValidationRule.objects.exists()
    assert client.post("/office/rules/", {**RULE, "action": "define"}).status_code == 302
    page = client.get("/office/rules/").content.decode()
    assert "elderly_within_population" in page and "60岁以上人口不能多于户籍人口" in page
    refused = client.post("/office/rules/", {"action": "plausibility", "threshold": "12", "enabled": "1"})
    assert refused.status_code == 400 and "须为 1.0 至 10.0 之间的数" in refused.content.decode()


def test_a_department_proposes_a_rule_and_the_office_approval_adds_it(client, stats_user, office_admin):
    from reporting.models import DataRequest
    from reporting.services.requests import review_request
    from tests.reporting.helpers import REQUEST_FORM

    client.force_login(stats_user)
    bad = {**REQUEST_FORM, **{f"r0_{k}": v for k, v in {**RULE, "left": "no_such_field"}.items()}}
    refused = client.post("/department/requests/new/", bad)
    assert refused.status_code == 400 and "校验规则 1" in refused.content.decode()
    assert not DataRequest.objects.exists()
    good = {**REQUEST_FORM, **{f"r0_{k}": v for k, v in RULE.items()}}
    client.post("/department/requests/new/", good)
    request = DataRequest.objects.get()
    assert [r["code"] for r in request.proposed_rules] == ["elderly_within_population"]
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    assert "elderly_within_population" in client.get(f"/office/requests/{request.pk}/").content.decode()
    review_request(request=request, by=office_admin, approve=True, reason="同意")
    assert ValidationRule.objects.get().request_id == request.pk


def test_a_rule_typed_with_full_width_parentheses_and_slash_is_defined(office_admin):
    rule = define_rule(
        office=office_admin.office,
        definition={**RULE, "left": "（elderly_over_60 ＋ 0）／ 1"},
        by=office_admin,
    )
    assert rule.fields == ["elderly_over_60", "registered_population"]


MUSEUM = {
    "p0_code": "museum_items",
    "p0_name_zh": "村史馆藏品数",
    "p0_name_en": "Museum items",
    "p0_type": "integer",
    "p0_unit": "件",
    "p0_sheet": "village_basics",
    "p0_integer_min": "0",
}
MUSEUM_RULE = {
    "r0_code": "museum_items_required",
    "r0_sheet": "village_basics",
    "r0_left": "has_history_museum",
    "r0_operator": "compulsory_pair",
    "r0_right": "museum_items",
    "r0_strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "r0_importance": "warning",
    "r0_message_zh": "建有村史馆的须填藏品数",
    "r0_message_en": "a village with a museum gives its item count",
}


def test_a_department_proposes_a_rule_on_a_field_it_proposes_in_the_same_request(client, stats_user, office_admin):
    from reporting.models import DataRequest
    from reporting.services.requests import review_request
    from tests.reporting.helpers import REQUEST_FORM

    client.force_login(stats_user)
    # a proposed field of another type than the rule wants is still refused, by its proposed type
    wrong = {**REQUEST_FORM, **MUSEUM, **MUSEUM_RULE, "r0_left": "museum_items"}
    wrong = client.post("/department/requests/new/", wrong)
    assert wrong.status_code == 400 and not DataRequest.objects.exists()
    response = client.post("/department/requests/new/", {**REQUEST_FORM, **MUSEUM, **MUSEUM_RULE})
    assert response.status_code == 302, text_of(response.content.decode())
    request = DataRequest.objects.get()
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    review_request(request=request, by=office_admin, approve=True, reason="同意")
    rule = ValidationRule.objects.get(code="museum_items_required")
    assert rule.request_id == request.pk and rule.fields == ["has_history_museum", "museum_items"]


def test_proposed_rules_are_shown_as_a_clerk_reads_them_to_the_department_and_the_office(
    client, stats_user, office_admin
):
    from reporting.models import DataRequest
    from tests.reporting.helpers import REQUEST_FORM

    client.force_login(stats_user)
    form = client.get("/department/requests/new/").content.decode()
    assert "“如果…则…必填”的规则始终校验，缺失值处理的选择对其不适用" in text_of(form)
    posted = {**REQUEST_FORM, **MUSEUM_RULE, "r0_code": "museum_books_required", "r0_right": "library_books"}
    assert client.post("/department/requests/new/", posted).status_code == 302
    request = DataRequest.objects.get()
    said = "村（社区）基本情况：如果 是否建有村史馆 则 农家书屋藏书 必填 · 提示：需填写说明 · "
    said += "始终校验（缺失的数值按 0 计）"
    page = text_of(client.get(f"/department/requests/{request.pk}/").content.decode())
    assert said in page
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    text = text_of(client.get(f"/office/requests/{request.pk}/").content.decode())
    assert said in text and "建有村史馆的须填藏品数" in text and "compulsory_pair" not in text
    client.cookies["django_language"] = "en"
    text = text_of(client.get(f"/office/requests/{request.pk}/").content.decode())
    assert "if Has a village history museum then Village library books is required" in text
    assert "a village with a museum gives its item count" in text and "建有" not in text
