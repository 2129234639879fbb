"""Report templates: a real-looking legacy report (merged title, Chinese headings, borders and fonts, a table of
townships × two fields and a total) uploaded, suggested, mapped, generated and read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection
from django.test import Client
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.cell_range import MultiCellRange

from core.celery import QUEUES
from core.celery import app as celery_app
from core.models import Area, AreaLevel, User
from reporting.catalogue.periods import Period
from reporting.models import AccessRecord, CellKind, DataRequest, ReportJob, ReportTemplate, SubmissionVersion
from reporting.reads.reports import find_cells, report_dir, run_report_job
from reporting.reads.rollups import rollup
from reporting.rejections import Problems
from reporting.services.reports import TemplateInput, auto_generate, draft_request, map_cells, upload_template
from tests.reporting.helpers import file_village_basics, token_client
from tests.waiting import wait_for

COUNTY = "360799000000"
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def legacy_report(townships: list[str], *, extra_column: str | None = None) -> bytes:
    """The county's quarterly culture report as the city prescribes it."""
    book = Workbook()
    ws = book.active
    ws.title = "文化统计季报"
    columns = ["乡镇", "常住人口（人）", "农家书屋藏书（册）"] + ([extra_column] if extra_column else [])
    last = chr(ord("A") + len(columns) - 1)
    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = "青山县农村文化建设情况统计表"
    ws["A1"].font = Font(name="黑体", size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws["A2"] = "报告期："
    ws["A3"] = "填表说明：数据来源于一表通"  # a note, alone in its row
    for column, heading in enumerate(columns, start=1):
        cell = ws.cell(4, column, heading)
        cell.font = Font(name="宋体", bold=True)
        cell.border = BOX
    for row, name in enumerate([*townships, "合计"], start=5):
        ws.cell(row, 1, name).border = BOX
        for column in range(2, len(columns) + 1):
            ws.cell(row, column).border = BOX
            ws.cell(row, column).number_format = "#,##0"
    ws.column_dimensions["A"].width = 18
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _townships() -> list[Area]:
    return list(Area.objects.filter(level=AreaLevel.TOWNSHIP, path__startswith=f"/{COUNTY[:0]}").order_by("code"))


def _upload(user, content: bytes, **changes) -> ReportTemplate:
    data = TemplateInput(name="文化统计季报", filename="季报.xlsx", content=content, period_type="quarterly")
    for key, value in changes.items():
        setattr(data, key, value)
    return upload_template(department=user.department, by=user, data=data)


def _by_hand(code: str, period: str = "2026Q3") -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area__parent"):
        if version.number == version.submission.current_version and code in version.values:
            township = version.submission.unit.area.parent.code
            sums[township] = sums.get(township, Decimal(0)) + Decimal(str(version.values[code]))
    sums[COUNTY] = sum(sums.values(), Decimal(0))
    return sums


def test_the_legacy_report_is_read_suggested_mapped_generated_and_read_back(demo, culture_analyst):
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    template = _upload(culture_analyst, legacy_report([t.name for t in townships]))
    cells = {c.cell: c for c in template.cells.select_related("field", "area")}
    # the blank right of "报告期：" and the table body: townships × two fields and the total row
    body = {f"{col}{row}" for col in "BC" for row in range(5, 6 + len(townships))}
    assert set(cells) == {"B2"} | body
    assert cells["B2"].suggested == "period"
    assert cells["B5"].suggested == "field:resident_population" and cells["B5"].area == townships[0]
    assert cells["C5"].suggested == "field:library_books"
    total_row = 5 + len(townships)
    assert cells[f"B{total_row}"].area is None  # 合计: the report's own area
    assert all(not c.confirmed for c in cells.values())

    map_cells(
        template=template,
        by=culture_analyst,
        mapping={c.pk: (c.choice, c.area.code if c.area else "") for c in cells.values()},
    )
    job = ReportJob.objects.create(
        template=template,
        department=template.department,
        by=culture_analyst,
        period="2026Q3",
        area=Area.objects.get(code=COUNTY),
    )
    job = run_report_job(job.pk)
    assert (job.status, job.cells_total, job.cells_done) == ("done", len(cells), len(cells))

    book = load_workbook(report_dir() / job.file)
    ws = book["文化统计季报"]
    population, books = _by_hand("resident_population"), _by_hand("library_books")
    for row, township in enumerate(townships, start=5):
        assert ws.cell(row, 1).value == township.name
        assert Decimal(str(ws.cell(row, 2).value)) == population[township.code]
        assert Decimal(str(ws.cell(row, 3).value)) == books[township.code]
    assert Decimal(str(ws[f"B{total_row}"].value)) == population[COUNTY]
    assert Decimal(str(ws[f"C{total_row}"].value)) == books[COUNTY]
    assert ws["B2"].value == "2026年第3季度"
    # styles and merges kept
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:C1"]
    assert ws["A1"].value == "青山县农村文化建设情况统计表"
    assert (ws["A1"].font.name, ws["A1"].font.b, ws["A1"].font.sz) == ("黑体", True, 16)
    assert ws["B5"].border.left.style == "thin" and ws["B5"].number_format == "#,##0"
    assert ws.column_dimensions["A"].width == 18
    note = book["一表通说明"]
    assert note["A2"].value == "区域" and "青山县" in note["B2"].value
    assert note["A4"].value == "生成时间"
    rows = {r[0]: r for r in note.iter_rows(min_row=8, values_only=True)}
    assert rows[f"文化统计季报!B{total_row}"][3] == "150/150"
    # the villages whose values went into the report see it, once per department, field and period
    records = AccessRecord.objects.filter(kind="aggregated", department=culture_analyst.department, period="2026Q3")
    assert records.filter(fields=["resident_population"]).count() == 150
    run_again = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    run_report_job(run_again.pk)
    assert records.filter(fields=["resident_population"]).count() == 150


def _csv() -> bytes:
    return "乡镇,常住人口\n青山镇,\n".encode()


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (_csv(), "report.file"),  # a CSV
        (b"PK\x03\x04 not really a zip", "report.file"),  # a renamed or damaged file
        (b"\xd0\xcf\x11\xe0 old xls", "report.file"),
    ],
)
def test_a_template_that_is_not_an_xlsx_is_refused_and_nothing_is_stored(demo, culture_analyst, content, rule):
    with pytest.raises(Problems) as refused:
        _upload(culture_analyst, content)
    assert [(p.field, p.rule) for p in refused.value.problems] == [("file", rule)]
    assert "xlsx" in refused.value.problems[0].message_zh
    assert not ReportTemplate.objects.exists()


