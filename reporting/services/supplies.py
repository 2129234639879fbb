"""Register supplies (一数一源): a source department supplies values of the fields it is the source of.

A supply is a submission whose filer is the source department (`Submission.source`), one per unit, sheet and
period, with versions like a unit's: a supply that changes nothing makes no version and no delivery (so a
client that posts the same values twice changes nothing), and a version goes to the subscriptions that take
its fields through the same relay as a unit's filing (`relay.queue_changes`). Every row is checked first; with
`atomic` (the default) nothing is stored when any row is refused.

Rows arrive from the supply API, the upload page and the DHIS2 face; each names itself (`SupplyRow.row`)
the way its caller shows rows to people ("3", "dataValues[2]"), and each refusal names that row, the field
and the rule.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import logging
import re
import shutil
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from core.audit import audited, read_only, record, unaudited
from core.celery import app
from core.models import Area, Department, Unit, User
from reporting import jobs
from reporting.catalogue.fieldtypes import parse_value
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.catalogue.fieldtypes.sql import TWINNED
from reporting.catalogue.periods import Period, PeriodError
from reporting.filing.onetable import catalogue_reading, period_closed, sheet_catalogue
from reporting.models import (
    DisputeStatus,
    Field,
    Status,
    SupplyJob,
    SupplyJobStatus,
    field_asked_on,
)
from reporting.rejections import Problem, Problems, blank, period_type_params
from reporting.services import ledger_supplies as ledger
from reporting.services import supply_sets
from reporting.services.relay import queue_changes
from reporting.services.supply_versions import insert_versions


class SupplyRow(NamedTuple):
    """One value of a supply as its caller read it: `row` names it in messages; a blank value or `delete`
    withdraws the register's value (a new version without it). A named tuple, not a frozen dataclass: a
    province's register makes 200,000 of them, and a frozen dataclass's __init__ costs about seven times as much."""

    row: str
    unit: str  # the unit's area code
    period: str
    field: str
    value: Any
    delete: bool = False
    record: str | None = None  # the source's own record id (ledger sheets)
    problem: Problem | None = None  # the reader could not make a row of it: refused as it is


@dataclass(frozen=True)
class RowProblem:
    """A refused row: which row, and the Problem (its field, rule and message)."""

    row: str
    problem: Problem
    seq: int = 0  # its place in the supply (conflicts are listed in this order)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, **self.problem.as_dict(), "rule": self.problem.rule}

    @property
    def message(self) -> str:
        return f"第 {self.row} 行：{self.problem.message_zh} / row {self.row}: {self.problem.message_en}"


@dataclass
class SupplyResult:
    """What a supply did (or, with `dry_run` or refused rows under `atomic`, would have done)."""

    imported: int = 0  # values the register did not hold before
    updated: int = 0
    ignored: int = 0  # unchanged values, blank values it did not hold, repeated rows
    deleted: int = 0
    conflicts: list[RowProblem] = field(default_factory=list)
    stored: bool = False
    versions: list[int] = field(default_factory=list)  # ids of the new versions
    more_refused: int = 0  # refused rows beyond the MAX_CONFLICTS kept in `conflicts`

    @property
    def refused(self) -> int:
        """Refused rows (a row wrong in several ways has a conflict for each)."""
        return len({c.seq for c in self.conflicts}) + self.more_refused


# A supply streams: rows are checked CHUNK at a time (the codes not seen before looked up in two queries), the
# good ones are copied into a temporary table (one row per supply and chunk), and everything after that is
# set-based SQL in the same transaction: repeated keys, the comparison with the register's current values, the
# new submissions and versions, their relay markers (one INSERT for all) and the disputes a correction answers.
# Python holds one chunk, the codes it has seen and the first MAX_CONFLICTS refusals, whatever the size of the
# supply; with `atomic`, a refusal anywhere rolls the whole transaction back, so nothing is stored.
CHUNK = 5_000
MAX_CONFLICTS = 10_000  # refusals kept with their messages; more are only counted (a file of nothing but bad rows)


class _Rollback(Exception):
    """Leave the supply's transaction without keeping anything (refused under atomic, or a dry run)."""


# The units of these area codes: as `Unit.objects.filter(area__code__in=…)`, with the codes as one array (a list of
# 500 parameters took four times as long to bind and plan, 0.5 s of a 200,000-value supply).
_UNITS_SQL = f"""
SELECT u.id, a.code, a.path, a.level FROM {Unit._meta.db_table} u JOIN {Area._meta.db_table} a ON a.id = u.area_id
WHERE a.code = ANY(%s)
"""


