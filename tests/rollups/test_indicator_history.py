"""The office reads an indicator's history (who changed its formula, when, from what to what, retired and
reinstated it), revises it and reinstates it on its page; nobody else reaches the page, and a refused change
stores nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from core.models import AuditEvent
from reporting.models import Field, Indicator, IndicatorRevision, Status
from reporting.rejections import Problems
from reporting.services.catalogue import retire_field
from reporting.services.indicators import define_indicator, reinstate_indicator, retire_indicator

FORMULA = "resident_population / households"
GUARDED = "if(households = 0, 0, resident_population / households)"


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def indicator(office_admin) -> Indicator:
    return define_indicator(
        office=office_admin.office,
        code="people_per_household",
        name_zh="户均常住人口",
        name_en="Residents per household",
        unit_of_measure="人",
        formula=FORMULA,
        rollup="ratio_of_sums",
        by=office_admin,
    )


def _entries(html: str) -> list[tuple[str, str]]:
    """Each history entry as (kind, its text without markup), the newest first."""
    found = re.findall(r'<li data-kind="(\w+)">(.*?)</li>', html, re.S)
    return [(kind, " ".join(re.sub(r"<[^>]+>", " ", body).split())) for kind, body in found]


def test_the_office_sees_who_changed_the_formula_from_what_to_what_and_its_retirement(client, office_admin, indicator):
    client.force_login(office_admin)
    url = f"/office/indicators/{indicator.pk}/"
    assert f'href="{url}"' in client.get("/office/indicators/").content.decode()
    revised = {"action": "revise", "period": "2027Q1", "formula": GUARDED, "rollup": "mean", "reason": "避免除以零"}
    revised |= {"name_zh": "户均常住人口", "name_en": "Residents per household", "unit_of_measure": "人"}
    assert client.post(url, revised).status_code == 302
    assert client.post("/office/indicators/", {"action": "retire", "indicator": indicator.pk, "reason": "改用新指标"})
    assert client.post(url, {"action": "reinstate", "reason": "新指标推迟"}).status_code == 302

    entries = _entries(client.get(url).content.decode())

    assert [kind for kind, _text in entries] == ["reinstated", "retired", "revised", "defined"]
    who = office_admin.get_full_name() or office_admin.username
    assert all(who in text for _kind, text in entries)
    assert "新指标推迟" in entries[0][1]
    assert "改用新指标" in entries[1][1] and "停用日期 2027-01-01" in entries[1][1]
    revision = entries[2][1]
    assert "自 2027年第1季度" in revision and "避免除以零" in revision
    assert f"公式 {FORMULA} → {GUARDED}" in revision
    assert "汇总方式 合计之比（分子、分母分别汇总后相除） → 各单位的平均值" in revision
    assert FORMULA in entries[3][1]
    indicator.refresh_from_db()
    assert indicator.status == Status.ACTIVE and indicator.formula == GUARDED


def test_a_department_or_a_unit_cannot_read_or_change_an_indicators_history(
    client, civil_analyst, village_cadre, indicator
):
    retire_indicator(indicator=indicator, reason="不再使用", by=_office(indicator))
    url = f"/office/indicators/{indicator.pk}/"
    for user in (civil_analyst, village_cadre):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"action": "reinstate", "reason": "想用"}).status_code == 404
        revise = {"action": "revise", "period": "2027Q1", "formula": "households", "reason": "x"}
        assert client.post(url, revise).status_code == 404
    indicator.refresh_from_db()
    assert indicator.status == Status.RETIRED and indicator.revisions.count() == 1
    assert not AuditEvent.objects.filter(action="indicator.reinstated").exists()
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page


def _office(indicator: Indicator):
    return indicator.revisions.get().by


@pytest.mark.parametrize(
    ("posted", "field", "rule"),
    [
        ({"period": "2026Q4"}, "period", "definition.retroactive"),  # begun already
        ({"period": "next year"}, "period", "period.format"),
        ({"period": ""}, "period", "required"),  # labelled as the form labels it, not 报告期
        ({"formula": "no_such_field * 2"}, "formula", "formula.unknown"),
        ({"formula": "people_per_household + 1"}, "formula", "formula.self_reference"),
        ({"reason": ""}, "reason", "required"),
    ],
)
def test_a_refused_revision_names_the_field_and_the_rule_and_stores_nothing(
    client, office_admin, indicator, posted, field, rule
):
    client.force_login(office_admin)
    form = {"action": "revise", "period": "2027Q1", "formula": GUARDED, "rollup": "mean", "reason": "r", **posted}
    response = client.post(f"/office/indicators/{indicator.pk}/", form)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and form["formula"] in html  # what was typed stays in the form
    indicator.refresh_from_db()
    assert indicator.formula == FORMULA and indicator.revisions.count() == 1
    assert not AuditEvent.objects.filter(action="indicator.revised").exists()
    assert (field, rule) in {(p.field, p.rule) for p in response.context["problems"]}
    # named by the words beside the input, in both languages, as the page shows it
    label_zh, label_en = {
        "period": ("起始报告期", "From period"),
        "formula": ("公式", "Formula"),
        "reason": ("原因", "Reason"),
    }[field]
    shown = next(p for p in response.context["problems"] if p.field == field)
    assert shown.message_zh.startswith(f"{label_zh}：") and shown.message_en.startswith(f"{label_en}: ")
    assert shown.message_zh in html


def test_reinstating_is_refused_for_an_active_indicator_and_for_one_reading_a_retired_field(office_admin, indicator):
    with pytest.raises(Problems) as refused:
        reinstate_indicator(indicator=indicator, reason="r", by=office_admin)
    assert [(p.field, p.rule) for p in refused.value.problems] == [("indicator", "indicator.not_retired")]

    retire_indicator(indicator=indicator, reason="不再使用", by=office_admin)
    retire_field(field=Field.objects.get(code="households"), reason="并入", by=office_admin)
    with pytest.raises(Problems) as refused:
        reinstate_indicator(indicator=indicator, reason="", by=office_admin)
    assert {(p.field, p.rule) for p in refused.value.problems} >= {
        ("reason", "required"),
        ("formula", "formula.unknown"),
    }
    indicator.refresh_from_db()
    assert indicator.status == Status.RETIRED and IndicatorRevision.objects.filter(indicator=indicator).count() == 1
    assert not AuditEvent.objects.filter(action="indicator.reinstated").exists()