def test_a_template_with_no_cell_to_fill_is_refused(demo, culture_analyst):
    book = Workbook()
    book.active.merge_cells("A1:C1")
    book.active["A1"] = "青山县统计表"  # a merged title
    book.active["A2"], book.active["B2"] = 12, 13  # figures, no blank
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(Problems) as refused:
        _upload(culture_analyst, out.getvalue())
    assert [(p.field, p.rule) for p in refused.value.problems] == [("file", "report.no_cells")]
    assert not ReportTemplate.objects.exists()


def test_settings_are_checked_with_the_file_and_nothing_is_half_saved(demo, culture_analyst):
    with pytest.raises(Problems) as refused:
        _upload(culture_analyst, legacy_report(["青山镇"]), name=" ", period_type="weekly", auto_coverage=0)
    assert {(p.field, p.rule) for p in refused.value.problems} == {
        ("name", "required"),
        ("period_type", "choice.invalid"),
        ("auto_coverage", "report.coverage"),
    }
    [period_type] = [p for p in refused.value.problems if p.field == "period_type"]
    assert period_type.message_zh == "须为下列选项之一：月、季、年"
    assert period_type.message_en == "must be one of: monthly, quarterly, yearly"
    assert not ReportTemplate.objects.exists()


def test_a_file_name_longer_than_is_kept_is_refused_whole_and_nothing_is_stored(demo, culture_analyst, client):
    longest = "季" * 195 + ".xlsx"  # 200 characters: kept whole
    assert _upload(culture_analyst, legacy_report(["青山镇"]), filename=longest).filename == longest
    ReportTemplate.objects.all().delete()
    client.force_login(culture_analyst)
    upload = io.BytesIO(legacy_report(["青山镇"]))
    upload.name = "季" * 196 + ".xlsx"  # one character more: refused, not cut to fit
    response = client.post(
        "/department/reports/", {"name": "季报", "period_type": "quarterly", "level": "", "file": upload}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "文件名" in page and "不能超过 200 个字符" in page
    assert not ReportTemplate.objects.exists()


def test_a_label_longer_than_is_kept_is_refused_naming_its_cell(demo, culture_analyst):
    # a column header of 295 characters: "header / 合计" is 300 (fits), "header / 青山镇" is 301 (does not)
    content = legacy_report(["青山镇"], extra_column="藏" * 295)
    with pytest.raises(Problems) as refused:
        _upload(culture_analyst, content)
    problems = refused.value.problems
    assert [(p.field, p.rule, p.params) for p in problems] == [
        ("file", "report.label_too_long", {"sheet": "文化统计季报", "row": 5, "column": 4, "cell": "D5", "max": 300})
    ]
    assert "工作表“文化统计季报”第 5 行第 4 列（D5）" in problems[0].message_zh
    assert "row 5, column 4 (D5)" in problems[0].message_en and "300 characters" in problems[0].message_en
    assert not ReportTemplate.objects.exists()


def test_a_mapping_to_a_field_the_department_may_not_read_is_refused_by_name(demo, culture_analyst):
    template = _upload(culture_analyst, legacy_report(["青山镇"]))
    cell = template.cells.get(cell="B5")
    before = (cell.kind, cell.field_id, cell.confirmed)
    for key in ("field:dibao_people", "coverage:dibao_people", "field:no_such_field", "indicator:nothing"):
        with pytest.raises(Problems) as refused:
            map_cells(template=template, by=culture_analyst, mapping={cell.pk: (key, "")})
        [problem] = refused.value.problems
        assert (problem.field, problem.rule) == ("cells[B5]", "report.choice")
        assert key.partition(":")[2] in problem.message_zh
    outside = Area.objects.exclude(path__startswith=culture_analyst.department.jurisdiction.path).first()
    if outside is None:  # the demo has one county: an area of another province, made for the test
        outside = Area.objects.create(code="110000000000", name="北京市", level="province", path="/110000000000/")
    with pytest.raises(Problems) as refused:
        map_cells(template=template, by=culture_analyst, mapping={cell.pk: ("field:resident_population", outside.code)})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("cells[B5]", "report.cell_area")]
    cell.refresh_from_db()
    assert (cell.kind, cell.field_id, cell.confirmed) == before