class _Checker:
    """Each row checked against the catalogue, the units and the department's jurisdiction.

    A province's register repeats the same few fields, periods and values over thousands of units, so each
    part of the check is judged once per distinct key and kept: the field (known, its source, a ledger?), the
    unit (known, inside the jurisdiction, its level), the field in a period (the period's type, begun, the
    field retired, its definition then) and each distinct raw value of a definition (the field type's own
    `parse_value`, its result or its Problem). A row whose (field, period, value) passed before costs two
    dictionary lookups (that and its unit); any other goes through every check, each judged once per key, so the
    outcome and the Problem raised are those of checking the row alone, in the same order of rules."""

    def __init__(self, department: Department, today: dt.date) -> None:
        self.department, self.today = department, today
        self.jurisdiction = department.jurisdiction.path
        self.fields: dict[str, Field | None] = {}
        self.units: dict[str, tuple[int, str, str] | None] = {}  # area code: (unit id, area path, level)
        self.periods: dict[str, Period | PeriodError] = {}
        self.defined: dict[tuple[int, dt.date], dict[str, Field]] = {}
        self.sheets: dict[int, Any] = {}
        self.ledgers: dict[int, bool] = {}  # ledger sheet id: whether the department is the source of a field on it
        self.records = 0  # ledger record values staged (ledger_supplies)
        self._field_checks: dict[str, Problem | tuple[Field, int, frozenset[str], bool]] = {}
        self._unit_checks: dict[str, Problem | tuple[int, str]] = {}
        self._period_checks: dict[tuple[str, str], Problem | tuple[str, str, Field]] = {}
        self._values: dict[tuple, str | Problem] = {}  # (definition, type of raw, raw): stored JSON text
        # (field, period, raw, type of raw, delete): what `check` found for a row that passed, less its unit
        self._known: dict[tuple, tuple[frozenset[str], int, str, str, str, str | None]] = {}
        self._closed: dict[tuple[int, str], Problem | None] = {}  # (sheet id, period): why it takes no supply

    def load(self, rows: list[SupplyRow]) -> None:
        """Look up, in one query each, the fields and units this chunk names that no earlier chunk did."""
        self._load_fields({r.field for r in rows if r.problem is None})
        areas = {r.unit for r in rows if r.problem is None} - self.units.keys()
        if areas:
            with connection.cursor() as cursor:  # one array parameter: a 5,000-row chunk names ~500 units
                cursor.execute(_UNITS_SQL, [list(areas)])
                known = {code: (pk, path, level) for pk, code, path, level in cursor.fetchall()}
            self.units.update({code: known.get(code) for code in areas})

    def _load_fields(self, codes: set[str]) -> None:
        codes = codes - self.fields.keys()
        if codes:
            found = {f.code: f for f in Field.objects.select_related("sheet").filter(code__in=codes)}
            self.fields.update({code: found.get(code) for code in codes})

    def plain_key(self, code: str, given: str) -> tuple[str, str, int, str, str, list[str], str, dict] | None:
        """The key of `supply_sets.supply_keys` for a field and period whose every check but the unit's and the
        value's passes, judged by the same checks as `check`; None when its rows are checked here, in Python
        (a refusal, a ledger, a field type without an SQL twin)."""
        if not supply_sets.PLAIN_CODE.fullmatch(code):
            return None
        self._load_fields({code})
        found = self._field_checks.get(code)
        if found is None:
            found = self._field_checks[code] = _judged(self._field, code)
        if isinstance(found, Problem) or found[3]:
            return None
        f, sheet_id, levels, _ledger = found
        when = self._period_checks.get((code, given))
        if when is None:
            when = self._period_checks[(code, given)] = _judged(self._field_in, f, given)
        if isinstance(when, Problem) or when[2].type not in TWINNED:
            return None
        period, start, defined = when
        return code, given, sheet_id, period, start, sorted(levels), defined.type, dict(defined.constraints)

    def period(self, text: str) -> Period:
        found = self.periods.get(text)
        if found is None:
            try:  # the notation alone: a supply is keyed by the text it sends (supply_sets.supply_keys)
                found = Period.parse(text, strict=True)
            except PeriodError as problem:
                found = problem
            self.periods[text] = found
        if isinstance(found, PeriodError):
            raise found.with_traceback(None)  # a kept Problem: no chain of earlier raises
        return found

    def check(self, r: SupplyRow) -> tuple[int, int, str | None, str, str, Any]:
        """(unit id, sheet id, period, its first day, field code, the value as JSON text or None to withdraw),
        the period as COPY's text format writes it; or a Problem naming the rule. A ledger record's value has no
        period yet (None, its record's date gives it: `ledger_supplies`) and comes parsed (Jsonb, None to withdraw)."""
        try:  # a (field, period, value) that passed before: only its unit is left to check
            known = self._known.get((r.field, r.period, r.value, type(r.value), r.delete))
        except TypeError:  # a list or an object: checked the long way
            known = None
        if known is not None:
            unit = self._unit_checks.get(r.unit)
            if type(unit) is tuple and unit[1] in known[0]:
                return unit[0], *known[1:]
        if r.problem is not None:
            raise r.problem
        found = self._field_checks.get(r.field)
        if found is None:
            found = self._field_checks[r.field] = _judged(self._field, r.field)
        unit = self._unit_checks.get(r.unit)
        if unit is None:
            unit = self._unit_checks[r.unit] = _judged(self._unit, r.unit)
        if isinstance(found, Problem) or isinstance(unit, Problem):
            self._refuse_whole_row(r, found, unit)
        assert not isinstance(found, Problem) and not isinstance(unit, Problem)
        f, sheet_id, levels, is_ledger = found
        unit_id, level = unit
        if level not in levels:
            raise Problem(field="unit", rule="source.unit_level", params={"sheet": f.sheet.name_zh})
        if is_ledger:  # a ledger record's row: checked on its own (its record and date are its own)
            return self._record_value(r, unit_id, f)
        key = (r.field, r.period)
        when = self._period_checks.get(key)
        if when is None:
            when = self._period_checks[key] = _judged(self._field_in, f, r.period)
        if isinstance(when, Problem):
            raise when.with_traceback(None)  # a kept Problem: no chain of earlier raises
        period, start, defined = when
        value = r.value
        if r.delete or (type(value) is not int and is_blank(value)):
            text = None
        else:
            text = self._value(defined, value)
        if isinstance(value, _HASHABLE) or value is None:
            if len(self._known) >= _VALUES_KEPT:
                self._known.clear()
            self._known[(r.field, r.period, value, type(value), r.delete)] = (
                levels,
                sheet_id,
                period,
                start,
                f.code,
                text,
            )
        return unit_id, sheet_id, period, start, f.code, text

    def _refuse_whole_row(self, r: SupplyRow, found: Any, unit: Any) -> None:
        """Every problem of a row whose field or unit is wrong, each named: the field, the unit, and the period
        as far as it can be judged without the field (whether it is a period at all)."""
        problems = [p.with_traceback(None) for p in (found, unit) if isinstance(p, Problem)]
        if isinstance(found, Problem) and r.record is None:
            try:
                self.period(r.period)
            except PeriodError as problem:
                problems.append(problem.with_traceback(None))
        elif not isinstance(found, Problem) and not found[3]:  # a periodic field: the period judged for it
            when = self._period_checks.get((r.field, r.period))
            if when is None:
                when = self._period_checks[(r.field, r.period)] = _judged(self._field_in, found[0], r.period)
            if isinstance(when, Problem):
                problems.append(when.with_traceback(None))
        raise problems[0] if len(problems) == 1 else Problems(problems)

    def _field(self, code: str) -> tuple[Field, int, frozenset[str], bool]:
        """The field, its sheet's id and unit levels, and whether the sheet is a ledger."""
        f = self.fields.get(code)
        if f is None:
            raise Problem(field="field", rule="source.unknown_field", params={"code": code[:40]})
        if f.source_id != self.department.pk and not self._record_date_of_own_ledger(f):
            raise Problem(field="field", rule="source.not_source", params={"code": f.code})
        sheet = f.sheet
        return f, sheet.pk, frozenset(sheet.unit_levels or ()), bool(sheet.is_ledger)

    def _unit(self, code: str) -> tuple[int, str]:
        unit = self.units.get(code)
        if unit is None:
            raise Problem(field="unit", rule="source.unknown_unit", params={"code": code[:40]})
        unit_id, path, level = unit
        if not path.startswith(self.jurisdiction):
            raise Problem(field="unit", rule="source.outside_jurisdiction", params={"code": code})
        return unit_id, level

    def _field_in(self, f: Field, text: str) -> tuple[str, str, Field]:
        sheet = f.sheet
        period = self.period(text)
        if period.type != sheet.period_type:
            raise Problem(field="period", rule="period.type", params=period_type_params(sheet.cadence))
        key = (sheet.pk, str(period))
        if key not in self._closed:  # each row of a closed period is refused by the one rule (lead, lock, unlock)
            self._closed[key] = period_closed(sheet=sheet, period=period, today=self.today, source=self.department)
        closed = self._closed[key]
        if closed is not None:
            raise Problem(field=closed.field, rule=closed.rule, params=closed.params)
        if f.status != Status.ACTIVE and not field_asked_on(f.retired_from, period.start):
            raise Problem(field="field", rule="source.retired", params={"code": f.code, "period": period})
        self.sheets[sheet.pk] = sheet
        return _copy_text(str(period)), period.start.isoformat(), self._defined(sheet, period.start)[f.code]

    def _value(self, defined: Field, raw: Any) -> str:
        """The value parsed by its field type, as JSON text; each distinct raw value parsed once per definition
        (the definitions are kept in `defined`, so their ids name them while the checker lives)."""
        key = (id(defined), type(raw), raw) if isinstance(raw, _HASHABLE) else None
        found = self._values.get(key) if key is not None else None
        if found is None:
            try:
                value = parse_value(defined.type, {**defined.constraints, "required": False}, raw, field="value")
                found = str(value) if type(value) is int else json.dumps(value, ensure_ascii=False)
            except Problem as problem:  # named by the catalogue's field, not only by the row
                found = problem.with_traceback(None).labelled(defined.name_zh, defined.name_en)
            if key is not None:
                if len(self._values) >= _VALUES_KEPT:
                    self._values.clear()
                self._values[key] = found
        if isinstance(found, Problem):
            raise found.with_traceback(None)  # a kept Problem: no chain of earlier raises
        return found

    def _record_date_of_own_ledger(self, f: Field) -> bool:
        """The date of a ledger record is supplied with it by the source of any of the ledger's fields."""
        sheet = f.sheet
        if not sheet.is_ledger or f.code != sheet.record_date_field:
            return False
        if sheet.pk not in self.ledgers:
            self.ledgers[sheet.pk] = sheet.fields.filter(source=self.department).exists()
        return self.ledgers[sheet.pk]

    def _record_value(self, r: SupplyRow, unit_id: int, f: Field) -> tuple[int, int, None, str, str, Jsonb | None]:
        """A ledger record's value, checked row by row (not kept: its record id is its own), parsed for the
        ledger's stage (`ledger_supplies.COPY_STAGE`): (unit id, sheet id, None, "", field code, Jsonb or None)."""
        sheet = f.sheet
        if r.record is None or blank(r.record):
            raise Problem(field="record", rule="source.ledger", params={"sheet": sheet.name_zh})
        if len(r.record) > ledger.RECORD_MAX:
            raise Problem(field="record", rule="source.record")
        if f.status != Status.ACTIVE and not field_asked_on(f.retired_from, self.today):
            raise Problem(field="field", rule="source.retired", params={"code": f.code, "period": self.today})
        self.sheets[sheet.pk] = sheet
        if r.delete or is_blank(r.value):
            return unit_id, sheet.pk, None, "", f.code, None
        defined = self._defined(sheet, self.today).get(f.code, f)
        value = parse_value(defined.type, {**defined.constraints, "required": False}, r.value, field="value")
        return unit_id, sheet.pk, None, "", f.code, Jsonb(value)

    def _defined(self, sheet, day: dt.date) -> dict[str, Field]:
        found = self.defined.get((sheet.pk, day))
        if found is None:
            found = {d.code: d for d in sheet_catalogue(sheet).fields_at(day)}
            self.defined[(sheet.pk, day)] = found
        return found


