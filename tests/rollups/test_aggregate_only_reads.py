"""An aggregate-only department reads its aggregates everywhere the aggregates API's one rule
(`reads.aggregate_subscriptions`) lets it: the chart, report templates (options, mapping, generation, the draft
request) and DHIS2 analytics, at its level and above, never below; a department with no subscription is refused on
each path; the department's home page marks the subscription as aggregates only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from openpyxl import load_workbook

from core.models import Area, AreaLevel, Department, Role, User
from core.tokens import issue_token
from reporting.catalogue.expressions import shown
from reporting.models import CellKind, ReportJob
from reporting.reads.reports import report_dir, run_report_job
from reporting.rejections import Problems
from reporting.services.reports import choice_keys, draft_request, map_cells
from tests.rollups.test_aggregate_subscriptions import (
    COUNTY,
    _aggregate_subscription,
    _by_township,
    _indicator,
    health,  # noqa: F401  (fixture)
)
from tests.rollups.test_report_templates import _upload, legacy_report

FIELDS = ["resident_population", "households", "has_history_museum", "culture_squares"]
KINDS = ("sum", "count", "ratio", "mean")


@pytest.fixture
def township_totals(health, office_admin) -> User:  # noqa: F811
    """The walkthrough's subscription: township totals of four fields and two indicators."""
    indicators = [
        _indicator(office_admin, "pop_per_household", "resident_population / households", "ratio_of_sums"),
        _indicator(office_admin, "museum_share", "count(has_history_museum) / count(units)", "area"),
    ]
    _aggregate_subscription(health, FIELDS, kinds=KINDS, indicators=indicators)
    return health


@pytest.fixture
def stranger(demo) -> User:
    """A department of the county with no subscription at all."""
    county = Area.objects.get(code=COUNTY)
    department = Department.objects.create(code="water", name="青山县水利局", jurisdiction=county)
    return User.objects.create(username="water", role=Role.DEPARTMENT_ANALYST, department=department)


