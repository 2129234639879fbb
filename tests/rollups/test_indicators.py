"""Indicators in the catalogue: the office defines them (refused definitions store nothing), the catalogue API
lists them, and their values for a unit of the demo county match the ones computed here by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from core.models import AuditEvent, Department
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, IndicatorRevision, Sheet, Status, SubmissionVersion
from reporting.reads.indicators import indicator_value
from reporting.rejections import Problems
from reporting.services.indicators import define_indicator, retire_indicator, revise_indicator
from reporting.services.requests import RequestInput, save_request
from reporting.services.submissions import add_record
from reporting.services.supplies import SupplyRow, supply_values
from tests.conftest import _user
from tests.reporting.helpers import ACTIVITY, file_village_basics, token_client

FORM = {
    "action": "define",
    "code": "people_per_household",
    "name_zh": "户均常住人口",
    "name_en": "Residents per household",
    "unit_of_measure": "人",
    "formula": "resident_population / households",
    "rollup": "ratio_of_sums",
}


def _define(office, **changes):
    values = {k: v for k, v in {**FORM, **changes}.items() if k != "action"}
    return define_indicator(office=office.office, by=office, **values)


def test_the_office_defines_an_indicator_on_its_page(client, office_admin):
    client.force_login(office_admin)
    assert "定义指标" in client.get("/office/indicators/").content.decode()
    response = client.post("/office/indicators/", FORM)
    assert response.status_code == 302
    indicator = Indicator.objects.get(code="people_per_household")
    assert indicator.tree == {
        "op": "/",
        "args": [{"op": "field", "code": "resident_population"}, {"op": "field", "code": "households"}],
    }
    assert (indicator.rollup, indicator.period_type, indicator.status) == ("ratio_of_sums", "quarterly", "active")
    assert indicator.revisions.count() == 1
    assert AuditEvent.objects.filter(action="indicator.defined", target_id=str(indicator.pk)).exists()
    assert "resident_population / households" in client.get("/office/indicators/").content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"formula": "notes + 1"}, "formula", "formula.type"),
        ({"formula": "households / (households"}, "formula", "formula.syntax"),
        ({"formula": "people_per_household * 2"}, "formula", "formula.self_reference"),
        ({"formula": "nobody / households"}, "formula", "formula.unknown"),
        ({"formula": "households / 0", "rollup": "sum"}, "formula", "formula.division_by_zero"),
        ({"formula": "(" * 300 + "1" + ")" * 300}, "formula", "formula.too_deep"),
        ({"formula": ""}, "formula", "formula.required"),
        ({"rollup": "median"}, "rollup", "indicator.rollup"),
        ({"formula": "households + 1"}, "rollup", "indicator.ratio"),
        ({"formula": "sum(households) / count(units)"}, "rollup", "indicator.area_rollup"),
        ({"code": "households"}, "code", "indicator.code_taken"),
        ({"code": "Bad Code"}, "code", "definition.code"),
        ({"name_zh": " "}, "name_zh", "required"),
    ],
)
def test_a_refused_definition_stores_nothing_and_names_the_rule(client, office_admin, changes, field, rule):
    client.force_login(office_admin)
    before = (Indicator.objects.count(), IndicatorRevision.objects.count(), AuditEvent.objects.count())
    response = client.post("/office/indicators/", {**FORM, **changes})
    assert response.status_code == 400
    with pytest.raises(Problems) as refused:
        _define(office_admin, **changes)
    assert (field, rule) in [(p.field, p.rule) for p in refused.value.problems]
    problem = next(p for p in refused.value.problems if p.rule == rule)
    assert problem.message_zh in response.content.decode()
    assert (Indicator.objects.count(), IndicatorRevision.objects.count(), AuditEvent.objects.count()) == before


def test_a_cycle_through_indicators_is_refused(office_admin):
    _define(office_admin, code="first", formula="households * 2", rollup="sum")
    _define(office_admin, code="second", formula="first + 1", rollup="sum")
    first = Indicator.objects.get(code="first")
    with pytest.raises(Problems) as refused:
        revise_indicator(
            indicator=first,
            period=Period.parse("2027Q2"),
            changes={"formula": "second / 2"},
            reason="新口径",
            by=office_admin,
        )
    assert [(p.field, p.rule) for p in refused.value.problems] == [("formula", "formula.cycle")]
    first.refresh_from_db()
    assert first.formula == "households * 2" and first.revisions.count() == 1


def test_a_revision_applies_from_a_period_not_yet_begun(office_admin):
    indicator = _define(office_admin)
    with pytest.raises(Problems) as refused:
        revise_indicator(
            indicator=indicator, period=Period.parse("2026Q1"), changes={"name_en": "x"}, reason="r", by=office_admin
        )
    assert refused.value.problems[0].rule == "definition.retroactive"
    revise_indicator(
        indicator=indicator,
        period=Period.parse("2027Q2"),
        changes={"formula": "if(households = 0, 0, resident_population / households)", "rollup": "mean"},
        reason="避免除以零",
        by=office_admin,
    )
    indicator.refresh_from_db()
    assert indicator.tree["op"] == "if" and indicator.revisions.count() == 2
    retire_indicator(indicator=indicator, reason="不再使用", by=office_admin)
    indicator.refresh_from_db()
    assert indicator.status == Status.RETIRED and indicator.retired_from is not None


def test_the_live_check_answers_in_chinese_first_and_only_the_office_may_ask(client, office_admin, civil_analyst):
    client.force_login(office_admin)
    sound = client.post("/office/indicators/check/", {"formula": "households / 2", "rollup": "sum"})
    assert "公式无误" in sound.content.decode()
    wrong = client.post("/office/indicators/check/", {"formula": "notes * 2", "rollup": "sum"}).content.decode()
    assert wrong.index("类型不符") < wrong.index("type mismatch")
    client.force_login(civil_analyst)
    assert client.post("/office/indicators/check/", {"formula": "households"}).status_code == 404
    assert client.get("/office/indicators/").status_code == 404


def test_the_catalogue_api_lists_active_indicators_with_their_trees(office_admin, civil_analyst):
    _define(office_admin)
    gone = _define(office_admin, code="gone", formula="households", rollup="sum")
    retire_indicator(indicator=gone, reason="r", by=office_admin)
    body = token_client(civil_analyst).get("/api/v1/catalogue").json()
    assert [i["code"] for i in body["indicators"]] == ["people_per_household"]
    item = body["indicators"][0]
    assert item["formula"] == "resident_population / households" and item["tree"]["op"] == "/"
    assert item["rollup"] == "ratio_of_sums" and item["name_zh"] == "户均常住人口"


def _record(cadre, **changes):
    return add_record(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw={**ACTIVITY, **changes},
        not_applicable={},
        by=cadre,
    )


def test_values_for_a_demo_village_match_the_ones_computed_by_hand(office_admin, village_cadre):
    file_village_basics(village_cadre, resident_population="1500", households="610")
    _record(village_cadre, attendance="230")
    _record(village_cadre, activity_category="film", attendance="80", activity_date="2026-11-20")
    _record(village_cadre, activity_category="film", attendance="45", activity_date="2026-10-02")
    _record(village_cadre, activity_category="film", attendance="999", activity_date="2026-09-30")  # another quarter
    unit, q4 = village_cadre.unit, Period.parse("2026Q4")

    ratio = _define(office_admin)
    assert indicator_value(ratio, unit, q4).value == Decimal("2.459016")  # 1500 / 610 = 2.4590163…
    films = _define(
        office_admin, code="films", formula='count(cultural_activity where activity_category = "film")', rollup="sum"
    )
    assert indicator_value(films, unit, q4).value == 2
    assert indicator_value(films, unit, Period.parse("202611")).value == 1
    per_activity = _define(
        office_admin,
        code="attendance_per_activity",
        formula="sum(cultural_activity.attendance) / count(cultural_activity)",
        rollup="ratio_of_sums",
    )
    assert indicator_value(per_activity, unit, q4).value == Decimal("118.333333")  # (230 + 80 + 45) / 3
    assert indicator_value(per_activity, unit, Period.parse("202612")).reason == "division_by_zero"
    twice = _define(office_admin, code="twice", formula="people_per_household * 2", rollup="sum")
    assert indicator_value(twice, unit, q4).value == Decimal("4.918033")
    nothing = _define(office_admin, code="per_volunteer", formula="households / grid_workers", rollup="ratio_of_sums")
    assert indicator_value(nothing, unit, q4).reason == "missing:grid_workers"  # not filed
    assert indicator_value(ratio, unit, Period.parse("2026Q2")).reason == "missing:resident_population"
    # the demo's 2026Q3 history, every village of the county: the stored values divided here
    for version in SubmissionVersion.objects.filter(
        submission__period="2026Q3", submission__sheet__code="village_basics"
    ):
        values = version.values
        by_hand = (Decimal(values["resident_population"]) / Decimal(values["households"])).quantize(Decimal("0.000001"))
        assert indicator_value(ratio, version.submission.unit, Period.parse("2026Q3")).value == by_hand.normalize()
    share = _define(office_admin, code="museum_share", formula="sum(has_history_museum) / count(units)", rollup="area")
    assert indicator_value(share, unit, q4).reason == "area_level"


def test_a_source_departments_supply_replaces_the_units_own_value(office_admin, village_cadre):
    file_village_basics(village_cadre, resident_population="1500", households="610")
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="households").update(source=stats)
    indicator = _define(office_admin)
    result = supply_values(
        department=stats,
        rows=[SupplyRow(row=1, unit=village_cadre.unit.area.code, period="2026Q4", field="households", value="600")],
        by=_user("stats"),
    )
    assert not result.conflicts, [c.problem.message for c in result.conflicts]
    assert indicator_value(indicator, village_cadre.unit, Period.parse("2026Q4")).value == Decimal("2.5")  # 1500 / 600


def test_a_period_is_computed_with_the_definition_in_effect_for_it(office_admin, village_cadre):
    file_village_basics(village_cadre, resident_population="1500", households="610")
    with time_machine.travel(dt.datetime(2027, 5, 10, 4, tzinfo=dt.UTC)):
        file_village_basics(village_cadre, period="2027Q2", resident_population="1200", households="600")
    indicator = _define(office_admin)
    revise_indicator(
        indicator=indicator,
        period=Period.parse("2027Q2"),
        changes={"formula": "resident_population / households * 100", "rollup": "mean"},
        reason="每百户",
        by=office_admin,
        today=dt.date(2026, 11, 29),
    )
    indicator.refresh_from_db()
    unit = village_cadre.unit
    assert indicator_value(indicator, unit, Period.parse("2026Q4")).value == Decimal("2.459016")
    assert indicator_value(indicator, unit, Period.parse("2027Q2")).value == 200


def test_an_indicator_another_one_uses_cannot_be_retired(office_admin):
    used = _define(office_admin)
    _define(office_admin, code="doubled", formula="people_per_household * 2", rollup="sum")
    with pytest.raises(Problems) as refused:
        retire_indicator(indicator=used, reason="不再使用", by=office_admin)
    assert [(p.field, p.rule, p.params) for p in refused.value.problems] == [
        ("indicator", "indicator.in_use", {"codes": "doubled"})
    ]
    used.refresh_from_db()
    assert used.status == Status.ACTIVE


def test_a_proposed_field_cannot_take_an_indicators_code(office_admin, stats_user):
    _define(office_admin)
    data = RequestInput(
        title="户均人口",
        purpose="统计年报",
        legal_basis="《统计法》",
        scope=stats_user.department.jurisdiction,
        first_period="2027Q1",
        proposed=[
            {
                "code": "people_per_household",
                "name_zh": "户均人口",
                "name_en": "People per household",
                "type": "decimal",
                "sheet": "village_basics",
            }
        ],
    )
    with pytest.raises(Problems) as refused:
        save_request(department=stats_user.department, by=stats_user, data=data)
    assert "definition.code_taken" in [p.rule for p in refused.value.problems]


def test_a_revision_from_a_later_period_is_shown_as_scheduled_and_the_one_in_force_as_now(
    client, office_admin, civil_analyst
):
    indicator = _define(office_admin)
    changes = {"formula": "resident_population / (households + 1)", "rollup": "mean"}
    revise_indicator(
        indicator=indicator, period=Period.parse("2027Q1"), changes=changes, reason="新口径", by=office_admin
    )
    client.force_login(office_admin)
    page = client.get(f"/office/indicators/{indicator.pk}/").content.decode()
    now = page[page.index('id="now"') : page.index("</section>", page.index('id="now"'))]
    assert "resident_population / households" in now and "(households + 1)" not in now
    scheduled = page[page.index('id="scheduled-2027Q1"') :]
    assert "2027年第1季度" in scheduled and "resident_population / (households + 1)" in scheduled
    row = client.get("/office/indicators/").content.decode()
    assert row.index("resident_population / households") < row.index("resident_population / (households + 1)")
    item = token_client(civil_analyst).get("/api/v1/catalogue").json()["indicators"][0]
    assert (item["formula"], item["rollup"], item["tree"]["op"]) == (
        "resident_population / households",
        "ratio_of_sums",
        "/",
    )
    (later,) = item["scheduled"]
    assert (later["from_period"], later["formula"], later["rollup"]) == ("2027Q1", changes["formula"], "mean")
    schema = client.get("/api/schema/").content.decode()
    assert "from_period" in schema


def test_a_revision_that_changes_nothing_is_refused_by_name_in_each_language(client, office_admin):
    indicator = _define(office_admin)
    for changes in ({}, {"formula": "resident_population/households", "rollup": "ratio_of_sums"}):
        with pytest.raises(Problems) as refused:
            revise_indicator(
                indicator=indicator, period=Period.parse("2027Q1"), changes=changes, reason="r", by=office_admin
            )
        (problem,) = refused.value.problems
        assert problem.rule == "definition.unchanged"
        assert "没有任何改动" in problem.message_zh and "nothing changed" in problem.message_en
    assert indicator.revisions.count() == 1
    # against the definition that applies then: the scheduled one, which a later revision may undo
    later = {"formula": "resident_population / (households + 1)"}
    revise_indicator(indicator=indicator, period=Period.parse("2027Q1"), changes=later, reason="r", by=office_admin)
    with pytest.raises(Problems):
        revise_indicator(indicator=indicator, period=Period.parse("2027Q2"), changes=later, reason="r", by=office_admin)
    client.force_login(office_admin)
    client.cookies["django_language"] = "en"
    form = {"action": "revise", "period": "2027Q3", "reason": "again", "rollup": "ratio_of_sums", **later}
    response = client.post(f"/office/indicators/{indicator.pk}/", {**FORM, **form})
    assert response.status_code == 400 and "nothing changed" in response.content.decode()
    original = {"formula": "resident_population / households"}
    revise_indicator(indicator=indicator, period=Period.parse("2027Q2"), changes=original, reason="r", by=office_admin)
    assert indicator.revisions.count() == 3
