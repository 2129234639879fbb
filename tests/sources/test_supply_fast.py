"""The set-based supply's shortcuts keep every row's verdict, and a running job shows the rows it has checked."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
from django.db import connection

from core.models import Department, Unit, User
from reporting.catalogue.fieldtypes import parse_value
from reporting.models import Field, Submission, SupplyJob, SupplyJobStatus
from reporting.rejections import Problem
from reporting.services.supplies import SupplyRow, supply_values
from tests.deliveries.conftest import demo, worker  # noqa: F401  # the committed demo and a real worker
from tests.reporting.helpers import token_client
from tests.waiting import wait_for

TODAY = dt.date(2026, 11, 29)
URL = "/api/v1/department/supplies"


def _civil() -> tuple[Department, User, list[str]]:
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    inside = Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
    return (
        civil,
        User.objects.get(username="civil"),
        list(inside.order_by("area__code").values_list("area__code", flat=True)),
    )


def _period() -> str:
    return "202610" if Field.objects.get(code="dibao_people").sheet.cadence == "monthly" else "2026Q3"


def test_each_raw_value_gets_the_field_types_own_verdict_even_when_equal_values_of_other_types_came_first(demo):  # noqa: F811
    # given raw values that Python holds equal (1, 1.0, True, "1") or that the field type refuses, repeated
    civil, user, villages = _civil()
    f = Field.objects.get(code="dibao_people")
    raws = [1, 1.0, True, "1", " 1 ", 1.5, "一", -1, 10**30, "1", True, 1.0, 1]
    rows = [SupplyRow(str(n), villages[n], _period(), "dibao_people", raw) for n, raw in enumerate(raws)]
    # when they are supplied in one go, partially
    result = supply_values(department=civil, rows=rows, by=user, atomic=False, today=TODAY)
    # then each row has the verdict parse_value gives that raw value alone, and its value is the one it parses to
    refused = {c.row: c.problem.rule for c in result.conflicts}
    stored = {
        s.unit.area.code: s.versions.get().values["dibao_people"]
        for s in Submission.objects.supplies().filter(source=civil).select_related("unit__area")
    }
    for n, raw in enumerate(raws):
        try:
            expected = parse_value(f.type, {**f.constraints, "required": False}, raw, field="value")
        except Problem as problem:
            assert (refused.get(str(n)), villages[n] in stored) == (problem.rule, False), raw
        else:
            assert (str(n) in refused, stored.get(villages[n])) == (False, expected), raw
    assert refused, "some raw values must be refused for the test to mean anything"


def test_a_running_job_shows_the_rows_it_has_checked_before_it_is_done(demo, worker):  # noqa: F811
    civil, user, villages = _civil()
    # given a supply already stored for the first village, whose row a second session holds locked
    supply_values(
        department=civil, rows=[SupplyRow("1", villages[0], _period(), "dibao_people", 1)], by=user, today=TODAY
    )
    held = Submission.objects.supplies().get(source=civil, unit__area__code=villages[0])
    rows = [
        {"unit": code, "period": _period(), "field": "dibao_people", "value": n + 2} for n, code in enumerate(villages)
    ]
    with psycopg.connect(**_params(), autocommit=False) as other:
        other.execute("SELECT id FROM reporting_submission WHERE id = %s FOR UPDATE", [held.pk])
        # when the department posts a supply as a job, which waits for that row once every row is checked
        client = token_client(user)
        answer = client.post(f"{URL}?async=true", json.dumps({"values": rows}), content_type="application/json")
        assert answer.status_code == 202, answer.content
        job_url = answer.json()["url"]

        def checked_while_running() -> bool:
            job = client.get(job_url).json()
            return job["status"] == "running" and job["rows_done"] == len(rows)

        # then the job's page shows every row checked while it still runs (its import not yet committed)
        assert wait_for(checked_while_running)
        assert not Submission.objects.supplies().filter(source=civil, unit__area__code=villages[1]).exists()
        other.rollback()
    # and once the row is free the job finishes and stores the supply
    assert wait_for(lambda: client.get(job_url).json()["status"] == "done")
    job = SupplyJob.objects.get(pk=answer.json()["id"])
    assert (job.status, job.rows_done, job.summary["updated"], job.summary["imported"]) == (
        SupplyJobStatus.DONE,
        len(rows),
        1,
        len(rows) - 1,
    )


def _params() -> dict:
    settings = connection.settings_dict
    return {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"], "dbname": settings["NAME"]}


def test_texts_with_backslashes_tabs_and_line_breaks_are_stored_as_supplied_and_named_in_refusals(demo):  # noqa: F811
    civil, user, _villages = _civil()
    Field.objects.filter(code="notes").update(source=civil)
    f = Field.objects.get(code="notes")
    period = "202610" if f.sheet.cadence == "monthly" else "2026Q3"
    unit = (
        Unit.objects.filter(area__level__in=f.sheet.unit_levels, area__path__startswith=civil.jurisdiction.path)
        .order_by("area__code")
        .values_list("area__code", flat=True)
        .first()
    )
    text = 'C:\\路径\\n 与 "引号"\n第二行\t\\N'
    label = "表\t1!\\N\n2"
    rows = [
        SupplyRow(label, unit, period, "notes", text),
        SupplyRow("second", unit, period, "notes", "另一个值"),
    ]
    result = supply_values(department=civil, rows=rows, by=user, atomic=False, today=TODAY)
    expected = parse_value(f.type, {**f.constraints, "required": False}, text, field="value")
    assert [(c.row, c.problem.rule, c.problem.params) for c in result.conflicts] == [
        ("second", "source.duplicate", {"first": label})
    ]
    supply = Submission.objects.supplies().get(source=civil, unit__area__code=unit, sheet=f.sheet)
    assert supply.versions.get().values == {"notes": expected}
    assert "\\" in expected and "\n" in expected


def test_a_supply_spread_over_chunks_keeps_each_rows_verdict_and_its_first_value(demo, monkeypatch):  # noqa: F811
    # given a village's register values stored, and a supply whose rows for it (repeats and a withdrawal among
    # them) are spread over several chunks, staged as several rows of one supply each
    civil, user, villages = _civil()
    codes = ["dibao_people", "destitute_people", "dibao_households"]
    Field.objects.filter(code__in=codes).update(source=civil)
    assert len({f.sheet_id for f in Field.objects.filter(code__in=codes)}) == 1
    period = _period()
    first = [SupplyRow("0a", villages[0], period, "dibao_people", 5), SupplyRow("0b", villages[0], period, codes[1], 2)]
    supply_values(department=civil, rows=first, by=user, today=TODAY)
    rows = [
        SupplyRow("1", villages[0], period, "dibao_people", 7),
        SupplyRow("2", villages[1], period, "dibao_people", 3),
        SupplyRow("3", villages[0], period, "destitute_people", ""),
        SupplyRow("4", villages[0], period, "dibao_people", "7"),
        SupplyRow("5", villages[0], period, "dibao_people", 8),
        SupplyRow("6", villages[0], period, "destitute_people", 4),
        SupplyRow("7", villages[1], period, "dibao_households", 1),
    ]
    whole = supply_values(department=civil, rows=rows, by=user, atomic=False, dry_run=True, today=TODAY)
    # when it is supplied two rows a chunk
    monkeypatch.setattr("reporting.services.supplies.CHUNK", 2)
    result = supply_values(department=civil, rows=rows, by=user, atomic=False, today=TODAY)

    # then each repeat is judged against the first row of its key (the same value ignored, another refused)
    def outcome(r):
        conflicts = [(c.row, c.problem.rule, c.problem.params) for c in r.conflicts]
        return conflicts, (r.imported, r.updated, r.ignored, r.deleted)

    assert (
        outcome(result)
        == outcome(whole)
        == (
            [("5", "source.duplicate", {"first": "1"}), ("6", "source.duplicate", {"first": "3"})],
            (2, 1, 1, 1),
        )
    )
    # and each supply's new version holds its first values, the withdrawn one gone
    stored = {
        s.unit.area.code: s.versions.order_by("-number").first().values
        for s in Submission.objects.supplies().filter(source=civil).select_related("unit__area")
    }
    assert stored == {villages[0]: {"dibao_people": 7}, villages[1]: {"dibao_people": 3, "dibao_households": 1}}


def test_rows_whose_texts_hold_braces_and_commas_are_read_alike_in_any_window(monkeypatch):
    # given a body whose rows hold "}", "},{" and nested objects in their texts and values, and one that is not JSON
    import io

    from reporting.filing import supply_readers

    rows = [
        {"unit": u, "period": "202610", "field": "f", "value": v}
        for u in ("a", "b}", 'c\\"}', "{x}", "中}")
        for v in (1, 1.5, "}", "},{", {"n": {"m": "}"}}, [1, "]"], None, True)
    ] + [5, "s}", [1, {"a": "}"}]]
    body = json.dumps({"atomic": True, "values": rows, "dry_run": False}, ensure_ascii=False).encode()
    broken = body.replace(b'"b}"', b'"b}', 1)
    expected = [("atomic", True), ("values", None), *(("row", r) for r in rows), ("dry_run", False)]
    for window in (1, 2, 7, 64, 1 << 16):
        # when it is read a window of that many bytes at a time
        monkeypatch.setattr(supply_readers, "_CHUNK", window)
        # then every row is read as JSON reads it, and the broken body is refused as a whole
        assert list(supply_readers.json_items(io.BytesIO(body))) == expected, window
        try:
            list(supply_readers.json_items(io.BytesIO(broken)))
        except Problem as problem:
            assert problem.rule == "supply.json"
        else:
            raise AssertionError(f"a broken body was read (window {window})")