def _copy_text(text: str) -> str:
    """`text` as a field of COPY's text format (its backslash, tab and line breaks escaped)."""
    if _COPY_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_HASHABLE = (str, int, float, bool)  # raw values kept by `_Checker._value` (lists and objects are parsed each time)
_VALUES_KEPT = 100_000  # distinct raw values remembered (about 20 MB at most); then forgotten and parsed again


def _judged(check: Callable[..., Any], *args: Any) -> Any:
    """What `check` returns, or the Problem it raises (kept in the checker's memory like a result)."""
    try:
        return check(*args)
    except Problem as problem:
        return problem.with_traceback(None)  # kept without the frames it was raised in


# For the supply's transaction only: its statements are one-off set operations over the whole supply, which JIT
# compilation slows (0.3–0.4 s compiling per 200,000-value supply, run once) and the default 4 MB of work_mem
# spills to disk (its sorts of the staged rows).
_SETTINGS_SQL = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"

_STAGE_SQL = """
DROP TABLE IF EXISTS supply_stage, supply_change;
CREATE TEMP TABLE supply_stage (
    seq integer NOT NULL, unit_id bigint NOT NULL, sheet_id bigint NOT NULL, period text NOT NULL,
    period_start date NOT NULL, vals jsonb NOT NULL, gone text[] NOT NULL,
    rows text NOT NULL  -- read only when merged
) ON COMMIT DROP
"""

