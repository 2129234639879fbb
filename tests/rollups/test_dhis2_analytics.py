"""`GET /dhis2/api/analytics`: aggregates in DHIS2's analytics shape, numbers computed by hand on the demo county,
suppressed cells left out, bad dimensions as DHIS2 conflicts, and permissions from the side of those who must not
get through; read once with dhis2.py from PyPI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from dhis2 import Api
from rest_framework.test import APIClient

from core.models import Area, AreaLevel, Department, User
from core.tokens import issue_token
from reporting.models import AccessKind, AccessRecord, SubmissionVersion
from reporting.services.indicators import define_indicator
from tests.conftest import _user
from tests.reporting.helpers import file_village_basics, token_client

COUNTY = "360799000000"


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _books_per_resident():
    office = _user("office")
    return define_indicator(
        office=office.office,
        by=office,
        code="books_per_resident",
        name_zh="人均藏书",
        name_en="Books per resident",
        unit_of_measure="册",
        formula="library_books / resident_population",
        rollup="ratio_of_sums",
    )


def _by_township(period: str = "2026Q3") -> dict[str, dict[str, Decimal]]:
    """township code -> sums of library_books and resident_population, from the villages' current versions."""
    sums: dict[str, dict[str, Decimal]] = {}
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area"):
        if version.number != version.submission.current_version:
            continue
        township = version.submission.unit.area.path.split("/")[3]
        for key in ("library_books", "resident_population"):
            got = sums.setdefault(township, {}).setdefault(key, Decimal(0))
            sums[township][key] = got + Decimal(str(version.values[key]))
    return sums