def test_cells_nothing_covers_become_a_draft_data_request(demo, culture_analyst):
    template = _upload(culture_analyst, legacy_report(["青山镇"], extra_column="低保人数（人）"))
    template_cells = {c.cell: c for c in template.cells.all()}
    # the department does not read 低保人数 (civil affairs' field): nothing suggested for it
    assert template_cells["D5"].suggested == "" and template_cells["D5"].kind == CellKind.NONE
    request = draft_request(template=template, by=culture_analyst)
    assert request.status == "draft" and request.department == culture_analyst.department
    assert [f.code for f in request.fields.all()] == ["dibao_people"]  # an existing field: asked for as it is
    assert request.proposed == []


def test_an_uncovered_label_with_no_field_is_proposed_as_a_new_field(demo, culture_analyst):
    template = _upload(culture_analyst, legacy_report(["青山镇"], extra_column="非遗传承人数（人）"))
    request = draft_request(template=template, by=culture_analyst)
    [proposal] = request.proposed
    assert (proposal["name_zh"], proposal["unit_of_measure"], proposal["type"]) == ("非遗传承人数", "人", "integer")
    assert DataRequest.objects.count() == 1


def _api_template(user) -> ReportTemplate:
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    template = _upload(user, legacy_report([t.name for t in townships]))
    map_cells(
        template=template,
        by=user,
        mapping={
            c.pk: (c.choice, c.area.code if c.area else "") for c in template.cells.select_related("area", "field")
        },
    )
    return template