# The stage holds a supply's values grouped: one row per supply (unit, sheet, period) and chunk, its values as
# {code: value}, the codes it withdraws, and their rows as {code: [seq, row]}; a supply's values in one chunk are
# one row, so PostgreSQL compares 20,000 rows of ten values rather than 200,000 rows of one (each sorted and
# grouped again: 1–1.5 s of a 200,000-value supply). A supply staged in more than one row (its values spread
# over chunks, or a field given twice) is merged here into one row: a key (unit, sheet, period, field) given
# twice keeps its first row; a repeat with the same value is ignored, one with another value refused (named
# by the first row).
_REPEATS_SQL = """
WITH spread_keys AS (
    SELECT unit_id, sheet_id, period FROM supply_stage GROUP BY unit_id, sheet_id, period HAVING count(*) > 1
), taken AS (
    DELETE FROM supply_stage st USING spread_keys k
    WHERE (st.unit_id, st.sheet_id, st.period) = (k.unit_id, k.sheet_id, k.period)
    RETURNING st.*
), spread AS (
    SELECT t.unit_id, t.sheet_id, t.period, t.period_start, g.code, g.value,
           (t.rows::jsonb -> g.code ->> 0)::integer AS seq, t.rows::jsonb -> g.code ->> 1 AS row
    FROM taken t
    CROSS JOIN LATERAL (SELECT key, value FROM jsonb_each(t.vals) UNION ALL SELECT unnest(t.gone), NULL) g(code, value)
), judged AS (
    SELECT *, first_value(row) OVER w AS first_row, first_value(value) OVER w AS first_value,
           row_number() OVER w AS n
    FROM spread
    WINDOW w AS (PARTITION BY unit_id, sheet_id, period, code ORDER BY seq)
), merged AS (
    INSERT INTO supply_stage (seq, unit_id, sheet_id, period, period_start, vals, gone, rows)
    SELECT min(seq), unit_id, sheet_id, period, min(period_start),
           coalesce(jsonb_object_agg(code, value) FILTER (WHERE value IS NOT NULL), '{}'::jsonb),
           coalesce(array_agg(code) FILTER (WHERE value IS NULL), '{}'::text[]),
           jsonb_object_agg(code, jsonb_build_array(seq, row))::text
    FROM judged WHERE n = 1
    GROUP BY unit_id, sheet_id, period
)
SELECT seq, row, first_row, value IS NOT DISTINCT FROM first_value FROM judged WHERE n > 1
"""

# Existing supplies of these keys are locked first, in id order (two supplies of one department wait in turn).
_LOCK_SQL = """
SELECT s.id FROM reporting_submission s
WHERE s.source_id = %(department)s AND s.record_key IS NULL
  AND (s.unit_id, s.sheet_id, s.period) IN (SELECT unit_id, sheet_id, period FROM supply_stage)
ORDER BY s.id FOR UPDATE
"""

