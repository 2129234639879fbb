"""A value too large to show is an empty figure with the reason `overflow` on every read, never a server error, and
a report whose one cell overflows is written whole; a report job that fails shows a message, never the exception."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from openpyxl import Workbook, load_workbook

from core.models import Area, User
from reporting.models import ReportJob
from reporting.reads.reports import report_dir, run_report_job
from reporting.rejections import Problems
from reporting.services.indicators import define_indicator
from reporting.services.reports import TemplateInput, map_cells, upload_template
from tests.reporting.helpers import token_client

COUNTY = "360799000000"


def _huge(office_admin, formula: str = "resident_population * 9999999999999999999"):
    return define_indicator(
        office=office_admin.office,
        by=office_admin,
        code="huge",
        name_zh="极大值",
        name_en="Huge",
        formula=formula,
        rollup="sum",
    )


def test_it_refuses_a_literal_too_large_to_show_by_name_in_each_language(demo, office_admin):
    with pytest.raises(Problems) as refused:
        _huge(office_admin, "resident_population * 99999999999999999999999999999999")
    (problem,) = refused.value.problems
    assert (problem.field, problem.rule) == ("formula", "formula.number_too_large")
    assert "99999999999999999999999999999999" in problem.message_zh and "过大" in problem.message_zh
    assert "too large" in problem.message_en


def test_an_indicator_too_large_to_show_is_empty_with_overflow_on_the_api_the_chart_and_dhis2(
    demo, office_admin, culture_analyst
):
    _huge(office_admin)
    culture = User.objects.get(username="culture")
    query = {"indicator": "huge", "period": "2026Q3", "area": COUNTY}
    response = token_client(culture).get("/api/v1/aggregates", query)
    assert response.status_code == 200, response.content
    (county,) = [item for item in response.json()["items"] if item["area"] == COUNTY]
    assert county["value"] is None and county["reason"] == "overflow"
    client = Client()
    client.force_login(culture_analyst)
    assert client.get("/department/chart/", {"field": "huge", "period": "2026Q3"}).status_code == 200
    response = token_client(culture).get(
        "/dhis2/api/analytics", {"dimension": ["dx:huge", "pe:2026Q3", f"ou:{COUNTY};LEVEL-4"]}
    )
    assert response.status_code == 200, response.content


def test_a_report_with_one_cell_too_large_to_show_is_written_with_that_cell_empty_and_why(
    demo, office_admin, culture_analyst
):
    _huge(office_admin)
    book = Workbook()
    book.active.title = "指标"
    book.active["A1"], book.active["A2"] = "极大值", "常住人口（人）"
    out = io.BytesIO()
    book.save(out)
    template = upload_template(
        department=culture_analyst.department,
        by=culture_analyst,
        data=TemplateInput(name="指标", filename="指标.xlsx", content=out.getvalue(), period_type="quarterly"),
    )
    choices = {"B1": "indicator:huge", "B2": "field:resident_population"}
    mapping = {c.pk: (choices[c.cell], "") for c in template.cells.all()}
    map_cells(template=template, by=culture_analyst, mapping=mapping)
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    job = run_report_job(job.pk)
    assert job.status == "done"
    sheet = load_workbook(report_dir() / job.file)["指标"]
    assert sheet["B1"].value is None and "数值过大" in sheet["B1"].comment.text
    assert sheet["B2"].value > 0


def test_a_failed_report_job_shows_a_message_in_each_language_never_the_exception(demo, culture_analyst):
    book = Workbook()
    book.active["A1"] = "常住人口（人）"
    out = io.BytesIO()
    book.save(out)
    template = upload_template(
        department=culture_analyst.department,
        by=culture_analyst,
        data=TemplateInput(name="坏", filename="坏.xlsx", content=out.getvalue(), period_type="quarterly"),
    )
    map_cells(
        template=template,
        by=culture_analyst,
        mapping={c.pk: ("field:resident_population", "") for c in template.cells.all()},
    )
    template.content = b"not a workbook any more"
    template.save(update_fields=["content"])
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    with pytest.raises(Exception):  # noqa: B017  # the worker sees the exception; the page does not
        run_report_job(job.pk)
    client = Client()
    client.force_login(culture_analyst)
    for language, words in (("zh-hans", "意外错误"), ("en", "unexpected error")):
        client.cookies["django_language"] = language
        page = client.get(f"/department/reports/jobs/{job.pk}/").content.decode()
        assert words in page
        assert "<class" not in page and "&lt;class" not in page and "BadZipFile" not in page
