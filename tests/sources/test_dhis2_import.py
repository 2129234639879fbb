"""POST /dhis2/api/dataValueSets: a source department's values become a supply, a unit's its own filing; DHIS2's
import summary answers, every refused value a conflict naming it and the rule in Chinese and English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from core.models import Department, Unit, User
from core.tokens import issue_token
from reporting.models import Field, Submission
from tests.reporting.helpers import one_language_each, subscribe

# shared/ lies beside the repository (CI's clone, /work/main); a worktree under /work/wt/ reads /work/shared
ADX = next(
    (
        p
        for p in (Path(__file__).resolve().parents[3] / "shared" / "dhis2-adx", Path("/work/shared/dhis2-adx"))
        if p.exists()
    ),
    Path(__file__).resolve().parents[3] / "shared" / "dhis2-adx",
)


def _client(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"ApiToken {issue_token(user=user, name='dhis2')[1]}")


def _post(client: Client, body, query: str = "", content_type: str = "application/json"):
    data = json.dumps(body) if not isinstance(body, (str, bytes)) else body
    return client.post(f"/dhis2/api/dataValueSets{query}", data=data, content_type=content_type)


@pytest.fixture
def civil_source(civil_analyst):
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code__in=["dibao_people", "destitute_people"]).update(source=civil)
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    village = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()
    return civil, village, period


def _values(village, period, **values):
    return {
        "period": period,
        "orgUnit": village.area.code,
        "dataValues": [{"dataElement": k, "value": v} for k, v in values.items()],
    }


def test_a_source_supplies_updates_repeats_and_deletes_through_data_value_sets(civil_analyst, civil_source):
    civil, village, period = civil_source
    client = _client(civil_analyst)
    first = _post(client, _values(village, period, dibao_people="12", destitute_people=3))
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["httpStatus"], body["status"]) == ("OK", "OK")
    assert body["response"]["responseType"] == "ImportSummary"
    assert body["response"]["status"] == "SUCCESS"
    assert body["response"]["importCount"] == {"imported": 2, "updated": 0, "ignored": 0, "deleted": 0}
    supply = Submission.objects.supplies().get(unit=village, source=civil)
    assert supply.versions.get().values == {"dibao_people": 12, "destitute_people": 3}
    again = _post(client, _values(village, period, dibao_people="12", destitute_people=3)).json()
    assert again["response"]["importCount"] == {"imported": 0, "updated": 0, "ignored": 2, "deleted": 0}
    changed = _post(client, _values(village, period, dibao_people="13")).json()
    assert changed["response"]["importCount"]["updated"] == 1
    gone = _post(client, _values(village, period, destitute_people="3"), "?importStrategy=DELETE").json()
    assert gone["response"]["importCount"]["deleted"] == 1
    supply.refresh_from_db()
    assert supply.versions.get(number=supply.current_version).values == {"dibao_people": 13}


def test_a_dry_run_counts_and_stores_nothing(civil_analyst, civil_source):
    civil, village, period = civil_source
    body = _post(_client(civil_analyst), _values(village, period, dibao_people="12"), "?dryRun=true").json()
    assert body["response"]["importCount"]["imported"] == 1
    assert body["response"]["importOptions"]["dryRun"] is True
    assert not Submission.objects.supplies().filter(source=civil).exists()


def test_atomic_all_refuses_everything_and_none_keeps_the_good_values(civil_analyst, civil_source):
    civil, village, period = civil_source
    client = _client(civil_analyst)
    sent = _values(village, period, dibao_people="12", households="40", destitute_people="-1")
    refused = _post(client, sent)
    assert refused.status_code == 409
    body = refused.json()
    assert (body["httpStatus"], body["status"], body["response"]["status"]) == ("Conflict", "ERROR", "ERROR")
    assert body["response"]["importCount"] == {"imported": 0, "updated": 0, "ignored": 3, "deleted": 0}
    conflicts = {c["object"]: c for c in body["response"]["conflicts"]}
    assert conflicts["households"]["property"] == "dataElement"
    assert conflicts["households"]["errorCode"] == "E7610"
    assert conflicts["households"]["rule"] == "source.not_source"
    assert conflicts["households"]["indexes"] == [1]
    assert conflicts["-1"]["property"] == "value" and conflicts["-1"]["rule"] == "min"
    assert "不能小于" in conflicts["-1"]["message_zh"] and "at least" in conflicts["-1"]["message_en"]
    assert body["response"]["rejectedIndexes"] == [1, 2]
    assert not Submission.objects.supplies().filter(source=civil).exists()
    partial = _post(client, sent, "?atomicMode=NONE")
    assert partial.status_code == 409
    assert partial.json()["response"]["status"] == "WARNING"
    assert partial.json()["response"]["importCount"]["imported"] == 1
    assert Submission.objects.supplies().get(source=civil).versions.get().values == {"dibao_people": 12}


def test_disaggregations_uid_schemes_and_outside_units_are_conflicts(civil_analyst, civil_source):
    civil, village, period = civil_source
    client = _client(civil_analyst)
    sent = _values(village, period, dibao_people="12")
    sent["dataValues"][0]["categoryOptionCombo"] = "Sex_female"
    body = _post(client, sent).json()
    assert body["response"]["conflicts"][0]["property"] == "categoryOptionCombo"
    assert body["response"]["conflicts"][0]["rule"] == "dhis2.disaggregation"
    sent["dataValues"][0]["categoryOptionCombo"] = "default"
    scheme = _post(client, sent, "?idScheme=UID")
    assert scheme.status_code == 409
    assert scheme.json()["response"]["conflicts"][0]["rule"] == "dhis2.id_scheme"
    assert "CODE" in scheme.json()["response"]["conflicts"][0]["message_en"]
    outside = _values(village, period, dibao_people="1")
    outside["orgUnit"] = "999999999999"
    conflict = _post(client, outside).json()["response"]["conflicts"][0]
    assert (conflict["property"], conflict["errorCode"], conflict["object"]) == ("orgUnit", "E7612", "999999999999")
    assert not Submission.objects.supplies().filter(source=civil).exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"dataValues": "x"}',
        '{"dataValues": ["x", 3, null]}',
        '{"dataValues": [{"dataElement": {"a": 1}, "value": [1], "period": 7, "orgUnit": true}]}',
        '{"dataValues": [{"dataElement": "dibao_people", "value": 1e400, "period": "2026Q9", "orgUnit": "x"}]}',
        '{"dataValues": [{"dataElement": "dibao_people", "value": "99999999999999999999999999", "period": "202610"}]}',
    ],
)
def test_bad_bodies_are_answered_not_500(civil_analyst, civil_source, body):
    response = _post(_client(civil_analyst), body)
    assert response.status_code in (400, 409)
    answer = response.json()
    assert answer["status"] == "ERROR"
    assert not Submission.objects.supplies().exists()


def test_a_period_not_in_the_dhis2_notation_is_a_conflict_naming_the_notation(civil_analyst, civil_source):
    civil, village, period = civil_source
    typed = f"{period[:4]}-{period[4:]}"  # as people write it: 2026-10, or 2026-Q3
    body = _post(_client(civil_analyst), _values(village, typed, dibao_people="12")).json()
    assert body["response"]["importCount"]["imported"] == 0
    [conflict] = body["response"]["conflicts"]
    assert conflict["rule"] == "period.notation" and f"须写作 {period}" in conflict["message_zh"]
    assert f"must be written {period}" in conflict["message_en"]
    assert not Submission.objects.supplies().filter(source=civil).exists()


def test_a_source_posts_csv(civil_analyst, civil_source):
    civil, village, period = civil_source
    csv = (
        "dataelement,period,orgunit,catoptcombo,attroptcombo,value,storedby,lastupdated,comment,followup\n"
        f"dibao_people,{period},{village.area.code},,,12,,,,false\n"
        f"destitute_people,{period},{village.area.code},default,default,4,,,,false\n"
    )
    body = _post(_client(civil_analyst), csv, content_type="application/csv").json()
    assert body["response"]["importCount"]["imported"] == 2
    assert Submission.objects.supplies().get(source=civil).versions.get().values == {
        "dibao_people": 12,
        "destitute_people": 4,
    }


def test_a_unit_files_its_own_sheet_from_dhis2s_adx_sample_and_a_repeat_changes_nothing(village_cadre):
    subscribe("culture", ["village_type"])  # the sample's text value: a field some department asks
    document = (ADX / "fixtures" / "village_basics.adx.xml").read_bytes()
    client = _client(village_cadre)
    dry = _post(client, document, "?dryRun=true", content_type="application/adx+xml")
    assert dry.status_code == 200, dry.content
    assert dry.json()["response"]["importCount"] == {"imported": 4, "updated": 0, "ignored": 0, "deleted": 0}
    mine = Submission.objects.by_units().filter(unit=village_cadre.unit, period="2026Q4")
    assert not mine.exists()
    stored = _post(client, document, content_type="application/adx+xml").json()
    assert stored["response"]["importCount"]["imported"] == 4
    version = mine.get().versions.get()
    assert version.values["village_type"] == "growing"
    assert version.values["registered_population"] == 32
    again = _post(client, document, content_type="application/adx+xml").json()
    assert again["response"]["importCount"] == {"imported": 0, "updated": 0, "ignored": 4, "deleted": 0}
    corrected = _post(
        client, _values(village_cadre.unit, "2026Q4", households="11", village_type="heritage"), ""
    ).json()
    assert corrected["response"]["importCount"]["updated"] == 2
    submission = mine.get()
    assert submission.current_version == 2
    latest = submission.versions.get(number=2).values
    assert (latest["households"], latest["village_type"], latest["registered_population"]) == (11, "heritage", 32)


def test_dhis2s_own_adx_sample_gives_precise_conflicts_and_stores_nothing(village_cadre):
    document = (ADX / "fixtures" / "dhis2-core" / "adx_data_sample1.xml").read_bytes()
    response = _post(_client(village_cadre), document, "?dryRun=true", content_type="application/adx+xml")
    assert response.status_code == 409
    summary = response.json()["response"]
    conflicts = summary["conflicts"]
    # the first group's six values carry attributeOptionCombo="McDonalds" (one also a categoryOptionCombo)
    combos = [c for c in conflicts if c["rule"] == "dhis2.disaggregation"]
    assert [c["indexes"][0] for c in combos] == [0, 1, 2, 3, 4, 5]
    # the second group's seven values are for org unit 342, which is not the unit's
    units = [c for c in conflicts if c["rule"] == "dhis2.unknown_org_unit"]
    assert [c["indexes"][0] for c in units] == [6, 7, 8, 9, 10, 11, 12]
    assert {c["object"] for c in units} == {"342"}
    assert len(conflicts) == 13
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 13, "deleted": 0}
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_a_unit_cannot_post_for_another_unit_or_a_field_it_is_not_asked(village_cadre):
    other = Unit.objects.filter(area__level="village").exclude(pk=village_cadre.unit_id).select_related("area").first()
    body = _post(_client(village_cadre), _values(other, "2026Q4", households="10", gdp="1")).json()
    rules = [c["rule"] for c in body["response"]["conflicts"]]
    assert rules == ["dhis2.unknown_org_unit", "dhis2.unknown_org_unit"]
    mine = _values(village_cadre.unit, "2026Q4", households="10", gdp="1")
    body = _post(_client(village_cadre), mine).json()
    conflicts = body["response"]["conflicts"]
    # gdp is a township's field; and a first filing without the sheet's required counts is refused whole
    assert [(c["rule"], c["object"]) for c in conflicts] == [
        ("dhis2.not_asked", "gdp"),
        ("required", "registered_population"),
        ("required", "resident_population"),
    ]
    assert not Submission.objects.by_units().filter(period="2026Q4").exists()


def test_anonymous_cannot_post(demo):
    response = _post(Client(), {"dataValues": []})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "name"),
    [("?atomicMode=SOME", "atomicMode"), ("?importStrategy=MERGE", "importStrategy"), ("?dryRun=yes", "dryRun")],
)
def test_a_refused_import_parameter_is_named_with_its_reason_in_chinese_and_in_english(
    civil_analyst, civil_source, query, name
):
    civil, village, period = civil_source
    response = _post(_client(civil_analyst), _values(village, period, dibao_people="12"), query)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorCode"], body["rule"]) == ("ERROR", "E2000", "dhis2.parameter")
    zh, en = one_language_each(body)
    assert f"参数 {name} " in zh and f"parameter {name} " in en
    assert not Submission.objects.supplies().filter(source=civil).exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("{not json", "application/json"), ('{"dataValues": 3}', "application/json"), (b"\xff\xfe", "application/csv")],
)
def test_an_unreadable_body_is_refused_with_its_reason_in_chinese_and_in_english(
    civil_analyst, civil_source, body, content_type
):
    response = _post(_client(civil_analyst), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["rule"] == "dhis2.body"
    one_language_each(response.json())


def test_an_adx_period_that_names_no_period_is_answered_in_adxs_notation(village_cadre):
    document = (ADX / "fixtures" / "village_basics.adx.xml").read_text()
    period = re.search(r'period="([^"]+)"', document).group(1)
    wrong = document.replace(f'period="{period}"', 'period="2026-10-15/P3M"')  # not a quarter's first day
    response = _post(_client(village_cadre), wrong.encode(), content_type="application/adx+xml")
    assert response.status_code == 409
    conflicts = response.json()["response"]["conflicts"]
    assert {c["rule"] for c in conflicts} == {"period.adx_format"}
    assert "2026-10-15/P3M" in conflicts[0]["value"] and "2026-10-01/P3M" in conflicts[0]["value"]
    assert "不是有效的 ADX 报告期" in conflicts[0]["value"]
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit).exclude(period="2026Q3").exists()


def test_a_unit_cannot_delete_a_register_value_through_dhis2_it_disputes_it_instead(village_cadre):
    from reporting.services.supplies import SupplyRow, supply_values

    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    unit = village_cadre.unit
    row = SupplyRow("1", unit.area.code, "2026Q4", "elderly_over_60", "433")
    assert supply_values(department=civil, rows=[row], by=User.objects.get(username="civil")).stored
    client = _client(village_cadre)
    typed = _values(unit, "2026Q4", households="10", registered_population="30", resident_population="28")
    filed = _post(client, typed)
    assert filed.status_code == 200, filed.content
    submission = Submission.objects.by_units().get(unit=unit, period="2026Q4", sheet__code="village_basics")
    assert submission.versions.get().confirmed == ["elderly_over_60"]
    gone = _post(client, _values(unit, "2026Q4", elderly_over_60="433"), "?importStrategy=DELETE")
    assert gone.status_code == 409
    summary = gone.json()["response"]
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 0}
    [conflict] = summary["conflicts"]
    assert (conflict["rule"], conflict["indexes"]) == ("register.delete", [0])
    assert f"60岁以上老年人数：此数值由{civil.name}提供，不能删除；如认为有误，请提出异议" in conflict["message_zh"]
    assert f"this value is supplied by {civil.name}: it cannot be deleted; dispute it instead" in conflict["message_en"]
    submission.refresh_from_db()
    assert submission.current_version == 1  # no new version, the origin still the register's


def test_a_sources_refused_value_names_the_data_element_in_its_message(civil_analyst, civil_source):
    _civil, village, period = civil_source
    answer = _post(_client(civil_analyst), _values(village, period, dibao_people="many"))
    assert answer.status_code == 409
    [conflict] = answer.json()["response"]["conflicts"]
    name = Field.objects.get(code="dibao_people")
    assert conflict["message_zh"] == f"{name.name_zh}：须为整数"
    assert conflict["message_en"] == f"{name.name_en}: must be a whole number"