# Each supply's staged values (one row per supply after _REPEATS_SQL) judged against the register's current
# version: its new values (the current ones, less the withdrawn, with the given), its counts, and whether it
# changes (`changed` NULL when not; the codes it changes are listed only for a supply with an open dispute, which
# they may answer; listing them for every supply took a subquery each). Only counts are grouped (by stage row,
# hashed): an array or jsonb aggregate per supply took a memory context each (0.1 ms), and grouping the values
# by the supply's key sorted 200,000 rows.
_CHANGES_SQL = """
CREATE TEMP TABLE supply_change ON COMMIT DROP AS
WITH current AS (
    SELECT s.id AS submission_id, s.unit_id, s.sheet_id, s.period, s.current_version, v."values" AS old
    FROM reporting_submission s
    JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
        AND v.period_start = s.period_start
    WHERE s.source_id = %(department)s AND s.record_key IS NULL
      AND (s.unit_id, s.sheet_id, s.period) IN (SELECT unit_id, sheet_id, period FROM supply_stage)
), staged AS MATERIALIZED (
    SELECT st.seq, st.unit_id, st.sheet_id, st.period, st.period_start, st.vals, st.gone, c.submission_id,
           coalesce(c.current_version, 0) AS current_version, coalesce(c.old, '{}'::jsonb) AS old
    FROM supply_stage st
    LEFT JOIN current c USING (unit_id, sheet_id, period)
), judged AS (
    SELECT st.seq, CASE WHEN NOT st.old ? v.key THEN 'imported'
                        WHEN st.old -> v.key = v.value THEN 'ignored'
                        ELSE 'updated' END AS outcome
    FROM staged st CROSS JOIN LATERAL jsonb_each(st.vals) v
    UNION ALL
    SELECT st.seq, CASE WHEN st.old ? g.code THEN 'deleted' ELSE 'ignored' END
    FROM staged st CROSS JOIN LATERAL unnest(st.gone) g(code)
), counted AS (
    SELECT seq, count(*) FILTER (WHERE outcome = 'imported') AS imported,
           count(*) FILTER (WHERE outcome = 'updated') AS updated,
           count(*) FILTER (WHERE outcome = 'ignored') AS ignored,
           count(*) FILTER (WHERE outcome = 'deleted') AS deleted
    FROM judged
    GROUP BY seq
)
SELECT st.unit_id, st.sheet_id, st.period, st.period_start, st.submission_id, st.current_version,
       (st.old - st.gone) || st.vals AS new_values,
       CASE WHEN c.imported + c.updated + c.deleted = 0 THEN NULL
            WHEN st.submission_id IN (SELECT supply_id FROM reporting_dispute WHERE status = %(open)s) THEN ARRAY(
                SELECT v.key FROM jsonb_each(st.vals) v WHERE st.old -> v.key IS DISTINCT FROM v.value
                UNION ALL
                SELECT g.code FROM unnest(st.gone) g(code) WHERE st.old ? g.code)
            ELSE '{}'::text[] END AS changed,
       c.imported, c.updated, c.ignored, c.deleted, NULL::bigint AS version_id
FROM staged st
JOIN counted c USING (seq)
"""

_COUNTS_SQL = """
SELECT coalesce(sum(imported), 0), coalesce(sum(updated), 0), coalesce(sum(ignored), 0), coalesce(sum(deleted), 0)
FROM supply_change
"""

_STORE_SQL = """
DELETE FROM supply_change WHERE changed IS NULL;
UPDATE reporting_submission s SET current_version = s.current_version + 1, updated_at = now()
FROM supply_change c WHERE s.id = c.submission_id;
WITH made AS (
    INSERT INTO reporting_submission
        (unit_id, source_id, sheet_id, period, record_key, record_date, period_start, current_version,
         created_at, updated_at)
    SELECT unit_id, %(department)s, sheet_id, period, NULL, NULL, period_start, 1, now(), now()
    FROM supply_change WHERE submission_id IS NULL
    ORDER BY unit_id, sheet_id, period
    RETURNING id, unit_id, sheet_id, period
)
UPDATE supply_change c SET submission_id = made.id
FROM made WHERE (c.unit_id, c.sheet_id, c.period) = (made.unit_id, made.sheet_id, made.period)
"""

# After the versions (`supply_versions.insert_versions`): an open dispute on a value the supply changes is
# answered by its new version.
_ANSWER_SQL = """
UPDATE reporting_dispute d
SET status = %(corrected)s, answer_version_id = c.version_id, answer_start = c.period_start, answered_by_id = %(by)s,
    answered_at = now()
FROM supply_change c, reporting_field f
WHERE d.supply_id = c.submission_id AND d.field_id = f.id AND f.code = ANY(c.changed) AND d.status = %(open)s
"""


