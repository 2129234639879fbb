"""The data page shows a column only for a field the department receives in the periods shown: a field approved
from 2027Q1 is no column of 2026Q3's rows, where a column of "—" would read as "not filed"; on a page of both
periods, its cells in the earlier period say it was not subscribed then."""

import datetime as dt
import re

import pytest
import time_machine

from core.models import User
from reporting.models import Field, Sheet, Status
from tests.reporting.helpers import file_village_basics, subscribe


def _table(html: str) -> tuple[list[str], list[list[str]]]:
    """The data table's column names and its rows' cells, as text."""
    table = re.search(r'<table class="data">(.*?)</table>', html, re.S).group(1)
    strip = lambda cell: re.sub(r"<[^>]+>|\s+", " ", cell).strip()  # noqa: E731
    head = [strip(h) for h in re.findall(r"<th>(.*?)</th>", table, re.S)]
    body = table.split("<tbody>", 1)[1]
    rows = [[strip(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in body.split("<tr>")[1:]]
    return head, rows


@pytest.fixture
def art_troupes(demo):
    """群众文艺队伍数, approved for culture from 2027Q1 (its data request's first period)."""
    field = Field.objects.create(
        sheet=Sheet.objects.get(code="village_basics"),
        code="art_troupes",
        name_zh="群众文艺队伍数",
        name_en="Amateur art troupes",
        type="integer",
        status=Status.ACTIVE,
        order=999,
    )
    subscribe("culture", ["art_troupes"], starts_on=dt.date(2027, 1, 1))
    return field


@time_machine.travel(dt.datetime(2027, 1, 10, 4, tzinfo=dt.UTC), tick=True)
def test_a_field_asked_from_a_later_period_is_no_column_of_an_earlier_one(client, culture_analyst, art_troupes):
    client.force_login(culture_analyst)
    response = client.get(
        "/department/data/", {"sheet": "village_basics", "period_from": "2026Q3", "period_to": "2026Q3"}
    )
    assert response.status_code == 200
    head, rows = _table(response.content.decode())
    assert len(rows) == 50 and "群众文艺队伍数" not in " ".join(head)  # no column of "—" readable as "not filed"
    assert head[2].startswith("常住人口") and all(row[1] == "2026年第3季度" for row in rows)


@time_machine.travel(dt.datetime(2027, 1, 10, 4, tzinfo=dt.UTC), tick=True)
def test_on_a_page_of_both_periods_the_earlier_cells_say_the_field_was_not_subscribed(
    client, culture_analyst, art_troupes
):
    cadre = User.objects.select_related("unit__area").get(username="village")
    file_village_basics(cadre, period="2027Q1", art_troupes="4")
    client.force_login(culture_analyst)
    township = cadre.unit.area.parent.code
    response = client.get(
        "/department/data/",
        {"sheet": "village_basics", "period_from": "2026Q3", "period_to": "2027Q1", "area": township},
    )
    head, rows = _table(response.content.decode())
    column = next(i for i, name in enumerate(head) if name.startswith("群众文艺队伍数"))
    by_period: dict[str, set[str]] = {}
    for row in rows:
        by_period.setdefault(row[1], set()).add(row[column])
    assert by_period["2027年第1季度"] == {"4"}
    assert by_period["2026年第3季度"] == {"该期未订阅"}  # not "—": nobody was asked it then
