"""A page that refuses a value says which of its inputs it means, by the words the form shows, and the rule, in
Chinese and English; nothing is stored. (A tester found bare "必填" and "须为 0 至 365 的整数" on these pages.)"""

from __future__ import annotations

import datetime as dt
import html

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import AuditEvent
from reporting.models import DataRequest, DueRule, Field, Indicator, Question, ReportTemplate, SubmissionVersion
from reporting.services.questions import ask_question
from tests.reporting.helpers import file_village_basics


@pytest.fixture
def frozen():
    with time_machine.travel(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC), tick=False):
        yield


def page_client(user) -> Client:
    client = Client(raise_request_exception=True)  # a server error fails the test with its traceback
    client.force_login(user)
    return client


def refused(response) -> str:
    assert response.status_code == 400
    return html.unescape(response.content.decode())


def test_a_question_sent_empty_is_refused_by_its_label(frozen, village_cadre, civil_analyst):
    filed = file_village_basics(village_cadre)
    page = refused(
        page_client(civil_analyst).post(
            f"/department/questions/ask/{filed.submission_id}/", {"field": "households", "text": "  "}
        )
    )
    assert "询问内容：必填" in page and "Your question: is required" in page
    assert not Question.objects.exists()


def test_an_answer_that_is_not_a_number_or_is_empty_is_refused_by_its_label(frozen, village_cadre, civil_analyst):
    filed = file_village_basics(village_cadre)
    question = ask_question(
        department=civil_analyst.department,
        submission=filed.submission,
        field="households",
        version=1,
        text="户数比上季度多了一倍，是否有误？",
        by=civil_analyst,
    )
    cadre = page_client(village_cadre)
    not_a_number = refused(cadre.post(f"/fill/questions/{question.pk}/", {"value": "三百", "explanation": "x"}))
    assert "更正为：须为整数" in not_a_number and "Correct the value to: must be a whole number" in not_a_number
    empty = refused(cadre.post(f"/fill/questions/{question.pk}/", {"value": "", "explanation": ""}))
    assert "说明：必填" in empty and "Explanation: is required" in empty
    question.refresh_from_db()
    assert question.is_open and SubmissionVersion.objects.filter(submission=filed.submission).count() == 1


def test_a_report_templates_settings_and_file_are_refused_by_their_labels(culture_analyst):
    before = AuditEvent.objects.count()
    page = refused(
        page_client(culture_analyst).post(
            "/department/reports/",
            {
                "name": "文" * 121,
                "period_type": "quarterly",
                "auto_coverage": "150",
                "file": SimpleUploadedFile("report.csv", b"a,b\n1,2\n"),
            },
        )
    )
    assert "名称：不能超过 120 个字符" in page and "Name: must be at most 120 characters" in page
    assert "报送率达到此比例时自动生成：须为 1 到 100 之间的整数" in page
    assert "Generate automatically once coverage reaches: must be a whole number from 1 to 100" in page
    assert "模板（.xlsx）：须为 Excel 工作簿（.xlsx）" in page and "Template (.xlsx): must be an Excel workbook" in page
    assert not ReportTemplate.objects.exists() and AuditEvent.objects.count() == before


@pytest.mark.parametrize("coverage", ["²", "٨٠", "-5", "abc"])
def test_a_report_templates_coverage_in_other_characters_is_refused_by_its_label(culture_analyst, coverage):
    page = refused(
        page_client(culture_analyst).post(
            "/department/reports/",
            {
                "name": "季报",
                "period_type": "quarterly",
                "auto_coverage": coverage,
                "file": SimpleUploadedFile("r.xlsx", b"x"),
            },
        )
    )
    assert "报送率达到此比例时自动生成：须为 1 到 100 之间的整数" in page
    assert not ReportTemplate.objects.exists()


def test_the_calendars_day_counts_are_refused_by_cadence_and_input(office_admin):
    before = list(
        DueRule.objects.order_by("cadence").values_list("cadence", "days_after_period_end", "lock_days_after_due")
    )
    page = refused(
        page_client(office_admin).post(
            "/office/calendar/",
            {"action": "rules", "days_monthly": "400", "lock_quarterly": "三", "lock_ledger": "x", "days_yearly": "40"},
        )
    )
    assert "月报 · 截止（报告期结束后天数）：须为 0 至 365 的整数" in page
    assert "Monthly · Due (days after the period ends): must be a whole number from 0 to 365" in page
    assert "季报 · 锁定（截止日期后天数）：须为 0 至 365 的整数" in page
    assert "Quarterly · Locks (days after the due date): must be a whole number from 0 to 365" in page
    assert "台账记录 · 锁定（记录日期所在月份结束后的天数）：须为 0 至 365 的整数" in page
    assert "Ledger records · Lock (days after the month of the record's date ends): must be" in page
    after = list(
        DueRule.objects.order_by("cadence").values_list("cadence", "days_after_period_end", "lock_days_after_due")
    )
    assert after == before


def test_the_calendars_lead_days_past_the_service_limit_are_named_by_cadence(office_admin):
    before = list(DueRule.objects.order_by("cadence").values_list("cadence", "lead_days"))
    page = refused(page_client(office_admin).post("/office/calendar/", {"action": "rules", "lead_quarterly": "365"}))
    assert "季报 · 开放（报告期开始前天数）：提前开放天数须为 0 到" in page
    assert "Quarterly · Opens (days before the period begins): the days open early must be" in page
    assert list(DueRule.objects.order_by("cadence").values_list("cadence", "lead_days")) == before