@audited("register.supplied")
def supply_values(
    *,
    department: Department,
    rows: Iterable[SupplyRow],
    by: User,
    atomic: bool = True,
    dry_run: bool = False,
    today: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> SupplyResult:
    """Check every row, then store a new version of each supply whose values changed (one transaction).
    `progress` is told the number of rows checked so far after each chunk (a job shows it while it runs)."""
    checker = _Checker(department, today or timezone.localdate())
    result = SupplyResult()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_SETTINGS_SQL)
            cursor.execute(_STAGE_SQL)
            _stage(cursor, checker, rows, result, progress)
            _repeats(cursor, result)
            if checker.records:  # ledger records: their steps run only when some row named one
                _check_records(cursor, checker, result)
            if result.refused and atomic:
                raise _Rollback
            params = {"department": department.pk, "by": by.pk}
            cursor.execute(_LOCK_SQL, params)
            cursor.execute(_CHANGES_SQL, {**params, "open": DisputeStatus.OPEN.value})
            cursor.execute(_COUNTS_SQL)
            imported, updated, ignored, deleted = (int(n) for n in cursor.fetchone())
            result.imported, result.updated, result.deleted = imported, updated, deleted
            result.ignored += ignored
            if checker.records:
                for name, n in zip(
                    ("imported", "updated", "ignored", "deleted"),
                    ledger.judge_records(cursor, department_id=department.pk),
                    strict=True,
                ):
                    setattr(result, name, getattr(result, name) + n)
            if dry_run:
                raise _Rollback
            store: dict[str, Any] = {
                **params,
                "corrected": DisputeStatus.CORRECTED.value,
                "open": DisputeStatus.OPEN.value,
            }
            _store(cursor, _STORE_SQL, store)
            insert_versions(cursor, changes="supply_change", start="period_start", by_id=by.pk)
            _store(cursor, _ANSWER_SQL, store)
            if checker.records:
                ledger.store_records(cursor, department_id=department.pk, by_id=by.pk)
            _deliver(cursor, result)
            cursor.execute("DROP TABLE supply_stage, supply_change")
            result.stored = bool(result.versions)
            if result.stored:
                record(
                    action="register.supplied",
                    target=department,
                    actor=by,
                    versions=len(result.versions),
                    imported=result.imported,
                    updated=result.updated,
                    deleted=result.deleted,
                )
    except _Rollback:
        if result.refused and atomic:
            result.imported = result.updated = result.ignored = result.deleted = 0
    result.conflicts.sort(key=lambda c: c.seq)
    return result


def _store(cursor, statements: str, params: dict[str, Any]) -> None:
    for statement in statements.split(";\n"):  # one statement per execute: parameters are bound
        cursor.execute(statement, {k: v for k, v in params.items() if f"%({k})s" in statement})


class RunSource(Protocol):
    """Rows that can come in runs of undecoded JSON (`supply_readers.JsonFile`): `supply_sets` checks them."""

    def runs(self) -> Generator[tuple[str, Any], bool | None, None]: ...

    def row(self, label: str, item: Any) -> SupplyRow: ...


def _stage(
    cursor, checker: _Checker, rows: Iterable[SupplyRow], result: SupplyResult, progress: Callable[[int], None] | None
) -> None:
    """Check the rows a chunk at a time; copy the good ones into the stage, keep the refusals."""
    if hasattr(rows, "runs"):
        _stage_runs(cursor, checker, cast(RunSource, rows), result, progress)
        return
    stream = iter(rows)
    seq = 0
    while chunk := list(itertools.islice(stream, CHUNK)):
        _stage_chunk(cursor, checker, list(enumerate(chunk, seq + 1)), result)
        seq += len(chunk)
        if progress is not None:
            progress(seq)


def _stage_runs(
    cursor, checker: _Checker, source: RunSource, result: SupplyResult, progress: Callable[[int], None] | None
) -> None:
    """A JSON body's rows: its runs checked set-based (`supply_sets`), the rows they leave checked here."""
    cursor.execute(supply_sets.KEYS_SQL)
    cursor.execute("SET LOCAL enable_nestloop = off")  # PostgreSQL guesses 100 rows a run (not 12,000)
    _store(cursor, supply_sets.UNITS_SQL, {"reach": len(checker.jurisdiction), "jurisdiction": checker.jurisdiction})
    keys: set[tuple[str, str]] = set()  # (field, period) pairs judged for supply_keys
    pending: list[tuple[int, SupplyRow]] = []
    items, sent, seq = source.runs(), None, 0

    def flush() -> None:
        if pending:
            _stage_chunk(cursor, checker, pending, result)
        new = {(r.field, r.period) for _n, r in pending if r.problem is None} - keys
        keys.update(new)
        supply_sets.add_keys(cursor, [k for k in map(lambda k: checker.plain_key(*k), sorted(new)) if k])
        pending.clear()
        if progress is not None:
            progress(seq)

    while True:
        try:
            key, item = items.send(sent)
        except StopIteration:
            break
        sent = None
        if key != "row":
            continue
        if not isinstance(item, supply_sets.Run):
            seq += 1
            pending.append((seq, source.row(f"values[{seq - 1}]", item)))
            if len(pending) >= CHUNK:
                flush()
            continue
        if not keys:  # the first run: its keys judged before it is staged
            new = set(supply_sets.keys_of(cursor, item))
            keys.update(new)
            supply_sets.add_keys(cursor, [k for k in map(lambda k: checker.plain_key(*k), sorted(new)) if k])
        staged = supply_sets.stage_run(cursor, item, base=seq)
        sent = staged is not None
        if staged is not None:
            count, others = staged
            pending.extend((n, source.row(f"values[{n - 1}]", _decoded(text))) for n, text in others)
            seq += count
            flush()
    if pending:
        flush()
    cursor.execute("SET LOCAL enable_nestloop = on")


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise Problem(field="body", rule="body.too_deep") from None