@pytest.fixture
def worker(committed_demo):
    """A real Celery worker on the real Redis broker, in threads of this process (as tests/deliveries' worker).
    Its threads keep their connections (as a worker process does until it exits): those, and only those (the live
    server's thread of an e2e test keeps its own), are ended afterwards."""
    pids: set[int] = set()

    def remember(**_kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(cursor.fetchone()[0])

    fixup = DjangoWorkerFixup(celery_app).install()
    signals.task_postrun.connect(remember, weak=False)
    try:
        with start_worker(
            celery_app, pool="threads", concurrency=2, queues=QUEUES, perform_ping_check=False, shutdown_timeout=30
        ):
            yield
    finally:
        signals.task_postrun.disconnect(remember)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [sorted(pids)])
        signals.task_prerun.disconnect(fixup.on_task_prerun)
        signals.task_postrun.disconnect(fixup.on_task_postrun)
        signals.worker_process_init.disconnect(fixup.on_worker_process_init)
        signals.beat_embedded_init.disconnect(fixup.close_database)


def test_the_api_generates_a_report_through_the_worker_and_serves_it(worker):
    analyst = User.objects.select_related("department__jurisdiction").get(username="culture")
    template = _api_template(analyst)
    client = token_client(analyst)
    assert client.get("/api/v1/reports").json()["items"][0]["id"] == template.pk
    response = client.post(
        f"/api/v1/reports/{template.pk}/generate", {"period": "2026Q3", "area": COUNTY}, format="json"
    )
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    assert wait_for(lambda: client.get(url).json()["status"] == "done", timeout=60)
    body = client.get(url).json()
    assert body["percent"] == 100
    download = client.get(body["download"])
    assert download.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert (
        Decimal(str(book["文化统计季报"]["B5"].value))
        == _by_hand("resident_population")[Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").first().code]
    )
    # the file gone from the web server's folder: 410 naming it, over the API and on the page
    job = ReportJob.objects.get()
    (report_dir() / job.file).unlink()
    gone = client.get(body["download"])
    assert gone.status_code == 410 and [p["code"] for p in gone.json()["errors"]] == ["file.gone"]
    assert "is not on this server" in gone.json()["errors"][0]["message_en"]
    browser = Client()
    browser.force_login(analyst)
    page = browser.get(f"/department/reports/jobs/{job.pk}/download/")
    assert page.status_code == 410 and "不在本服务器上" in page.content.decode()


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"period": "2026Q3", "area": "110000000000"}, "area", "report.area"),
        ({"period": "202607", "area": COUNTY}, "period", "period.type"),
        ({"period": "Q3", "area": COUNTY}, "period", "period.format"),
        ({"period": "2026Q3"}, "area", "required"),
    ],
)
def test_bad_generation_input_is_named_by_field_and_rule(demo, culture_analyst, body, field, rule):
    template = _api_template(culture_analyst)
    response = token_client(culture_analyst).post(f"/api/v1/reports/{template.pk}/generate", body, format="json")
    assert response.status_code == 400
    assert (field, rule) in {(e["field"], e["code"]) for e in response.json()["errors"]}, response.json()
    assert not ReportJob.objects.exists()