def _page(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _villages() -> set[str]:
    return set(Area.objects.filter(level=AreaLevel.VILLAGE).values_list("code", flat=True))


def _population() -> dict[str, int]:
    return {code: sum(v["resident_population"] for v in vs) for code, vs in _by_township().items()}


def test_the_chart_offers_and_draws_township_totals_and_never_a_village(township_totals):
    page = _page(township_totals)
    offered = [item.code for item in page.get("/department/chart/").context["fields"]]
    assert {"resident_population", "pop_per_household", "museum_share"} <= set(offered)
    county = page.get("/department/chart/", {"field": "resident_population", "period": "2026Q3"})
    assert county.status_code == 200, county.content.decode()[:500]
    population = _population()
    [point] = [p for p in county.context["trend"] if p["period"] == "2026Q3"]
    assert point["value"] == sum(population.values())
    assert {p["area"]: p["value"] for p in county.context["breakdown"]} == population
    assert county.context["drill"] == ""  # no link to the units behind a figure
    # a township's own chart: its total, but no breakdown by village (below the subscription's level)
    township = sorted(population)[0]
    own = page.get("/department/chart/", {"field": "resident_population", "period": "2026Q3", "area": township})
    assert own.status_code == 200
    [point] = [p for p in own.context["trend"] if p["period"] == "2026Q3"]
    assert point["value"] == population[township]
    assert own.context["breakdown"] == []
    html = own.content.decode()
    assert "村民委员会" not in html and not any(code in html for code in _villages())
    # a village's own chart: its figure is a unit's value, below the subscription's level: nothing is read
    village = Area.objects.filter(level=AreaLevel.VILLAGE).order_by("code").first()
    below = page.get("/department/chart/", {"field": "resident_population", "area": village.code})
    assert below.status_code == 200
    assert all(p["value"] is None and p["state"] == "未订阅" for p in below.context["trend"])
    assert below.context["breakdown"] == []
    ratio = page.get("/department/chart/", {"field": "pop_per_household", "period": "2026Q3"})
    assert ratio.status_code == 200
    everyone = [v for vs in _by_township().values() for v in vs]
    expected = shown(Decimal(sum(v["resident_population"] for v in everyone)) / sum(v["households"] for v in everyone))
    [point] = [p for p in ratio.context["trend"] if p["period"] == "2026Q3"]
    assert Decimal(str(point["value"])) == expected


def test_a_department_with_no_subscription_charts_nothing(township_totals, stranger):
    page = _page(stranger)
    assert page.get("/department/chart/").context["fields"] == []
    html = page.get("/department/chart/", {"field": "resident_population"}).content.decode()
    assert str(_population()[sorted(_population())[0]]) not in html


def _analytics(user: User, dx: str, level: int):
    token = issue_token(user=user, name="dhis2")[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        "/dhis2/api/analytics", {"dimension": [f"dx:{dx}", "pe:2026Q3", f"ou:{COUNTY};LEVEL-{level}"]}
    )


def test_dhis2_analytics_answers_township_totals_and_refuses_villages(township_totals, stranger):
    answer = _analytics(township_totals, "resident_population;pop_per_household", 4)
    assert answer.status_code == 200, answer.content
    rows = answer.json()["rows"]
    population = {ou: int(value) for dx, _pe, ou, value in rows if dx == "resident_population"}
    assert population == _population()
    assert {ou for dx, _pe, ou, _v in rows if dx == "pop_per_household"} == set(population)
    for user, level in ((township_totals, 5), (stranger, 4)):
        refused = _analytics(user, "resident_population", level)
        assert refused.status_code == 409
        assert refused.json()["errorCode"] == "E7124"
        assert not any(code in refused.content.decode() for code in _villages())


def test_a_township_report_maps_generates_and_drafts_nothing_for_its_aggregates(township_totals, stranger):
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    content = legacy_report([t.name for t in townships], extra_column="户数（户）")
    template = _upload(township_totals, content, level="township")
    keys = {key for key, _label in choice_keys(template)}
    assert {"field:resident_population", "indicator:pop_per_household", "coverage:resident_population"} <= keys
    cells = {c.cell: c for c in template.cells.select_related("area")}
    assert cells["B5"].suggested == "field:resident_population" and cells["B5"].area == townships[0]
    assert cells["D5"].suggested == "field:households"
    first = townships[0].code
    for key in ("field:resident_population", "indicator:pop_per_household", "coverage:resident_population"):
        map_cells(template=template, by=township_totals, mapping={cells["B5"].pk: (key, first)})
    # a village is below the subscription's level: refused by cell and code, nothing stored
    village = Area.objects.filter(level=AreaLevel.VILLAGE, path__startswith=townships[0].path).first()
    with pytest.raises(Problems) as refused:
        map_cells(template=template, by=township_totals, mapping={cells["C5"].pk: ("field:households", village.code)})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("cells[C5]", "report.choice")]
    assert template.cells.get(cell="C5").area == cells["C5"].area
    map_cells(
        template=template,
        by=township_totals,
        mapping={c.pk: (c.suggested or "none", c.area.code if c.area else "") for c in cells.values()},
    )
    job = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    job = run_report_job(job.pk)
    assert job.status == "done", job.error
    ws = load_workbook(report_dir() / job.file)["文化统计季报"]
    population = _population()
    for row, township in enumerate(townships, start=5):
        assert ws.cell(row, 2).value == population[township.code]
    assert ws.cell(5 + len(townships), 2).value == sum(population.values())
    # 常住人口 and 户数 are read as aggregates already: only 农家书屋藏书 (not subscribed) is asked for
    request = draft_request(template=template, by=township_totals)
    assert [f.code for f in request.fields.all()] == ["library_books"]
    # a department with no subscription is offered nothing and may map nothing
    other = _upload(stranger, content, level="township")
    assert not [key for key, _label in choice_keys(other) if ":" in key]
    assert all(c.kind == CellKind.NONE or c.kind == CellKind.PERIOD for c in other.cells.all())
    with pytest.raises(Problems):
        map_cells(
            template=other,
            by=stranger,
            mapping={other.cells.get(cell="B5").pk: ("field:resident_population", first)},
        )


def test_the_home_page_marks_an_aggregate_only_subscription(township_totals):
    html = _page(township_totals).get("/department/").content.decode()
    [row] = [row for row in html.split("<tr>") if "卫生统计" in row]
    assert "仅汇总" in row and "乡镇及以上的汇总数" in row and "按需查询" in row
    assert "数据流拉取" not in row