def _stage_chunk(cursor, checker: _Checker, chunk: list[tuple[int, SupplyRow]], result: SupplyResult) -> None:
    """Check a chunk's rows (with their places in the supply); copy the good ones into the stage, keep the
    refusals."""
    checker.load([r for _seq, r in chunk])  # queries first: a connection in COPY takes no other statement
    groups: dict[tuple, _Group] = {}  # the chunk's values by supply (unit, sheet, period): its last group
    staged: list[_Group] = []
    records: list[tuple] = []  # its ledger records' rows, for `ledger_supplies`' own stage
    for seq, r in chunk:
        try:
            unit_id, sheet_id, period, start, code, value = checker.check(r)
        except Problem as problem:
            _refuse(result, RowProblem(r.row, problem, seq))
            continue
        except Problems as problems:  # a row wrong in several ways: each named
            for each in problems.problems:
                _refuse(result, RowProblem(r.row, each, seq))
            continue
        if period is None:  # a ledger record's value: the ledger path
            assert r.record is not None
            key = ledger.record_key(checker.department.code, r.record)
            is_date = code == checker.sheets[sheet_id].record_date_field
            records.append((seq, r.row, unit_id, sheet_id, r.record, key, code, is_date, value))
            continue
        group = groups.get((unit_id, sheet_id, period))
        if group is None or code in group.values:  # a field given again: another group (_REPEATS_SQL judges it)
            group = groups[(unit_id, sheet_id, period)] = _Group(seq, unit_id, sheet_id, period, start, {}, {})
            staged.append(group)
        group.values[code] = value  # JSON text, None to withdraw
        group.rows[code] = (seq, r.row)
    with cursor.copy(_COPY_STAGE) as copy:
        copy.write("".join(map(_copy_line, staged)))
    if records:
        if not checker.records:
            cursor.execute(ledger.STAGE_SQL)
        checker.records += len(records)
        with cursor.copy(ledger.COPY_STAGE) as copy:
            for item in records:
                copy.write_row(item)


_COPY_STAGE = "COPY supply_stage (seq, unit_id, sheet_id, period, period_start, vals, gone, rows) FROM STDIN"


class _Group(NamedTuple):
    """A supply's values in one chunk, staged as one row: field code: value as JSON text (None withdraws it),
    and field code: (seq, row) of the row that gave it."""

    seq: int
    unit_id: int
    sheet_id: int
    period: str
    start: str
    values: dict[str, str | None]
    rows: dict[str, tuple[int, str]]


def _copy_line(g: _Group) -> str:
    """The group as a line of COPY text: its values as a JSON object, the codes it withdraws as an array, and
    each value's row as a JSON object ({code: [seq, row]})."""
    items = g.values.items()
    vals = ",".join([f"{_json_code(code)}:{value}" for code, value in items if value is not None])
    gone = ",".join([_array_item(code) for code, value in items if value is None])
    rows = json.dumps(g.rows, ensure_ascii=False)  # one call a group: the rows' labels are the caller's own text
    vals, gone, rows = _copy_text(f"{{{vals}}}"), _copy_text(f"{{{gone}}}"), _copy_text(rows)
    return f"{g.seq}\t{g.unit_id}\t{g.sheet_id}\t{g.period}\t{g.start}\t{vals}\t{gone}\t{rows}\n"


def _array_item(text: str) -> str:
    """`text` as an element of a PostgreSQL array literal (quoted, its backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=1024)  # a supply names a few field codes many times
def _json_code(code: str) -> str:
    return json.dumps(code, ensure_ascii=False)


def _refuse(result: SupplyResult, conflict: RowProblem) -> None:
    if len(result.conflicts) < MAX_CONFLICTS:
        result.conflicts.append(conflict)
    else:
        result.more_refused += 1


def _repeats(cursor, result: SupplyResult) -> None:
    cursor.execute(_REPEATS_SQL)
    for seq, row, first_row, same in cursor.fetchall():
        if same:
            result.ignored += 1
        else:
            problem = Problem(field="value", rule="source.duplicate", params={"first": first_row})
            _refuse(result, RowProblem(row, problem, seq))


def _check_records(cursor, checker: _Checker, result: SupplyResult) -> None:
    """The checks of ledger records that need all of a record's rows (`ledger_supplies.check_records`)."""
    dates = {
        pk: (sheet.record_date_field, *_date_names(sheet)) for pk, sheet in checker.sheets.items() if sheet.is_ledger
    }
    ignored, refused = ledger.check_records(
        cursor, department_id=checker.department.pk, today=checker.today, date_fields=dates
    )
    result.ignored += ignored
    for seq, row, problem in refused:
        _refuse(result, RowProblem(row, problem, seq))


def _date_names(sheet) -> tuple[str, str]:
    date_field = next((f for f in sheet_catalogue(sheet).fields if f.code == sheet.record_date_field), None)
    return (date_field.name_zh, date_field.name_en) if date_field else (sheet.record_date_field,) * 2


def _deliver(cursor, result: SupplyResult) -> None:
    """Hand every new version to the relay (`relay.queue_changes`, one INSERT … SELECT for all of them), judged
    against the subscriptions in force now, as a filing is against those of its table."""
    result.versions = queue_changes(cursor, changes="supply_change", snapshot=catalogue_reading()[1])


log = logging.getLogger("onetable.supplies")