def test_strangers_get_nothing(demo, culture_analyst, civil_analyst, village_cadre, client):
    template = _api_template(culture_analyst)
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    run_report_job(job.pk)
    for path in (
        f"/api/v1/reports/{template.pk}/generate",
        f"/api/v1/reports/jobs/{job.pk}",
        f"/api/v1/reports/jobs/{job.pk}/download",
    ):
        method = "post" if path.endswith("generate") else "get"
        other = getattr(token_client(civil_analyst), method)(path, {"period": "2026Q3", "area": COUNTY}, format="json")
        assert other.status_code == 404, path
        assert getattr(client, method)(path).status_code in (401, 403), path
    assert token_client(civil_analyst).get("/api/v1/reports").json()["items"] == []
    client.force_login(civil_analyst)
    for page in (f"/department/reports/{template.pk}/", f"/department/reports/jobs/{job.pk}/download/"):
        assert client.get(page).status_code == 404
    client.force_login(village_cadre)
    assert client.get(f"/department/reports/{template.pk}/").status_code == 404
    assert client.get("/department/reports/").status_code == 404


def test_the_upload_page_refuses_a_csv_and_names_why(demo, culture_analyst, client):
    client.force_login(culture_analyst)
    upload = io.BytesIO(_csv())
    upload.name = "report.csv"
    response = client.post(
        "/department/reports/", {"name": "季报", "period_type": "quarterly", "level": "", "file": upload}
    )
    assert response.status_code == 400
    assert "须为 Excel 工作簿" in response.content.decode()
    assert not ReportTemplate.objects.exists()


def test_the_report_is_generated_automatically_once_coverage_passes_the_level_once(demo, culture_analyst):
    template = _api_template(culture_analyst)
    template.auto_coverage = 90
    template.save()
    made = auto_generate(today=dt.date(2026, 10, 5))  # 2026Q3 just ended, fully reported
    assert [(j.period, j.area.code, j.auto) for j in made] == [("2026Q3", COUNTY, True)]
    assert auto_generate(today=dt.date(2026, 10, 6)) == []  # idempotent per template, period and area
    assert ReportJob.objects.filter(auto=True).count() == 1


def test_no_automatic_report_below_the_level(demo, culture_analyst):
    template = _api_template(culture_analyst)
    template.auto_coverage = 100
    template.save()
    county = Area.objects.get(code=COUNTY)
    field = template.cells.exclude(field=None).first().field
    [q4] = rollup(field, Period.parse("2026Q4"), county, "county")
    assert q4.reported < q4.asked  # 2026Q4 is under way
    made = auto_generate(today=dt.date(2026, 11, 5))
    assert [j.period for j in made] == ["2026Q3"]  # complete; 2026Q4 below 100 %: not generated


def test_an_indicator_cell_is_the_ratio_of_the_sums_and_suppressed_cells_say_so(
    demo, culture_analyst, office_admin, village_cadre
):
    from reporting.services.indicators import define_indicator

    define_indicator(
        office=office_admin.office,
        by=office_admin,
        code="books_per_resident",
        name_zh="人均藏书",
        name_en="Books per resident",
        formula="library_books / resident_population",
        rollup="ratio_of_sums",
        unit_of_measure="册/人",
    )
    book = Workbook()
    ws = book.active
    ws.title = "指标"
    ws["A1"], ws["A2"] = "人均藏书（册/人）", "常住人口（人）"
    out = io.BytesIO()
    book.save(out)
    template = _upload(culture_analyst, out.getvalue())
    cells = {c.cell: c for c in template.cells.select_related("indicator", "field")}
    assert cells["B1"].suggested == "indicator:books_per_resident"
    map_cells(template=template, by=culture_analyst, mapping={c.pk: (c.choice, "") for c in cells.values()})
    county = Area.objects.get(code=COUNTY)
    file_village_basics(village_cadre)  # one village of 150 has filed 2026Q4
    for period in ("2026Q3", "2026Q4"):
        job = ReportJob.objects.create(template=template, department=template.department, period=period, area=county)
        job = run_report_job(job.pk)
        sheet = load_workbook(report_dir() / job.file)["指标"]
        if period == "2026Q3":  # every village reported: Σ books / Σ residents, not a mean of ratios
            books, residents = _by_hand("library_books")[COUNTY], _by_hand("resident_population")[COUNTY]
            assert round(Decimal(str(sheet["B1"].value)), 6) == round(books / residents, 6)
            assert Decimal(str(sheet["B2"].value)) == residents
        else:  # 2026Q4 is under way: the county's figures are not published, and the report says so
            assert sheet["B1"].value == sheet["B2"].value == "不公开"
            assert "不公开" in sheet["B2"].comment.text


