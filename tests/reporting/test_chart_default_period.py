"""The chart's period when none is asked: the latest with a published figure, not one whose every bar is
suppressed because a single village has filed it."""

import datetime as dt
import json
import re

import pytest
import time_machine

from tests.reporting.helpers import file_village_basics


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _series(response) -> dict:
    html = response.content.decode()
    return json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))


def test_it_breaks_down_the_latest_period_with_a_published_figure(client, culture_analyst, village_cadre):
    file_village_basics(village_cadre)  # 2026Q4: one village of its township has filed
    township = village_cadre.unit.area.parent
    client.force_login(culture_analyst)
    response = client.get("/department/chart/", {"field": "library_books", "area": township.code})
    assert response.status_code == 200
    series = _series(response)
    assert series["periods"][-1] == "2026Q4" and series["states"][-1]  # the new quarter: on the axis, suppressed
    assert series["period"] == "2026Q3"
    assert series["totals"][0] is not None  # the township's figure of 2026Q3 is published
    asked = client.get("/department/chart/", {"field": "library_books", "area": township.code, "period": "2026Q4"})
    assert _series(asked)["period"] == "2026Q4"  # asked for, it is still shown


def test_it_falls_back_to_the_latest_period_filed_when_none_is_published(
    client, culture_analyst, village_cadre, settings
):
    settings.ONETABLE_MIN_CELL = 10**6  # nothing is ever published
    file_village_basics(village_cadre)
    client.force_login(culture_analyst)
    series = _series(
        client.get("/department/chart/", {"field": "library_books", "area": village_cadre.unit.area.parent.code})
    )
    assert series["period"] == "2026Q4"
