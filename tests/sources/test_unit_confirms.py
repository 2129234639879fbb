"""The cadre's side of register values: confirm by filing, dispute with a reason, type a gap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import Department, Unit, User
from reporting.catalogue.periods import Period
from reporting.filing.onetable import filing_table
from reporting.filing.origins import origins
from reporting.models import Dispute, Field, Sheet, Submission, SubmissionVersion
from reporting.rejections import Problems
from reporting.services.submissions import correct_submission, submit_sheet
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import VILLAGE_BASICS_Q4

TODAY = dt.date(2026, 11, 29)
PERIOD = "2026Q4"


def _sources() -> tuple[Department, Department]:
    """Civil affairs is the source of the elderly over 60, the statistics bureau of the registered population."""
    civil, stats = Department.objects.get(code="civil"), Department.objects.get(code="stats")
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    Field.objects.filter(code="registered_population").update(source=stats)
    return civil, stats


def _supply(department: Department, unit: Unit, **values) -> None:
    user = User.objects.filter(department=department).first()
    rows = [SupplyRow(str(n), unit.area.code, PERIOD, code, value) for n, (code, value) in enumerate(values.items())]
    result = supply_values(department=department, rows=rows, by=user, today=TODAY)
    assert result.conflicts == [] and result.stored


def _file(cadre: User, **changes) -> object:
    raw = {**VILLAGE_BASICS_Q4, **changes}
    disputes = raw.pop("disputes", None)
    return submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse(PERIOD),
        raw={k: v for k, v in raw.items() if v is not None},
        not_applicable={},
        by=cadre,
        disputes=disputes,
    )


def test_it_shows_the_register_value_with_its_source_and_date_instead_of_the_carried_one(village_cadre):
    civil, _ = _sources()
    unit = village_cadre.unit
    # the demo's earlier filing (2026Q3) gives a carried value for both stable facts
    _supply(civil, unit, elderly_over_60="433")
    table = filing_table(unit=unit, sheet=Sheet.objects.get(code="village_basics"), period=Period.parse(PERIOD))
    entries = table.by_code()
    elderly, population = entries["elderly_over_60"], entries["registered_population"]
    assert elderly.shows == "register" and elderly.prefill == 433
    assert elderly.register is not None and elderly.register.source.name == civil.name
    assert elderly.has_carried  # the carried value is there, but the newer register value is what it shows
    assert population.shows == "carried" and population.is_gap  # stats supplied nothing: a gap, carried


def test_submitting_untouched_confirms_the_register_values(village_cadre):
    civil, stats = _sources()
    unit = village_cadre.unit
    _supply(civil, unit, elderly_over_60="433")
    _supply(stats, unit, registered_population="2100")
    version = _file(village_cadre, elderly_over_60=None, registered_population="2100")
    assert version.values["elderly_over_60"] == 433 and version.values["registered_population"] == 2100
    assert sorted(version.confirmed) == ["elderly_over_60", "registered_population"]
    assert version.disputed == {} and version.gaps == []
    assert version.confirmed_count == 2
    assert version.typed_count == len(version.values) - 2 - len(version.carried)
    assert not {"elderly_over_60", "registered_population"} & set(version.carried)
    assert not Dispute.objects.exists()
    found = origins(
        source_id=None,
        values=version.values,
        carried=version.carried,
        confirmed=version.confirmed,
        disputed=version.disputed,
    )
    assert found["elderly_over_60"] == "confirmed" and found["households"] == "typed"


def test_a_different_value_with_a_reason_opens_a_dispute_and_leaves_the_register_as_it_was(village_cadre):
    civil, _ = _sources()
    unit = village_cadre.unit
    _supply(civil, unit, elderly_over_60="433")
    version = _file(village_cadre, elderly_over_60="420", disputes={"elderly_over_60": "  今年去世2人，迁出11人 "})
    assert version.values["elderly_over_60"] == 420
    assert version.disputed == {"elderly_over_60": {"reason": "今年去世2人，迁出11人", "register": 433}}
    assert version.disputed_count == 1 and "elderly_over_60" not in version.confirmed
    assert "registered_population" in version.gaps  # the statistics bureau supplied nothing: typed, a gap
    dispute = Dispute.objects.get()
    assert dispute.unit == unit and dispute.source == civil and dispute.field.code == "elderly_over_60"
    assert (dispute.register_value, dispute.unit_value, dispute.reason) == (433, 420, "今年去世2人，迁出11人")
    assert dispute.version == version and dispute.status == "open"
    supply = Submission.objects.supplies().get(unit=unit)
    assert supply.current_version == 1 and supply.versions.get().values == {"elderly_over_60": 433}
    # a correction disputing it again updates the one open dispute
    again = correct_submission(
        submission=version.submission,
        raw={**VILLAGE_BASICS_Q4, "elderly_over_60": "421"},
        not_applicable={},
        reason="重新核对",
        by=village_cadre,
        expected_version=1,
        disputes={"elderly_over_60": "重新核对后为421人"},
    )
    dispute = Dispute.objects.get()
    assert (dispute.unit_value, dispute.reason, dispute.version) == (421, "重新核对后为421人", again)


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        (None, "dispute.reason"),
        ("   ", "dispute.reason"),
        ("\u200b", "dispute.reason"),
        (" \ufeff\u200d ", "dispute.reason"),
        ("迁出\u202e13人", "text.character"),
        ("x" * 201, "text.max_length"),
        ("坏\x00", "text.character"),
        (42, "text.type"),
        (["理由"], "text.type"),
    ],
)
def test_a_different_value_without_a_good_reason_is_refused_and_nothing_is_stored(village_cadre, reason, rule):
    civil, _ = _sources()
    unit = village_cadre.unit
    _supply(civil, unit, elderly_over_60="433")
    with pytest.raises(Problems) as refused:
        _file(village_cadre, elderly_over_60="420", disputes={"elderly_over_60": reason})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("elderly_over_60", rule)]
    assert all(p.message_zh and p.message_en for p in refused.value.problems)
    assert not Submission.objects.by_units().filter(unit=unit, period=PERIOD).exists()
    assert not Dispute.objects.exists()


def test_a_dispute_for_a_field_not_in_the_table_is_refused(village_cadre):
    _sources()
    with pytest.raises(Problems) as refused:
        _file(village_cadre, disputes={"no_such_field": "理由"})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("no_such_field", "unknown")]


# --- the unit API ---------------------------------------------------------------------------------------------


def _api(user: User):
    from tests.reporting.helpers import token_client

    return token_client(user)


def test_the_api_lists_each_fields_origin_and_register_value(village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    body = _api(village_cadre).get("/api/v1/unit/one-table", {"period": PERIOD}).json()
    fields = {f["code"]: f for s in body["sheets"] for f in s["fields"]}
    elderly, population = fields["elderly_over_60"], fields["registered_population"]
    assert elderly["origin"] == "register" and elderly["source"] == "civil"
    assert elderly["register"]["value"] == 433 and elderly["register"]["source_name"] == civil.name
    assert elderly["register"]["supplied_on"] == timezone.localdate().isoformat()
    assert population["origin"] == "carried" and population["register"] is None and population["source"] == "stats"
    assert fields["households"]["origin"] == "carried" and fields["households"]["source"] is None


def test_the_api_files_a_confirmation_and_a_dispute_and_refuses_a_dispute_without_reason(village_cadre):
    civil, stats = _sources()
    unit = village_cadre.unit
    _supply(civil, unit, elderly_over_60="433")
    _supply(stats, unit, registered_population="2100")
    api = _api(village_cadre)
    values = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "registered_population"}
    body = {"sheet": "village_basics", "period": PERIOD, "values": {**values, "elderly_over_60": 420}}
    refused = api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert refused.status_code == 400
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("elderly_over_60", "dispute.reason")]
    assert not Submission.objects.by_units().filter(unit=unit, period=PERIOD).exists()
    body["disputes"] = {"elderly_over_60": "去世2人"}
    created = api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="a-2")
    assert created.status_code == 201, created.json()
    filed = created.json()
    assert filed["confirmed"] == ["registered_population"] and filed["values"]["registered_population"] == 2100
    assert filed["disputed"] == {"elderly_over_60": {"reason": "去世2人", "register": 433}}
    assert filed["origins"]["elderly_over_60"] == "disputed"
    assert filed["origins"]["registered_population"] == "confirmed"
    assert filed["counts"]["confirmed"] == 1 and filed["counts"]["disputed"] == 1
    assert Dispute.objects.get().unit_value == 420
    # a correction confirming the register value again: the value is the register's, nothing disputed
    corrected = api.post(
        f"/api/v1/unit/submissions/{filed['id']}/corrections",
        {"values": {**values, "elderly_over_60": 433}, "reason": "核对无误"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert corrected.status_code == 201, corrected.json()
    assert sorted(corrected.json()["confirmed"]) == ["elderly_over_60", "registered_population"]
    # odd shapes of `disputes` are refused by field and rule, never a 500
    for bad in ([1, 2], "x", {"elderly_over_60": {"a": 1}}):
        response = api.post(
            f"/api/v1/unit/submissions/{filed['id']}/corrections",
            {"values": {**values, "elderly_over_60": 5}, "reason": "r", "disputes": bad},
            format="json",
            HTTP_IF_MATCH='"2"',
        )
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["errors"][0]["field"] in ("disputes", "elderly_over_60")


def test_a_unit_never_sees_another_units_register_values(village_cadre):
    civil, _ = _sources()
    other = Unit.objects.filter(area__level="village").exclude(pk=village_cadre.unit.pk).select_related("area").first()
    _supply(civil, other, elderly_over_60="999")
    body = _api(village_cadre).get("/api/v1/unit/one-table", {"period": PERIOD}).json()
    fields = {f["code"]: f for s in body["sheets"] for f in s["fields"]}
    assert fields["elderly_over_60"]["register"] is None
    assert "999" not in str(body)
    version = _file(village_cadre)
    assert "elderly_over_60" in version.gaps and not version.confirmed


# --- the form -------------------------------------------------------------------------------------------------

FILL = f"/fill/village_basics/{PERIOD}/"


def _shown(html: str) -> dict[str, str]:
    """What the form posts as it comes (text inputs, checked radios)."""
    import re

    shown = dict(re.findall(r'name="v__(\w+)" value="([^"]*)"', html))
    checked = dict(re.findall(r'name="v__(\w+)" value="([^"]*)" checked', html))
    return {**shown, **checked}


def _form(values: dict, token: str, **extra) -> dict:
    return {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": token, **extra}


def test_the_form_shows_the_register_value_and_its_source_and_confirms_it_untouched(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    html = client.get(FILL).content.decode()
    assert f"由{civil.name}提供 · {timezone.localdate():%Y-%m-%d}" in html
    assert 'name="v__elderly_over_60" value="433"' in html and "有误？提出异议" in html
    assert 'name="dispute_elderly_over_60"' in html
    assert "暂无此项数据，请填写" in html  # the statistics bureau has not supplied the registered population
    shown = _shown(html)
    response = client.post(FILL, _form({**shown, "volunteers": "48"}, "f-1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    version = Submission.objects.by_units().get(unit=village_cadre.unit, period=PERIOD).versions.get()
    assert version.confirmed == ["elderly_over_60"] and version.values["elderly_over_60"] == 433
    assert "registered_population" in version.gaps
    page = client.get(response["Location"]).content.decode()
    assert "已确认部门数据" in page


def test_the_form_refuses_a_dispute_without_reason_keeping_what_was_typed_then_opens_it(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    shown = _shown(client.get(FILL).content.decode())
    refused = client.post(FILL, _form({**shown, "elderly_over_60": "420"}, "f-2", dispute_elderly_over_60=""))
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "对部门数据提出异议须说明理由" in html and "disputing a register value needs a reason" in html
    assert 'name="v__elderly_over_60" value="420"' in html and '<details class="dispute" open>' in html
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()
    done = client.post(FILL, _form({**shown, "elderly_over_60": "420"}, "f-2", dispute_elderly_over_60="迁出13人"))
    assert done.status_code == 302
    dispute = Dispute.objects.get()
    assert (dispute.unit_value, dispute.register_value, dispute.reason) == (420, 433, "迁出13人")
    page = client.get(done["Location"]).content.decode()
    assert "已提出异议" in page
    # the correction form shows the unit's value and reason again, the dispute open
    correct = client.get(f"/submissions/{dispute.submission_id}/correct/").content.decode()
    assert 'name="v__elderly_over_60" value="420"' in correct and 'value="迁出13人"' in correct


# --- Excel ----------------------------------------------------------------------------------------------------


def _workbook(client):
    import io

    from openpyxl import load_workbook

    response = client.get(f"/fill/{PERIOD}/template.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    basics = workbook[next(n for n in workbook.sheetnames if "村（社区）基本情况" in n)]
    rows = {basics.cell(r, 1).value: r for r in range(2, basics.max_row + 1)}
    return workbook, basics, rows


def _upload(client, workbook):
    import io

    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    return client.post(f"/fill/{PERIOD}/upload/", {"file": buffer})


def test_the_excel_template_marks_the_register_value_and_a_dispute_round_trips(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    workbook, basics, rows = _workbook(client)
    assert basics.cell(1, 7).value == "异议理由或说明 dispute reason / explanation"
    row = rows["elderly_over_60"]
    cell = basics.cell(row, 5)
    assert cell.value == 433 and cell.fill.fgColor.rgb.endswith("DCE8F7")
    note = f"部门数据：由{civil.name}提供 · {timezone.localdate():%Y-%m-%d}"
    assert cell.comment.text == note and note in basics.cell(row, 4).value
    assert "暂无此项数据，请填写" in basics.cell(rows["registered_population"], 4).value
    # a different value without a reason: refused on the reason's column, nothing stored
    cell.value = 420
    refused = _upload(client, workbook)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert f"第 {row} 行 G 列：" in html and "对部门数据提出异议须说明理由" in html
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()
    basics.cell(row, 7).value = "今年迁出13人"
    done = _upload(client, workbook)
    assert done.status_code == 302, done.content.decode()[:3000]
    version = Submission.objects.by_units().get(unit=village_cadre.unit, period=PERIOD, sheet__code="village_basics")
    filed = version.versions.get()
    assert filed.disputed == {"elderly_over_60": {"reason": "今年迁出13人", "register": 433}}
    assert Dispute.objects.get().unit_value == 420


def test_an_untouched_excel_register_value_is_confirmed(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    workbook, basics, rows = _workbook(client)
    basics.cell(rows["volunteers"], 5).value = 50
    assert _upload(client, workbook).status_code == 302
    filed = SubmissionVersion.objects.get(
        submission__unit=village_cadre.unit,
        submission__period=PERIOD,
        submission__sheet__code="village_basics",
        submission__source=None,
    )
    assert filed.confirmed == ["elderly_over_60"] and filed.values["elderly_over_60"] == 433
    assert not Dispute.objects.exists()


def test_a_draft_keeps_the_disputed_value_and_its_reason(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    shown = _shown(client.get(FILL).content.decode())
    draft = {**_form({**shown, "elderly_over_60": "420"}, "f-3", dispute_elderly_over_60="迁出13人"), "action": "draft"}
    assert client.post(FILL, draft).status_code == 302
    html = client.get(FILL).content.decode()
    assert 'name="v__elderly_over_60" value="420"' in html and 'value="迁出13人"' in html
    assert '<details class="dispute" open>' in html
    assert not Dispute.objects.exists()  # a draft is never sent: nothing reaches the source


def test_an_excel_reason_that_is_too_long_is_named_on_the_reason_column(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    workbook, basics, rows = _workbook(client)
    row = rows["elderly_over_60"]
    basics.cell(row, 5).value = 420
    basics.cell(row, 7).value = "理" * 201
    refused = _upload(client, workbook)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert f"第 {row} 行 G 列：60岁以上老年人数（异议理由）：不能超过 200 个字符" in html
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()


# --- corrections: a dispute is a value of the unit's own, and a correction must change something -----------------


def _confirmed_filing(client, cadre: User) -> SubmissionVersion:
    """The statistics bureau supplied a registered population of 1086; the cadre filed, confirming it untouched."""
    _, stats = _sources()
    _supply(stats, cadre.unit, registered_population="1086")
    client.force_login(cadre)
    filed = client.post(FILL, _form(_shown(client.get(FILL).content.decode()), "c-0"))
    assert filed.status_code == 302, filed.content.decode()[:3000]
    version = Submission.objects.by_units().get(unit=cadre.unit, period=PERIOD).versions.get()
    assert version.confirmed == ["registered_population"]
    return version


def _stored(submission: Submission) -> tuple[int, int, int, int]:
    """What a correction would have left behind: versions, relay markers, disputes and correction audit events."""
    from core.models import AuditEvent
    from reporting.models import RelayPending

    return (
        SubmissionVersion.objects.of(submission).count(),
        RelayPending.objects.filter(submission_id=submission.pk).count(),
        Dispute.objects.count(),
        AuditEvent.objects.filter(action="submission.corrected").count(),
    )


def test_the_correction_page_refuses_a_dispute_that_keeps_the_register_value(client, village_cadre):
    # given a filing that confirmed the statistics bureau's 1086
    version = _confirmed_filing(client, village_cadre)
    correct = f"/submissions/{version.submission_id}/correct/"
    html = client.get(correct).content.decode()
    # the dispute's number box has a label of its own
    assert '<label for="v-registered_population" id="dv-registered_population">您认为正确的数值</label>' in html
    before = _stored(version.submission)
    # when the cadre opens the dispute, gives a reason and leaves the number as the bureau's
    shown = _shown(html)
    assert shown["registered_population"] == "1086"
    form = _form(shown, "c-1", base_version="1", dispute_registered_population="今年迁入3户", reason="户籍人口有误")
    refused = client.post(correct, form)
    # then nothing is confirmed behind the cadre's back: the field is named, the dispute stays open, nothing stored
    assert refused.status_code == 400
    page = refused.content.decode()
    assert (
        "户籍人口：异议须填写您认为正确的数值" in page and "a dispute must give the value you believe is right" in page
    )
    assert '<details class="dispute" open>' in page and 'value="今年迁入3户"' in page
    assert _stored(version.submission) == before
    # a value of the cadre's own is a dispute, in the bureau's queue
    form["v__registered_population"] = "1095"
    done = client.post(correct, form)
    assert done.status_code == 302, done.content.decode()[:3000]
    dispute = Dispute.objects.get()
    assert (dispute.source.code, dispute.unit_value, dispute.register_value) == ("stats", 1095, 1086)


def test_the_correction_page_refuses_a_correction_that_changes_nothing(client, village_cadre):
    version = _confirmed_filing(client, village_cadre)
    correct = f"/submissions/{version.submission_id}/correct/"
    before = _stored(version.submission)
    # when the cadre sends the correction form as it came, with a reason
    shown = _shown(client.get(correct).content.decode())
    refused = client.post(correct, _form(shown, "c-2", base_version="1", reason="再次核对"))
    # then no version is made, nothing is sent again and nothing is recorded
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "没有任何修改，未保存新版本" in page and "nothing changed: no new version was saved" in page
    assert _stored(version.submission) == before
    assert Submission.objects.get(pk=version.submission_id).current_version == 1
    # a changed not-applicable answer is a change
    changed = client.post(
        correct,
        _form(shown, "c-3", base_version="1", reason="不适用", na__library_books="1", nar__library_books="无图书室"),
    )
    assert changed.status_code == 302, changed.content.decode()[:3000]
    assert SubmissionVersion.objects.of(version.submission).count() == 2


def test_a_disputed_value_the_register_came_to_agree_with_is_confirmed_with_its_old_reason(client, village_cadre):
    # given a dispute of the bureau's 1086 with 1095, and the bureau since supplying 1095
    version = _confirmed_filing(client, village_cadre)
    correct = f"/submissions/{version.submission_id}/correct/"
    form = _form(_shown(client.get(correct).content.decode()), "c-4", base_version="1", reason="户籍人口有误")
    form.update(v__registered_population="1095", dispute_registered_population="今年迁入3户")
    assert client.post(correct, form).status_code == 302
    _supply(Department.objects.get(code="stats"), village_cadre.unit, registered_population="1095")
    # when the cadre corrects something else on the form as it comes (the old reason still in it)
    html = client.get(correct).content.decode()
    assert 'value="今年迁入3户"' in html
    form = _form(
        {**_shown(html), "volunteers": "50"},
        "c-5",
        base_version="2",
        reason="志愿者人数",
        dispute_registered_population="今年迁入3户",
    )
    done = client.post(correct, form)
    # then the value the register now holds is confirmed, not refused as a dispute of itself
    assert done.status_code == 302, done.content.decode()[:3000]
    latest = SubmissionVersion.objects.current_of(version.submission).get()
    assert "registered_population" in latest.confirmed and latest.disputed == {}


def test_the_api_refuses_a_dispute_of_the_register_value_and_a_correction_that_changes_nothing(village_cadre):
    _, stats = _sources()
    _supply(stats, village_cadre.unit, registered_population="1086")
    api = _api(village_cadre)
    values = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "registered_population"}
    created = api.post(
        "/api/v1/unit/submissions",
        {"sheet": "village_basics", "period": PERIOD, "values": values},
        format="json",
        HTTP_IDEMPOTENCY_KEY="u-1",
    )
    assert created.status_code == 201, created.json()
    submission = Submission.objects.get(pk=created.json()["id"])
    corrections = f"/api/v1/unit/submissions/{submission.pk}/corrections"
    before = _stored(submission)
    # a dispute that keeps the register's value: refused on the field, nothing stored
    disputing = {
        "values": {**values, "registered_population": 1086},
        "reason": "有误",
        "disputes": {"registered_population": "今年迁入3户"},
    }
    refused = api.post(corrections, disputing, format="json", HTTP_IF_MATCH='"1"')
    assert refused.status_code == 400
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("registered_population", "dispute.value")]
    assert (
        refused.json()["errors"][0]["message_zh"]
        == "户籍人口：异议须填写您认为正确的数值（与部门数据不同）；如部门数据无误，请清空异议理由"
    )
    # the same values again (the register's left blank): refused, nothing stored
    same = api.post(corrections, {"values": values, "reason": "核对"}, format="json", HTTP_IF_MATCH='"1"')
    assert same.status_code == 400
    body = same.json()
    assert (body["code"], body["message_zh"], body["message_en"]) == (
        "correction.unchanged",
        "没有任何修改，未保存新版本",
        "nothing changed: no new version was saved",
    )
    assert _stored(submission) == before
    # a real correction under a key; its repeat under that key gets the stored answer, not "nothing changed"
    changed = {"values": {**values, "volunteers": 50}, "reason": "志愿者人数"}
    first = api.post(corrections, changed, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == 201, first.json()
    again = api.post(corrections, changed, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # the same correction as a new request changes nothing any more
    after = _stored(submission)
    repeat = api.post(corrections, changed, format="json", HTTP_IF_MATCH='"2"', HTTP_IDEMPOTENCY_KEY="c-2")
    assert repeat.status_code == 400 and repeat.json()["code"] == "correction.unchanged"
    assert _stored(submission) == after and after[0] == 2


def test_an_excel_dispute_reason_on_the_register_value_is_refused_on_its_value(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    workbook, basics, rows = _workbook(client)
    row = rows["elderly_over_60"]
    basics.cell(row, 7).value = "去世2人"  # a reason, the bureau's 433 left in the value's cell
    refused = _upload(client, workbook)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert f"第 {row} 行 E 列：" in html and "异议须填写您认为正确的数值" in html
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()


# --- a register value that changes while the form is open -----------------------------------------------------


def _seen(html: str) -> dict[str, str]:
    """The register values the form says it showed (`seen_<code>`)."""
    import re

    return dict(re.findall(r'name="(seen_\w+)" value="([^"]*)"', html))


def test_a_value_only_prefilled_is_no_dispute_when_the_register_changed_meanwhile(village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    # the form showed 433; civil affairs supplies 434 before the cadre submits the form untouched
    _supply(civil, village_cadre.unit, elderly_over_60="434")
    filing = dict(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse(PERIOD),
        raw={**VILLAGE_BASICS_Q4, "elderly_over_60": "433"},
        not_applicable={},
        by=village_cadre,
    )
    with pytest.raises(Problems) as refused:
        submit_sheet(**filing, seen={"elderly_over_60": "433"})
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("elderly_over_60", "register.changed")
    assert f"{civil.name}在您打开本页后更新了数值：433 → 434" in problem.message_zh
    assert "supplied another value since you opened this page: 433 → 434" in problem.message_en
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()
    # a cadre who really disputes it still can: the old value with a reason is a dispute
    version = submit_sheet(**filing, seen={"elderly_over_60": "433"}, disputes={"elderly_over_60": "迁出1人"})
    assert version.disputed["elderly_over_60"] == {"reason": "迁出1人", "register": 434}


def test_the_form_says_the_register_changed_shows_the_new_value_and_confirms_it_when_sent_again(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="7")
    client.force_login(village_cadre)
    html = client.get(FILL).content.decode()
    shown, seen = _shown(html), _seen(html)
    assert seen["seen_elderly_over_60"] == "7"
    _supply(civil, village_cadre.unit, elderly_over_60="8")
    refused = client.post(FILL, _form({**shown, "volunteers": "48"}, "f-9", **seen))
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "对部门数据提出异议须说明理由" not in page
    assert f"{civil.name}在您打开本页后更新了数值：7 → 8" in page
    assert 'id="register-elderly_over_60">8<' in page and 'name="v__elderly_over_60" value="8"' in page
    assert '<details class="dispute" open>' not in page  # nothing to dispute unless the cadre wants to
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()
    done = client.post(FILL, _form({**_shown(page), "volunteers": "48"}, "f-9", **_seen(page)))
    assert done.status_code == 302
    version = Submission.objects.by_units().get(unit=village_cadre.unit, period=PERIOD).versions.get()
    assert version.confirmed == ["elderly_over_60"] and version.values["elderly_over_60"] == 8


def test_a_register_field_has_one_label_for_its_input(client, village_cadre):
    civil, _ = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="7")
    client.force_login(village_cadre)
    html = client.get(FILL).content.decode()
    assert html.count('for="v-elderly_over_60"') == 1
    assert html.count('id="v-elderly_over_60"') == 1
    assert html.count('for="v-volunteers"') == 1  # a field without a register keeps its label


def test_a_value_typed_where_the_register_had_none_is_no_dispute_when_a_value_arrives_meanwhile(client, village_cadre):
    civil, stats = _sources()
    _supply(civil, village_cadre.unit, elderly_over_60="433")
    client.force_login(village_cadre)
    html = client.get(FILL).content.decode()
    assert 'name="seen_registered_population" value=""' in html  # the statistics bureau has no value yet
    _supply(stats, village_cadre.unit, registered_population="1086")
    typed = {**_shown(html), "volunteers": "48", "registered_population": "1090"}
    refused = client.post(FILL, _form(typed, "f-10", **_seen(html)))
    assert refused.status_code == 400
    page = refused.content.decode()
    assert f"{stats.name}在您打开本页后更新了数值：— → 1086" in page and "须说明理由" not in page
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period=PERIOD).exists()
