"""A department's access history: one line per act (a delivery batch, a page read, an export, a chart),
however many units it covered, and each line's count exact even where the read was cut short."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from core.models import Unit
from reporting.models import AccessKind, AccessRecord, Sheet, Subscription
from reporting.reads.accesslog import access_history, write_access_records

START = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


@pytest.fixture
def culture(demo) -> Subscription:
    return Subscription.objects.get(department__code="culture")


def _act(subscription: Subscription, minute: int, kind: str, units: list[Unit], period: str = "2026Q3") -> None:
    """One act at its own moment: one record per unit, written as the real paths write them (one COPY)."""
    sheet = Sheet.objects.get(code="village_basics").pk
    rows = [(u.pk, subscription.department_id, subscription.pk, None, sheet, period, ["library_books"]) for u in units]
    with time_machine.travel(START + dt.timedelta(minutes=minute), tick=False):
        write_access_records(rows, kind)


def test_each_act_is_one_line_with_its_units_counted_newest_first(culture):
    villages = list(Unit.objects.filter(area__level="village").order_by("area__code"))
    _act(culture, 1, AccessKind.PUSHED, villages[:1])
    _act(culture, 2, AccessKind.QUERIED, villages[:40], "2026Q3")
    _act(culture, 2, AccessKind.QUERIED, villages[:15], "2026Q4")  # the same read, another period: its own line
    _act(culture, 3, AccessKind.CHARTED, villages)

    lines = access_history(culture.department)

    assert [(a.kind, a.periods, a.units) for a in lines] == [
        ("charted", "2026Q3", len(villages)),
        ("queried", "2026Q3", 40),
        ("queried", "2026Q4", 15),
        ("pushed", "2026Q3", 1),
    ]
    assert lines[1].unit == min(villages[:40], key=lambda u: u.pk).name and lines[0].sheet == "村（社区）基本情况"
    assert lines[0].at == START + dt.timedelta(minutes=3)


def test_an_act_cut_short_by_the_read_limit_is_still_counted_whole(culture):
    villages = list(Unit.objects.filter(area__level="village").order_by("area__code"))
    _act(culture, 1, AccessKind.CHARTED, villages[:100])  # the oldest: only 20 of its records fit in the read
    _act(culture, 2, AccessKind.QUERIED, villages[:30])

    lines = access_history(culture.department, rows=50)

    assert [(a.kind, a.units) for a in lines] == [("queried", 30), ("charted", 100)]
    assert access_history(culture.department, rows=20) == [lines[0]]  # one act fills the read: counted whole
    assert len(access_history(culture.department, lines=1)) == 1


def test_the_home_page_shows_a_chart_as_one_line_and_another_department_sees_none_of_it(
    client, culture, culture_analyst, civil_analyst
):
    villages = list(Unit.objects.filter(area__level="village"))
    _act(culture, 1, AccessKind.CHARTED, villages)
    assert AccessRecord.objects.filter(kind="charted").count() == len(villages)
    client.force_login(culture_analyst)
    html = client.get("/department/").content.decode()
    assert html.count("图表汇总") == 1 and f"等 {len(villages)} 个单位" in html
    client.force_login(civil_analyst)
    html = client.get("/department/").content.decode()
    assert "图表汇总" not in html
