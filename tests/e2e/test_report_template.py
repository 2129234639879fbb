"""A culture analyst uploads the county's legacy quarterly report, confirms what fills its cells, generates it for
2026Q3 and downloads it: the figures in the right cells, the layout its own (desktop; screenshots)."""

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from core.models import Area, AreaLevel
from reporting.models import ReportTemplate
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login
from tests.rollups.test_report_templates import _by_hand, legacy_report, worker  # noqa: F401 (a fixture)


@pytest.mark.e2e
def test_the_analyst_maps_a_template_and_downloads_its_report(demo, worker, live_server, desktop_page):  # noqa: F811
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    page = desktop_page
    login(page, live_server.url, "culture")
    page.goto(live_server.url + "/department/reports/")
    expect(page.locator("h1")).to_have_text("报表模板")
    page.fill("#id_name", "文化统计季报")
    page.select_option("#id_period_type", "quarterly")
    page.select_option("#id_level", "township")
    page.set_input_files(
        "#id_file",
        {
            "name": "文化统计季报.xlsx",
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "buffer": legacy_report([t.name for t in townships]),
        },
    )
    page.get_by_role("button", name="上传").click()
    expect(page.locator("h1")).to_have_text("文化统计季报")
    template = ReportTemplate.objects.get()
    b5 = template.cells.get(cell="B5")
    # suggested by name: the township's population, the first township by its row label
    expect(page.locator(f"select[name=cell-{b5.pk}]")).to_have_value("field:resident_population")
    expect(page.locator(f"select[name=area-{b5.pk}]")).to_have_value(townships[0].code)
    page.screenshot(path=str(ARTIFACTS / "20r-report-template-mapping.png"), full_page=True)
    page.get_by_role("button", name="确认对应关系").click()
    expect(page.locator("h1")).to_have_text("文化统计季报")
    assert template.cells.filter(confirmed=True).count() == template.cells.count()
    page.fill("#id_period", "2026Q3")
    page.get_by_role("button", name="生成报表").click()
    download_link = page.locator("#download")
    expect(download_link).to_be_visible(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "20r-report-generated.png"), full_page=True)
    with page.expect_download() as downloaded:
        download_link.click()
    path = downloaded.value.path()
    book = load_workbook(io.BytesIO(open(path, "rb").read()))
    ws = book["文化统计季报"]
    population = _by_hand("resident_population")
    for row, township in enumerate(townships, start=5):
        assert Decimal(str(ws.cell(row, 2).value)) == population[township.code]
    assert Decimal(str(ws.cell(5 + len(townships), 2).value)) == population["360799000000"]
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:C1"] and ws["A1"].font.name == "黑体"
    assert "一表通说明" in book.sheetnames