def _shown(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")).normalize(), "f")


def _get(client: APIClient, *dimensions: str, **params: str):
    return client.get("/dhis2/api/40/analytics.json", {"dimension": list(dimensions), **params})


def test_a_department_reads_a_field_and_an_indicator_by_township_in_dhis2s_shape(demo):
    _books_per_resident()
    culture = User.objects.get(username="culture")
    response = _get(token_client(culture), "dx:library_books;books_per_resident", "pe:2026Q3", f"ou:{COUNTY};LEVEL-4")
    assert response.status_code == 200, response.content
    body = response.json()
    sums = _by_township()
    townships = sorted(sums)
    assert [h["name"] for h in body["headers"]] == ["dx", "pe", "ou", "value"]
    assert (body["width"], body["headerWidth"], body["height"]) == (4, 4, 2 * len(townships))
    expected = [["library_books", "2026Q3", t, _shown(sums[t]["library_books"])] for t in townships] + [
        ["books_per_resident", "2026Q3", t, _shown(sums[t]["library_books"] / sums[t]["resident_population"])]
        for t in townships
    ]
    assert body["rows"] == expected
    meta = body["metaData"]
    assert meta["dimensions"] == {
        "dx": ["library_books", "books_per_resident"],
        "pe": ["2026Q3"],
        "ou": townships,
        "co": [],
    }
    assert meta["items"]["books_per_resident"]["name"] == "人均藏书"
    assert meta["items"]["2026Q3"]["name"] == "2026年第3季度"
    names = dict(Area.objects.filter(code__in=townships).values_list("code", "name"))
    assert all(meta["items"][t]["name"] == names[t] for t in townships)
    # each village summed gets one record per department, field and period, however often it is read
    _get(token_client(culture), "dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-4")
    records = AccessRecord.objects.filter(department__code="culture", kind=AccessKind.AGGREGATED)
    assert records.filter(fields=["library_books"]).count() == 150  # the field's read and the indicator's:
    assert records.filter(fields=["library_books", "resident_population"]).count() == 150  # one record each
    assert records.count() == 300


def test_filters_the_column_order_and_skip_meta_follow_dhis2(demo):
    culture = token_client(User.objects.get(username="culture"))
    body = culture.get(
        "/dhis2/api/analytics",
        {"dimension": [f"ou:{COUNTY}", "dx:library_books"], "filter": "pe:2026Q3", "skipMeta": "true"},
    ).json()
    total = sum(s["library_books"] for s in _by_township().values())
    assert [h["name"] for h in body["headers"]] == ["ou", "dx", "value"]
    assert body["rows"] == [[COUNTY, "library_books", _shown(total)]] and "metaData" not in body


def test_suppressed_cells_are_left_out(demo):
    file_village_basics(User.objects.select_related("unit").get(username="village"))  # one village of 150 in Q4
    culture = token_client(User.objects.get(username="culture"))
    body = _get(culture, "dx:library_books", "pe:2026Q3;2026Q4", f"ou:{COUNTY};LEVEL-4").json()
    assert {row[1] for row in body["rows"]} == {"2026Q3"}  # Q4's townships are incomplete: suppressed, not shown
    village = User.objects.select_related("unit__area").get(username="village").unit.area
    assert not AccessRecord.objects.filter(unit__area=village, kind=AccessKind.AGGREGATED, period="2026Q4").exists()


@pytest.mark.parametrize(
    ("dimensions", "params", "rule"),
    [
        (["dx:library_books", f"ou:{COUNTY}"], {}, "dhis2.dimension_missing"),
        (["dx:library_books", "pe:2026Q3", "pe:2026Q4", f"ou:{COUNTY}"], {}, "dhis2.dimension_twice"),
        (["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-9"], {}, "dhis2.dimension"),
        (["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-x"], {}, "dhis2.dimension"),
        (["co:x", "pe:2026Q3", f"ou:{COUNTY}"], {}, "dhis2.dimension"),
        (["dx:", "pe:2026Q3", f"ou:{COUNTY}"], {}, "dhis2.dimension"),
        (["dx:library_books", f"ou:{COUNTY}"], {"filter": "pe:2026Q3;2026Q4"}, "dhis2.filter"),
        (["dx:library_books", "pe:2026Q9", f"ou:{COUNTY}"], {}, "dhis2.period"),
        (["dx:no_such_thing", "pe:2026Q3", f"ou:{COUNTY}"], {}, "dhis2.analytics_item"),
        (["dx:dibao_people", "pe:2026Q3", f"ou:{COUNTY}"], {}, "dhis2.analytics_item"),  # exists, not culture's
        (["dx:library_books", "pe:2026Q3", "ou:360000000000"], {}, "dhis2.unknown_org_unit"),  # above its county
        (["dx:library_books", "pe:202610", f"ou:{COUNTY}"], {}, "period.type"),
        (["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-1"], {}, "aggregate.level"),
    ],
)
def test_bad_dimensions_are_dhis2_conflicts_naming_the_rule(demo, dimensions, params, rule):
    culture = token_client(User.objects.get(username="culture"))
    response = _get(culture, *dimensions, **params)
    assert response.status_code == 409, response.content
    body = response.json()
    assert (body["httpStatusCode"], body["status"], body["rule"]) == (409, "ERROR", rule)
    assert body["message_zh"] and body["message_en"] and body["errorCode"].startswith("E7")


def test_a_field_another_department_is_not_entitled_to_is_refused_as_if_it_did_not_exist(demo):
    civil = token_client(User.objects.get(username="civil"))
    taken = _get(civil, "dx:library_books", "pe:2026Q3", f"ou:{COUNTY}").json()
    missing = _get(civil, "dx:nothing_here", "pe:2026Q3", f"ou:{COUNTY}").json()
    assert taken["rule"] == missing["rule"] == "dhis2.analytics_item"
    assert not AccessRecord.objects.filter(department__code="civil").exists()


def test_a_unit_the_office_and_anonymous_get_nothing(demo):
    query = ("dx:library_books", "pe:2026Q3", f"ou:{COUNTY}")
    for username in ("village", "office"):
        assert _get(token_client(User.objects.get(username=username)), *query).status_code == 404
    assert _get(APIClient(), *query).status_code == 401
    assert not AccessRecord.objects.filter(kind=AccessKind.AGGREGATED).exists()


def test_dhis2_py_reads_analytics(live_server, committed_demo):
    culture = User.objects.get(username="culture")
    api = Api(f"{live_server.url}/dhis2", "unused", "unused", api_version=40)
    api.session.auth = None
    api.session.headers["Authorization"] = f"ApiToken {issue_token(user=culture, name='dhis2.py')[1]}"
    body = api.get("analytics", params={"dimension": ["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-3"]}).json()
    total = sum(s["library_books"] for s in _by_township().values())
    assert body["rows"] == [["library_books", "2026Q3", COUNTY, _shown(total)]]
    assert Department.objects.get(code="culture").jurisdiction.level == AreaLevel.COUNTY


@pytest.mark.parametrize(
    "dimensions",
    [
        ["dx:" + "a" * 5000, "pe:2026Q3", f"ou:{COUNTY}"],
        ["dx:library_books", "pe:" + ";".join(["2026Q3"] * 60), f"ou:{COUNTY}"],
        ["dx:library_books", "pe:2026Q3", "ou:LEVEL-4"],
        ["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-0"],
        ["dx:library_books", "pe:2026Q3", f"ou:{COUNTY};LEVEL-3;LEVEL-4"],
        ["dx:library_books", "pe:99999Q9", f"ou:{COUNTY}"],
        ["dx:library_books;;;", "pe:2026Q3", "ou:'; DROP TABLE core_area; --"],
        ["dx:library_books", "pe:2026Q3", "ou:天河区"],
        ["dimension_without_colon"],
    ],
)
def test_odd_dimensions_are_conflicts_never_a_server_error(demo, dimensions):
    response = _get(token_client(User.objects.get(username="culture")), *dimensions, displayProperty="½")
    assert response.status_code == 409, response.content
    assert response.json()["rule"].startswith("dhis2.")
