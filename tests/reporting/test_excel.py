import io

import pytest
from openpyxl import load_workbook

from reporting.filing.excel import MAX_UPLOAD_LEDGER_ROWS
from reporting.models import Submission, SubmissionVersion

TEMPLATE = "/fill/2026Q4/template.xlsx"
UPLOAD = "/fill/2026Q4/upload/"


@pytest.fixture
def cadre_client(client, village_cadre):
    client.force_login(village_cadre)
    return client


def template(client):
    response = client.get(TEMPLATE)
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content))


def worksheet(workbook, name_part):
    return workbook[next(n for n in workbook.sheetnames if name_part in n)]


def set_value(ws, code, value, column=5):
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == code)
    ws.cell(row, column).value = value
    return row


def upload(client, workbook):
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    return client.post(UPLOAD, {"file": buffer})


def test_the_template_holds_the_one_table_with_carried_values(cadre_client, village_cadre):
    workbook = template(cadre_client)
    basics = worksheet(workbook, "村（社区）基本情况")
    codes = [basics.cell(r, 1).value for r in range(2, basics.max_row + 1)]
    assert "registered_population" in codes and "village_type" not in codes
    q3 = village_cadre.unit.submissions.get(period="2026Q3").versions.get().values
    row = codes.index("registered_population") + 2
    assert basics.cell(row, 5).value == q3["registered_population"]
    # the form's words
    assert basics.cell(row, 4).value == "整数；必填；0 至 1,000,000；已带入2026年第3季度的值，请确认"
    area = codes.index("culture_centre_area") + 2
    assert "最多保留 1 位小数" in basics.cell(area, 4).value  # every rule of the registry, the places too
    assert any("文化活动台账" in n for n in workbook.sheetnames)
    assert workbook["_meta"].sheet_state == "hidden"


def test_a_filled_template_round_trips_into_submissions(cadre_client, village_cadre):
    workbook = template(cadre_client)
    basics = worksheet(workbook, "村（社区）基本情况")
    set_value(basics, "volunteers", 52)
    set_value(basics, "households", 777)
    civil = worksheet(workbook, "民政服务季报")
    for code, value in {"dibao_households": 12, "dibao_people": 20, "relief_amount": 1500.5}.items():
        set_value(civil, code, value)
    set_value(civil, "veterans", None)
    set_value(civil, "veterans", "本村未统计", column=6)  # not applicable, with its reason
    ledger = worksheet(workbook, "文化活动台账")
    ledger.append(["2026-11-03", "农民运动会", "村小操场", "群众体育", 180, "村委会", 12, "否"])
    response = upload(cadre_client, workbook)
    assert response.status_code == 302, response.content.decode()[:2000]
    values = {
        s.sheet.code: s.versions.get().values
        for s in Submission.objects.filter(unit=village_cadre.unit).exclude(period="2026Q3")
    }
    assert values["village_basics"]["households"] == 777 and values["village_basics"]["volunteers"] == 52
    assert values["civil_affairs"]["relief_amount"] == "1500.50"
    civil_version = SubmissionVersion.objects.get(
        submission__sheet__code="civil_affairs", submission__unit=village_cadre.unit
    )
    assert civil_version.not_applicable == {"veterans": "本村未统计"}
    assert values["cultural_activity"]["activity_category"] == "sports"
    assert values["cultural_activity"]["attendance"] == 180
    # the page the cadre lands on says what was stored
    landed = cadre_client.get(response["Location"]).content.decode()
    assert "表格已接收：提交 2 张报表，保存 1 条台账记录。" in landed


def test_an_upload_with_any_error_names_row_column_and_rule_and_stores_nothing(cadre_client, village_cadre):
    workbook = template(cadre_client)
    basics = worksheet(workbook, "村（社区）基本情况")
    set_value(basics, "volunteers", 30)  # this sheet alone would be valid
    civil = worksheet(workbook, "民政服务季报")
    row = set_value(civil, "dibao_households", "十二")
    set_value(civil, "dibao_people", 20)
    ledger = worksheet(workbook, "文化活动台账")
    ledger.append(["2026-11-31", "夜校", "村部", "讲座", 10])
    response = upload(cadre_client, workbook)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"第 {row} 行 E 列：低保户数：须为整数" in html
    assert f"row {row}, column E: Minimum-income households: must be a whole number" in html
    assert "第 2 行 A 列：活动日期：须为日期" in html
    assert "第 2 行 D 列：活动类别：须为下列选项之一" in html
    assert Submission.objects.filter(unit=village_cadre.unit).exclude(period="2026Q3").count() == 0