# Supplies too large for one request run as jobs. Each body format registers how to read its rows:
# `SUPPLY_FORMATS[name](path)` yields SupplyRows from the stored file, streaming (constant memory).
SUPPLY_FORMATS: dict[str, Callable[[Path], Iterable[SupplyRow]]] = {}
RUN_SUPPLY_JOB_TASK = "reporting.tasks.run_supply_job_task"


@unaudited("a folder for the bodies of supply jobs, created when first needed")
def supply_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "supplies"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@audited("supply.queued")
@transaction.atomic
def start_supply_job(
    *, department: Department, by: User, format: str, body: IO[bytes], options: dict[str, Any]
) -> SupplyJob:
    """Keep the body in a file and queue its import; a worker runs it after commit (`run_supply_job`).
    `options`: atomic, dry_run (booleans) as `supply_values` takes them."""
    if format not in SUPPLY_FORMATS:
        raise ValueError(f"no reader for supply format {format!r}")
    job = SupplyJob.objects.create(department=department, by=by, format=format, options=options)
    path = supply_dir() / f"supply-{job.pk}.{format}"
    with path.open("wb") as out:
        shutil.copyfileobj(body, out, 1 << 20)
    job.file = path.name
    job.save(update_fields=["file"])
    record(action="supply.queued", target=job, actor=by, format=format, **options)
    transaction.on_commit(lambda: app.send_task(RUN_SUPPLY_JOB_TASK, args=[job.pk]))
    return job


def _ended(job: SupplyJob, problem: Problem) -> list[str]:
    """A job given up by the sweep: its problem in the summary, as `_import` writes one, and its body removed."""
    job.summary = {"conflicts": [problem.as_dict()]}
    if job.file:  # the body is kept until its job ends, as `_import` does
        path = supply_dir() / job.file
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return ["summary"]


# A worker holds an advisory lock on the job it imports (`reporting.jobs`: the lock, the attempts, the sweep).
SUPPLY_JOBS = jobs.JobKind(
    name="supply", model=SupplyJob, lock=19_020, task=RUN_SUPPLY_JOB_TASK, field="body", ended=_ended
)
SUPPLY_ATTEMPTS = jobs.ATTEMPTS


@unaudited("its supply is audited by supply_values, its request by start_supply_job")
def run_supply_job(job_id: int) -> SupplyJob | None:
    """Import a queued job's file once: a job already taken by another worker (or done) is left alone."""
    with jobs.claimed(SUPPLY_JOBS, job_id, related=("department__jurisdiction", "by")) as job:
        if job is not None:
            _import(job)
        return job


def _import(job: SupplyJob) -> None:
    path = supply_dir() / job.file
    # The import is one transaction, whose writes nobody sees before it commits: its progress is written on a
    # second connection of its own (autocommit), so the job's page shows the rows checked while it runs.
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        result = supply_values(
            department=job.department,
            rows=SUPPLY_FORMATS[job.format](path),
            by=job.by,
            atomic=job.options.get("atomic", True),
            dry_run=job.options.get("dry_run", False),
            progress=lambda done: _write_progress(other, job.pk, done),
        )
    except Problem as problem:  # the file as a whole could not be read (not JSON, no header…)
        _fail(job, problem)
    except RecursionError:  # nesting no reader refused: the one rule of depth, as the API answers it
        _fail(job, Problem(field="body", rule="body.too_deep"))
    except Exception:
        # anything else ends the job too: left running, the sweep would send it again every few seconds forever
        log.exception("supply job %s failed", job.pk)
        _fail(job, Problem(field="body", rule="supply.job_failed"))
    else:
        job.status = SupplyJobStatus.DONE
        job.summary = summary(result)
        job.rows_done = result.imported + result.updated + result.ignored + result.deleted + result.refused
    finally:
        other.close()
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "summary", "error", "rows_done", "finished_at"])
    path.unlink(missing_ok=True)


def _fail(job: SupplyJob, problem: Problem) -> None:
    job.status, job.summary = SupplyJobStatus.FAILED, {"conflicts": [problem.as_dict()]}
    job.error = problem.message


_PROGRESS_SQL = f"UPDATE {SupplyJob._meta.db_table} SET rows_done = %s WHERE id = %s AND status = %s"


def _write_progress(other, job_id: int, done: int) -> None:
    with other.cursor() as cursor:
        cursor.execute(_PROGRESS_SQL, [done, job_id, SupplyJobStatus.RUNNING.value])


@audited("supply.interrupted")
def sweep_supply_jobs() -> list[int]:
    """Send again the task of a job queued for over a minute, and of a running job whose worker died, unless
    its workers died `SUPPLY_ATTEMPTS` times: that job ends failed (`supply.job_interrupted`).

    A dead worker's import was one transaction, rolled back with its connection, so the job starts over from
    its file; a worker that died after its import committed but before the job was marked done leaves a
    rerun that finds every value unchanged (counted as ignored), which stores nothing twice."""
    return jobs.sweep(SUPPLY_JOBS)


@read_only
def summary(result: SupplyResult) -> dict[str, Any]:
    """A supply's outcome as JSON: counts, and each refused row with its field, rule and messages."""
    return {
        "stored": result.stored,
        "imported": result.imported,
        "updated": result.updated,
        "ignored": result.ignored,
        "deleted": result.deleted,
        "refused": result.refused,
        "conflicts": [c.as_dict() for c in result.conflicts],
    }
