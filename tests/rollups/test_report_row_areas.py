"""A report row's area as the mapping page shows it is the one generation fills; a row label that names no one
area (unknown text, a village name five townships share) is flagged, never silently given the report's total.
The page's entries and its refusals speak the reader's language."""

from __future__ import annotations

import re
from html import unescape

import pytest

from core.models import Area
from reporting.models import ReportJob
from tests.rollups.test_report_templates import COUNTY, _upload, legacy_report

ROWS = ["城关镇", "城关镇东门村村民委员会", "东门村", "=cmd|' /C calc'!A0", "竹园村"]


def _selected_area(page: str, pk: int) -> str:
    select = re.search(rf'<select name="area-{pk}"[^>]*>(.*?)</select>', page, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen.group(1) if chosen else ""


def _row(page: str, pk: int) -> str:
    return unescape(re.search(rf'<select name="area-{pk}".*?</td>', page, re.S).group(0))


@pytest.mark.parametrize("level", ["", "township"])
def test_the_page_shows_the_area_generation_fills_and_flags_a_label_naming_no_one_area(
    demo, culture_analyst, client, level
):
    template = _upload(culture_analyst, legacy_report(ROWS), level=level)
    client.force_login(culture_analyst)
    page = client.get(f"/department/reports/{template.pk}/").content.decode()
    cells = {c.label.rpartition(" / ")[2]: c for c in template.cells.filter(column=2).select_related("area")}
    village = Area.objects.get(code="360799100201")  # the village of 城关镇东门村村民委员会, a unit's name
    assert cells["城关镇东门村村民委员会"].area == village
    assert cells["城关镇"].area.name == "城关镇"
    for label, cell in cells.items():  # what generation fills (`cell.area or` the report's area) is what is shown
        assert _selected_area(page, cell.pk) == (cell.area.code if cell.area else ""), label
    assert cells["东门村"].area is None and cells["=cmd|' /C calc'!A0"].area is None  # not one village of five
    assert "未识别的地区名称，按报表所选区域汇总" in _row(page, cells["=cmd|' /C calc'!A0"].pk)
    assert "有 5 个地区同名，按报表所选区域汇总，请选择区域" in _row(page, cells["东门村"].pk)
    for label in ("城关镇", "城关镇东门村村民委员会", "合计"):
        assert "按报表所选区域汇总" not in _row(page, cells[label].pk), label


def test_the_english_page_names_the_entries_and_flags_in_english(demo, culture_analyst, client):
    template = _upload(culture_analyst, legacy_report(["=x"]))
    client.force_login(culture_analyst)
    client.cookies["django_language"] = "en"
    page = unescape(client.get(f"/department/reports/{template.pk}/").content.decode())
    options = re.findall(r'<option value="(?:field|indicator|coverage):[^"]*"[^>]*>([^<]*)</option>', page)
    assert options and "Resident population (resident_population)" in options, options
    assert not [o for o in options if re.search(r"[\u4e00-\u9fff（]", o)], options
    assert "Unrecognised area name: summed over the report's area" in page


def test_a_generation_without_an_area_says_it_is_required(demo, culture_analyst, client):
    template = _upload(culture_analyst, legacy_report(["城关镇"]))
    client.force_login(culture_analyst)
    response = client.post(f"/department/reports/{template.pk}/generate/", {"period": "2026Q3", "area": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "<li>区域：必填" in page and "/ Area: is required" in page, page
    assert "不是您辖区内的区域" not in page
    assert not ReportJob.objects.exists()
    unknown = client.post(f"/department/reports/{template.pk}/generate/", {"period": "2026Q3", "area": "nope"})
    assert unknown.status_code == 400 and "区域：不是您辖区内的区域" in unknown.content.decode()
    good = client.post(f"/department/reports/{template.pk}/generate/", {"period": "2026Q3", "area": COUNTY})
    assert good.status_code == 302 and ReportJob.objects.count() == 1