def test_a_file_that_is_not_a_workbook_is_refused_clearly(cadre_client):
    bogus = io.BytesIO(b"not a spreadsheet")
    bogus.name = "x.xlsx"
    response = cadre_client.post(UPLOAD, {"file": bogus})
    assert response.status_code == 400
    assert "is not a valid Excel (.xlsx) workbook" in response.content.decode()


def test_a_file_level_problem_names_the_file_not_a_row_zero(cadre_client):
    bogus = io.BytesIO(b"")
    bogus.name = "empty.xlsx"
    html = cadre_client.post(UPLOAD, {"file": bogus}).content.decode()
    assert "上传的文件：不是有效的 Excel（.xlsx）文件" in html
    assert "the uploaded file: is not a valid Excel (.xlsx) workbook" in html
    assert "第 0 行" not in html and "row 0" not in html


def test_the_template_sent_back_with_nothing_in_it_is_refused_not_accepted_as_zero_filings(cadre_client, village_cadre):
    from reporting.filing.excel import NA_COL, VALUE_COL

    workbook = template(cadre_client)
    for title in workbook.sheetnames:
        if title == "_meta":
            continue
        ws = workbook[title]
        for row in range(2, ws.max_row + 1):
            for column in range(VALUE_COL, NA_COL + 1):
                ws.cell(row, column).value = None
    before = Submission.objects.filter(unit=village_cadre.unit).count()
    response = upload(cadre_client, workbook)
    assert response.status_code == 400
    html = response.content.decode()
    assert "上传的文件：模板中没有填写任何数值，未保存" in html
    assert "the uploaded file: the template holds no values: nothing was stored" in html
    assert Submission.objects.filter(unit=village_cadre.unit).count() == before


def test_a_formula_saved_without_its_result_is_refused_naming_its_cell_not_read_as_empty(cadre_client, village_cadre):
    # given a template whose value cell holds a formula openpyxl saves with no computed result
    workbook = template(cadre_client)
    basics = worksheet(workbook, "村（社区）基本情况")
    set_value(basics, "volunteers", 30)
    row = set_value(basics, "households", "=600+10")
    ledger = worksheet(workbook, "文化活动台账")
    ledger.append(["2026-11-03", "农民运动会", "村小操场", "群众体育", "=100+80", "村委会", 12, "否"])
    # when the cadre uploads it
    response = upload(cadre_client, workbook)
    # then it is refused, naming each cell, and nothing is stored
    assert response.status_code == 400
    html = response.content.decode()
    assert f"第 {row} 行 E 列：单元格为公式且没有计算结果，请填写数值" in html
    assert f"row {row}, column E: the cell holds a formula without a computed value; type the value" in html
    assert "第 2 行 E 列：单元格为公式且没有计算结果" in html
    assert Submission.objects.filter(unit=village_cadre.unit).exclude(period="2026Q3").count() == 0


def test_an_upload_with_more_ledger_records_than_the_limit_is_refused_whole_naming_worksheet_count_and_limit(
    cadre_client, village_cadre
):
    workbook = template(cadre_client)
    set_value(worksheet(workbook, "村（社区）基本情况"), "volunteers", 30)  # valid on its own: still not stored
    ledger = worksheet(workbook, "文化活动台账")
    for i in range(MAX_UPLOAD_LEDGER_ROWS + 1):
        ledger.append(["2026-11-03", f"农民运动会 {i}", "村小操场", "sports", 180])
    response = upload(cadre_client, workbook)
    assert response.status_code == 400
    html = response.content.decode()
    count, limit = MAX_UPLOAD_LEDGER_ROWS + 1, MAX_UPLOAD_LEDGER_ROWS
    assert f"工作表「{ledger.title}」有 {count} 条台账记录，超过每次上传最多 {limit} 条的限制，未保存任何内容" in html
    assert f"worksheet “{ledger.title}” holds {count} ledger records, more than the {limit} one upload may hold" in html
    assert Submission.objects.filter(unit=village_cadre.unit).exclude(period="2026Q3").count() == 0
