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