def test_an_indicators_code_and_formula_are_refused_by_their_labels(office_admin):
    page = refused(
        page_client(office_admin).post(
            "/office/indicators/",
            {
                "action": "define",
                "code": "Bad Code",
                "name_zh": "户均人口",
                "name_en": "People per household",
                "formula": "resident_population /",
                "rollup": "ratio_of_sums",
            },
        )
    )
    assert "编码：编码须以小写字母开头" in page and "Code: the code must start with a lowercase letter" in page
    assert "公式：公式第" in page and "Formula: the formula has a syntax error" in page
    assert not Indicator.objects.filter(name_zh="户均人口").exists()


def test_a_requests_push_coverage_is_refused_by_its_label(civil_analyst):
    page = refused(
        page_client(civil_analyst).post(
            "/department/requests/new/",
            {
                "title": "低保户数",
                "purpose": "救助资金测算",
                "legal_basis": "《社会救助暂行办法》",
                "scope": civil_analyst.department.jurisdiction.code,
                "first_period": "2027Q1",
                "fields": [],
                "push_coverage": "²",
            },
        )
    )
    assert "覆盖率达到此比例时推送：须为 1 至 100 的整数，且须有汇总层级和推送地址" in page
    assert "Push once coverage reaches: must be a whole number from 1 to 100, with an aggregate level" in page
    assert not DataRequest.objects.filter(department=civil_analyst.department).exists()


@pytest.mark.parametrize("forged", ["-1", "abc", "0", "99"])
def test_a_question_about_a_forged_version_is_refused_by_its_label(frozen, village_cadre, civil_analyst, forged):
    filed = file_village_basics(village_cadre)
    page = refused(
        page_client(civil_analyst).post(
            f"/department/questions/ask/{filed.submission_id}/",
            {"field": "households", "version": forged, "text": "户数是否有误？"},
        )
    )
    assert "版本：没有此版本：须为 1 到 1" in page and "Version: no such version: it must be from 1 to 1" in page
    assert not Question.objects.exists()


def test_a_retroactive_definition_change_names_the_period_by_its_label(office_admin):
    squares = Field.objects.get(code="culture_squares")
    page = refused(
        page_client(office_admin).post(
            "/office/catalogue/",
            {"action": "change", "field": squares.pk, "period": "2020Q1", "integer_max": "5", "reason": "x"},
        )
    )
    assert "新约束自报告期：定义变更只能从" in page and "Constraints from period: a definition change" in page
    assert Field.objects.get(pk=squares.pk).constraints["max"] == 100


def test_a_rollup_the_catalogue_refuses_is_named_by_the_field_and_the_input(office_admin):
    field = Field.objects.get(code="resident_population")
    client = page_client(office_admin)
    page = refused(client.post("/office/catalogue/", {"action": "rollup", "field": field.pk, "aggregation": "x"}))
    assert "常住人口 · 汇总方式：该字段类型不能使用此汇总方式" in page
    assert "Resident population · Roll-up: is not an aggregation" in page
    posted = {"action": "rollup", "field": field.pk, "aggregation": "sum", "rollup_of": "activity_title"}
    page = refused(client.post("/office/catalogue/", posted))
    assert "常住人口 · 汇总来源：汇总来源须为同一报告期类型" in page


RULE = {
    "action": "define",
    "code": "dibao_within_households",
    "sheet": "village_basics",
    "left": "households",
    "operator": ">=",
    "right": "dibao_households",
    "strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "importance": "error",
    "message_zh": "低保户不能多于户数",
    "message_en": "dibao households cannot outnumber households",
}


def test_a_rule_the_office_defines_is_refused_by_each_input_by_name(office_admin):
    client = page_client(office_admin)
    posted = RULE | {"code": "Bad Code", "operator": "~", "strategy": "X"}
    page = refused(client.post("/office/rules/", posted))
    assert "编码：" in page and "比较方式：须为下列比较之一" in page
    assert "缺失值处理：缺失值处理须为下列之一：任一值缺失时不校验" in page
    assert "SKIP_IF_ANY_VALUE_MISSING、" not in page
    assert "Missing values: the missing-value strategy must be one of: Skip if any value is missing" in page
    page = refused(client.post("/office/rules/", RULE | {"sheet": "no_such_sheet"}))
    assert "表：须为一个在用的定期报表" in page
    page = refused(client.post("/office/rules/", RULE))
    assert "右侧：“低保户数”不是表“村（社区）基本情况”的字段" in page and "dibao_households”" not in page
    field = Field.objects.get(code="activity_title")
    posted = {"action": "range", "field": field.pk, "low": "0", "high": "10"}
    page = refused(client.post("/office/rules/", posted))
    assert "字段：“活动名称”不是数值字段" in page and "Field: “" in page


def test_an_indicators_rollup_is_refused_with_the_rollups_by_name(office_admin):
    posted = {
        "action": "define",
        "code": "people_per_household",
        "name_zh": "户均人口",
        "name_en": "People per household",
        "formula": "resident_population / households",
        "rollup": "median",
    }
    page = refused(page_client(office_admin).post("/office/indicators/", posted))
    assert "汇总方式：须为下列汇总方式之一：" in page and "ratio_of_sums、" not in page
    assert "must be one of these roll-ups: Ratio of the sums" in page