def test_a_department_whose_subscription_ended_gets_empty_cells_with_the_reason(demo, culture_analyst):
    from reporting.models import Subscription, SubscriptionStatus

    template = _api_template(culture_analyst)
    Subscription.objects.filter(department=culture_analyst.department).update(status=SubscriptionStatus.ENDED)
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    job = run_report_job(job.pk)
    sheet = load_workbook(report_dir() / job.file)["文化统计季报"]
    assert sheet["B5"].value is None and "无权" in sheet["B5"].comment.text
    assert not AccessRecord.objects.filter(kind="aggregated").exists()


def test_the_draft_request_button_opens_the_prefilled_request(demo, culture_analyst, client):
    template = _upload(culture_analyst, legacy_report(["青山镇"], extra_column="非遗传承人数（人）"))
    client.force_login(culture_analyst)
    page = client.get(f"/department/reports/{template.pk}/").content.decode()
    assert "非遗传承人数" in page and "生成用数申请草稿" in page
    response = client.post(f"/department/reports/{template.pk}/draft-request/")
    request = DataRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/department/requests/{request.pk}/edit/"


def test_a_forged_mapping_on_the_page_is_refused_by_cell_and_nothing_is_stored(demo, culture_analyst, client):
    template = _upload(culture_analyst, legacy_report(["青山镇"]))
    b5, c5 = template.cells.get(cell="B5"), template.cells.get(cell="C5")
    client.force_login(culture_analyst)
    response = client.post(
        f"/department/reports/{template.pk}/",
        {f"cell-{b5.pk}": "field:resident_population", f"cell-{c5.pk}": "field:dibao_people", f"area-{c5.pk}": ""},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "单元格 C5 不能填“dibao_people”" in page and "cell C5 cannot be filled" in page
    assert not template.cells.filter(confirmed=True).exists()
    response = client.post(f"/department/reports/{template.pk}/generate/", {"period": "2026Q3", "area": "999999999999"})
    assert response.status_code == 400 and "不是您辖区内的区域" in response.content.decode()
    assert not ReportJob.objects.exists()


def test_ratio_sum_and_mean_indicators_are_filled_by_the_one_engine_as_computed_by_hand(
    demo, culture_analyst, office_admin
):
    from reporting.services.indicators import define_indicator

    for code, formula, how in (
        ("books_per_resident", "library_books / resident_population", "ratio_of_sums"),
        ("books_and_squares", "library_books + culture_squares", "sum"),
        ("books_per_square", "library_books / culture_squares", "mean"),
        ("books_per_nothing", "library_books / (culture_squares - culture_squares)", "ratio_of_sums"),
    ):
        define_indicator(
            office=office_admin.office,
            by=office_admin,
            code=code,
            name_zh=code,
            name_en=code,
            formula=formula,
            rollup=how,
            unit_of_measure="",
        )
    book = Workbook()
    ws = book.active
    ws.title = "指标"
    ws["A1"], ws["A2"], ws["A3"], ws["A4"] = "人均藏书", "藏书与广场合计", "每个广场藏书", "无法计算的比率"
    out = io.BytesIO()
    book.save(out)
    template = _upload(culture_analyst, out.getvalue())
    keys = {"B1": "books_per_resident", "B2": "books_and_squares", "B3": "books_per_square", "B4": "books_per_nothing"}
    mapping = {c.pk: (f"indicator:{keys[c.cell]}", "") for c in template.cells.all()}
    map_cells(template=template, by=culture_analyst, mapping=mapping)
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    sheet = load_workbook(report_dir() / run_report_job(job.pk).file)["指标"]
    villages = [
        v.values
        for v in SubmissionVersion.objects.filter(
            submission__sheet__code="village_basics", submission__period="2026Q3", submission__source=None
        ).select_related("submission")
        if v.number == v.submission.current_version
    ]
    assert len(villages) == 150
    books = [Decimal(v["library_books"]) for v in villages]
    residents = [Decimal(v["resident_population"]) for v in villages]
    squares = [Decimal(v["culture_squares"]) for v in villages]
    ratio = sum(books) / sum(residents)  # a ratio of the sums, not a mean of the villages' ratios
    total = sum(books) + sum(squares)
    mean = sum(b / s for b, s in zip(books, squares, strict=True)) / len(villages)
    assert abs(Decimal(str(sheet["B1"].value)) - ratio) < Decimal("0.000001")
    assert Decimal(str(sheet["B2"].value)) == total
    assert abs(Decimal(str(sheet["B3"].value)) - mean) < Decimal("0.000001")
    assert sheet["B4"].value is None and "分母为零" in sheet["B4"].comment.text  # empty, with its reason
    # each village whose values went in is recorded once for the indicators' fields, not once per cell
    records = AccessRecord.objects.filter(department=culture_analyst.department, kind="aggregated")
    assert records.filter(fields=["culture_squares", "library_books"]).count() == 150


def test_a_report_for_a_period_not_begun_is_refused_before_any_job(demo, culture_analyst):
    """Nobody could have filed a period not yet begun: its report would be every cell empty, read as "late"."""
    template = _api_template(culture_analyst)
    client = token_client(culture_analyst)
    ahead = Period.containing(timezone.localdate(), template.period_type).next()
    response = client.post(
        f"/api/v1/reports/{template.pk}/generate", {"period": str(ahead), "area": COUNTY}, format="json"
    )
    assert response.status_code == 400
    [error] = [e for e in response.json()["errors"] if e["field"] == "period"]
    assert error["code"] == "period.not_begun"
    assert ahead.label_zh() in error["message_zh"] and ahead.label_en() in error["message_en"]
    assert not ReportJob.objects.exists()


def test_a_generation_for_the_wrong_kind_of_period_names_the_kind_in_each_language(demo, culture_analyst):
    template = _api_template(culture_analyst)
    client = token_client(culture_analyst)
    response = client.post(
        f"/api/v1/reports/{template.pk}/generate", {"period": "202607", "area": COUNTY}, format="json"
    )
    [error] = [e for e in response.json()["errors"] if e["field"] == "period"]
    assert error["message_zh"] == "报告期类型须为季报（如 2026Q4）"
    assert error["message_en"] == "the period must be quarterly (such as 2026Q4)"
    assert not ReportJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "label_zh", "label_en"),
    [
        ({"period": "202611", "area": COUNTY}, "报告期：", "Period: "),
        ({"period": "2026-02-30", "area": COUNTY}, "报告期：", "Period: "),
        ({"period": "2026Q3", "area": "110000000000"}, "区域：", "Area: "),
    ],
)
def test_a_refused_generation_on_the_page_names_its_input_by_the_words_beside_it(
    demo, culture_analyst, client, body, label_zh, label_en
):
    template = _upload(culture_analyst, legacy_report(["青山镇"]))
    client.force_login(culture_analyst)
    response = client.post(f"/department/reports/{template.pk}/generate/", body)
    assert response.status_code == 400
    page = response.content.decode()
    assert f"<li>{label_zh}" in page and f"/ {label_en}" in page, page
    assert not ReportJob.objects.exists()


