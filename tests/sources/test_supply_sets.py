"""A JSON body checked set-based by PostgreSQL (`supply_sets`) gives every row the verdict, the message and the
stored value the row-by-row path gives it: the same body supplied both ways, hostile rows included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from core.models import Area, Department, Unit, User
from reporting.filing import supply_readers
from reporting.models import Field, Submission
from reporting.services import supply_sets
from reporting.services.supplies import supply_values

TODAY = dt.date(2026, 11, 29)


def _civil() -> tuple[Department, User, list[str], str]:
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    inside = Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
    outside = Area.objects.exclude(path__startswith=civil.jurisdiction.path).filter(unit__isnull=False).first()
    villages = list(inside.order_by("area__code").values_list("area__code", flat=True))
    return civil, User.objects.get(username="civil"), villages, outside.code if outside else "999"


def _period() -> str:
    return "202610" if Field.objects.get(code="dibao_people").sheet.cadence == "monthly" else "2026Q3"


def _rows(villages: list[str], outside: str) -> list[Any]:
    p, f = _period(), "dibao_people"
    good = [{"unit": v, "period": p, "field": f, "value": n % 7} for n, v in enumerate(villages)]
    hostile_values = [
        "1e5",
        " 12 ",
        "١٢",
        "１２",
        10**30,
        1e5,
        1.0,
        1.5,
        "NaN",
        "😀",
        "",
        "  ",
        None,
        {"a": 1},
        [],
        [1],
        True,
        "1,234",
        -1,
        "12\u00a0",
        10**15,
        10**15 - 1,
        "\t3",
    ]
    rows: list[Any] = list(good)
    for n, raw in enumerate(hostile_values):
        rows.append({"unit": villages[n % len(villages)], "period": p, "field": f, "value": raw})
    rows += [
        {"unit": villages[0], "period": p, "field": "no_such_field", "value": 1},
        {"unit": "000000", "period": p, "field": f, "value": 1},
        {"unit": outside, "period": p, "field": f, "value": 1},
        {"unit": villages[0], "period": "2027", "field": f, "value": 1},
        {"unit": villages[0], "period": "209901", "field": f, "value": 1},
        {"unit": villages[1], "period": p, "field": f, "value": 5, "delete": True},
        {"unit": villages[2], "period": p, "field": f, "value": 99},  # a second value for a supply given before
        {"unit": villages[3], "period": p, "field": f, "value": 3 % 7},  # the same value again
        {"unit": f" {villages[4]} ", "period": p, "field": f, "value": 4},
        {"unit": int(villages[5]) if villages[5].isdigit() else villages[5], "period": p, "field": f, "value": 4},
        {"unit": villages[6], "period": p, "field": f, "value": 4, "record": "r1"},
        {"unit": villages[6], "period": p},
        "not an object",
        [1, 2],
        {"unit": villages[7], "period": p, "field": f, "value": {"nested": {"deeper": [1, 2, {"x": None}]}}},
    ]
    return rows


def _supply(path: Path, *, set_based: bool, atomic: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    civil, user, _villages, _outside = _civil()
    rows = supply_readers.read_json(path)
    with transaction.atomic():
        result = supply_values(
            department=civil, rows=rows if set_based else iter(rows), by=user, atomic=atomic, today=TODAY
        )
        stored = {
            s.unit.area.code: s.versions.order_by("-number").first().values
            for s in Submission.objects.supplies().filter(source=civil).select_related("unit__area")
        }
        transaction.set_rollback(True)
    outcome = {
        "counts": (result.imported, result.updated, result.ignored, result.deleted, result.refused),
        "conflicts": [(c.row, c.as_dict(), c.message) for c in result.conflicts],
        "stored": result.stored,
    }
    return outcome, stored


@pytest.mark.parametrize("atomic", [False, True])
@pytest.mark.parametrize("spoil", ["", "NaN", "\\u0000"])
@pytest.mark.parametrize("window", [1 << 16, 300])
def test_a_json_body_gets_the_same_verdicts_set_based_as_row_by_row(demo, tmp_path, monkeypatch, atomic, spoil, window):
    # given a body of good rows and hostile ones (spoilt, in one variant, by a value PostgreSQL cannot read),
    # read in windows of the usual size or of a few rows each
    monkeypatch.setattr(supply_readers, "_CHUNK", window)
    monkeypatch.setattr(supply_readers, "RUN_BYTES", window)
    _civil_dept, _user, villages, outside = _civil()
    body = json.dumps({"values": _rows(villages, outside)}, ensure_ascii=False)
    if spoil:  # a raw token no JSON encoder writes, in the middle of the body
        body = body.replace('"value": 1.5', f'"value": {spoil}' if spoil == "NaN" else f'"value": "a{spoil}b"', 1)
    path = tmp_path / "body.json"
    path.write_text(body, encoding="utf-8")
    # when it is supplied set-based and row by row
    taken = []
    stage_run = supply_sets.stage_run

    def counted(*args, **kwargs):  # the real statement, its rows counted
        staged = stage_run(*args, **kwargs)
        taken.append(0 if staged is None else staged[0] - len(staged[1]))
        return staged

    monkeypatch.setattr(supply_sets, "stage_run", counted)
    fast, fast_stored = _supply(path, set_based=True, atomic=atomic)
    slow, slow_stored = _supply(path, set_based=False, atomic=atomic)
    # then each row has the same verdict and message, and the same values are stored
    assert fast == slow
    assert fast_stored == slow_stored
    assert slow["conflicts"] and (slow_stored or atomic)
    if not spoil or window < 1000:  # (a spoilt run is read here: in one window, that is the whole body)
        assert sum(taken) >= len(villages) // 2  # most good rows were judged by PostgreSQL, not here