def test_a_merged_answer_box_is_one_cell_to_fill_and_a_filled_or_unlabelled_merge_is_not():
    book = Workbook()
    ws = book.active
    ws.merge_cells("A1:D1")  # a blank merged band with no label: nothing names it
    ws["A2"] = "常住人口（人）"
    ws.merge_cells("B2:C2")  # the answer box, two columns wide
    ws["A3"] = "农家书屋藏书（册）"
    ws.merge_cells("B3:C3")
    ws["B3"] = 1200  # already filled: not offered
    ws["A4"] = "文化广场数（个）"
    ws["B4"] = None  # a plain blank beside its label, as before
    found = find_cells(book)
    assert [(cell.cell, cell.label) for cell in found] == [("B2", "常住人口（人）"), ("B4", "文化广场数（个）")]


class _CountedRanges(MultiCellRange):
    """A sheet's merged ranges, counting how often they are looked up."""

    lookups = 0

    @property
    def ranges(self) -> set:
        type(self).lookups += 1
        return self._kept

    @ranges.setter
    def ranges(self, value) -> None:
        self._kept = set(value)


def test_a_sheets_merged_ranges_are_gone_through_once_not_once_per_merged_cell():
    book = Workbook()
    ws = book.active
    for row in range(1, 61):  # sixty answer boxes, each two columns wide
        ws.cell(row, 1, f"指标{row}（个）")
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=3)
    ws.cell(30, 2, 5)  # a box already filled: not offered
    ws.merged_cells = _CountedRanges(ws.merged_cells.ranges)
    _CountedRanges.lookups = 0
    found = find_cells(book)
    assert [cell.cell for cell in found] == [f"B{row}" for row in range(1, 61) if row != 30]
    assert _CountedRanges.lookups == 1


def _sheets_book(*titles: str) -> bytes:
    book = Workbook()
    for i, title in enumerate(titles):
        ws = book.active if i == 0 else book.create_sheet()
        ws.title = title
        ws["A1"] = "常住人口（人）"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _generate(user, content: bytes) -> Workbook:
    template = _upload(user, content)
    mapping = {c.pk: ("field:resident_population", "") for c in template.cells.all()}
    map_cells(template=template, by=user, mapping=mapping)
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    job = run_report_job(job.pk)
    assert job.status == "done"
    return load_workbook(report_dir() / job.file)


def test_the_departments_own_notes_sheet_is_kept_and_filled_and_onetables_notes_get_a_name_of_their_own(
    demo, culture_analyst
):
    county = _by_hand("resident_population")[COUNTY]
    book = _generate(culture_analyst, _sheets_book("表 一", "Sheet'2", "说明"))
    assert book.sheetnames == ["表 一", "Sheet'2", "说明", "一表通说明"]
    assert book["说明"]["A1"].value == "常住人口（人）" and Decimal(str(book["说明"]["B1"].value)) == county
    # each cell is named as Excel would write it, its sheet quoted where Excel quotes it
    references = {row[0] for row in book["一表通说明"].iter_rows(min_row=8, values_only=True)}
    assert references == {"'表 一'!B1", "'Sheet''2'!B1", "说明!B1"}
    # a template that already has a sheet of that name keeps it; OneTable's notes take the next free name
    book = _generate(culture_analyst, _sheets_book("一表通说明"))
    assert book.sheetnames == ["一表通说明", "一表通说明2"]
    assert Decimal(str(book["一表通说明"]["B1"].value)) == county


def test_the_notes_quote_the_threshold_of_the_reports_period_not_todays(demo, culture_analyst, office_admin):
    from django.conf import settings

    from reporting.models import SuppressionThreshold

    # raised from 2026Q4 on (today is later): 2026Q3's figures are still decided by the setting's threshold
    SuppressionThreshold.objects.create(units=97, effective_from=dt.date(2026, 10, 1), reason="提高", by=office_admin)
    assert timezone.localdate() >= dt.date(2026, 10, 1)
    book = _generate(culture_analyst, _sheets_book("表一"))
    notes = {row[0]: row[1] for row in book["一表通说明"].iter_rows(max_row=6, values_only=True) if row}
    assert f"少于 {settings.ONETABLE_MIN_CELL} 个单位" in notes["说明"] and "97" not in notes["说明"]
