"""Ledger supplies: a source department supplies whole ledger records (台账记录), one per record id of its own.

Rows that carry the same `record` form one record of one unit: its submission's `record_key` is
`uuid5(RECORD_NAMESPACE, "<department code>:<record>")`, so a later supply of that record id is a new version of
the same record, whoever sends it from that department's system. The record's date comes from the ledger's date
field in those rows (every supply of a record carries it, unless it withdraws every value), its period is that
day's month. A supply that withdraws all of a record's values leaves a version without values (the record is
withdrawn: no longer shown or read).

These steps run inside `supplies.supply_values`, on the same transaction and the same checks per row; this module
holds the set-based SQL over the `ledger_stage` temporary table. Its functions return refusals as
(seq, row, Problem) for `supply_values` to keep.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings

from core.audit import read_only, unaudited
from reporting.models import Cadence, DueRule
from reporting.rejections import Problem
from reporting.services.supply_versions import insert_versions

# Fixed for ever: a record's key must come out the same in every supply of it.
RECORD_NAMESPACE = uuid.UUID("5d1f0b5e-19a1-4c53-9d53-7a1ed9e2c019")
RECORD_MAX = 100  # characters of a source's own record id


@read_only
def record_key(department_code: str, record: str) -> uuid.UUID:
    """The submission key of a department's ledger record (the same in every supply of it)."""
    return uuid.uuid5(RECORD_NAMESPACE, f"{department_code}:{record}")


STAGE_SQL = """
DROP TABLE IF EXISTS ledger_stage, ledger_change;
CREATE TEMP TABLE ledger_stage (
    seq integer NOT NULL, row text NOT NULL, unit_id bigint NOT NULL, sheet_id bigint NOT NULL,
    record text NOT NULL, record_key uuid NOT NULL, code text NOT NULL, is_date boolean NOT NULL, value jsonb
) ON COMMIT DROP
"""
COPY_STAGE = "COPY ledger_stage (seq, row, unit_id, sheet_id, record, record_key, code, is_date, value) FROM STDIN"

# One field given twice for one record: the first row stands; the same value again is ignored, another refused.
_REPEATS_SQL = """
WITH ranked AS (
    SELECT seq, value, first_value(row) OVER w AS first_row, first_value(value) OVER w AS first_value,
           row_number() OVER w AS n
    FROM ledger_stage
    WINDOW w AS (PARTITION BY record_key, code ORDER BY seq)
)
DELETE FROM ledger_stage s USING ranked r
WHERE s.seq = r.seq AND r.n > 1
RETURNING s.seq, s.row, r.first_row, r.value IS NOT DISTINCT FROM r.first_value
"""

# A record id is one record of one unit on one ledger: rows that name it for another unit or ledger than its
# first row (or than the record already stored) are refused, all of them when the stored record disagrees.
_CONFLICTS_SQL = """
WITH firsts AS (
    SELECT DISTINCT ON (record_key) record_key, unit_id, sheet_id FROM ledger_stage ORDER BY record_key, seq
)
DELETE FROM ledger_stage st USING firsts f
WHERE st.record_key = f.record_key AND (
    (st.unit_id, st.sheet_id) <> (f.unit_id, f.sheet_id)
    OR EXISTS (SELECT 1 FROM reporting_submission s WHERE s.record_key = st.record_key
               AND (s.unit_id <> f.unit_id OR s.sheet_id <> f.sheet_id
                    OR s.source_id IS DISTINCT FROM %(department)s::bigint)))
RETURNING st.seq, st.row, st.record
"""

# Every record that keeps a value needs its date (the first one given), not after the latest day open to filing.
_DATES_SQL = """
WITH recs AS (
    SELECT record_key, (array_agg(value #>> '{}' ORDER BY seq) FILTER (WHERE is_date AND value IS NOT NULL))[1] AS day,
           bool_or(value IS NOT NULL) AS keeps
    FROM ledger_stage GROUP BY record_key
)
DELETE FROM ledger_stage st USING recs r
WHERE st.record_key = r.record_key AND r.keeps AND (r.day IS NULL OR r.day::date > %(latest)s)
RETURNING st.seq, st.row, st.record, st.sheet_id, r.day
"""

# A record dated in a month whose records are locked (its date given now, or the one already stored: a record
# moved out of a locked month changes that month too), and that month not unlocked for this department: every
# row of it refused, naming the first such month and its lock day (`DueCalendar.locks_after` for a ledger).
_LOCKS_SQL = """
WITH recs AS (
    SELECT record_key, sheet_id,
           ((array_agg(value #>> '{}' ORDER BY seq) FILTER (WHERE is_date AND value IS NOT NULL))[1])::date AS day
    FROM ledger_stage GROUP BY record_key, sheet_id
), months AS (
    SELECT r.record_key, r.sheet_id, m.month, (m.month + interval '1 month')::date - 1 + %(days)s::integer AS locked
    FROM recs r
    LEFT JOIN reporting_submission s ON s.record_key = r.record_key AND s.source_id = %(department)s
    CROSS JOIN LATERAL (VALUES (date_trunc('month', r.day)::date), (date_trunc('month', s.record_date)::date)) m(month)
    WHERE m.month IS NOT NULL
), closed AS (
    SELECT DISTINCT ON (record_key) record_key, sheet_id, month, locked FROM months m
    WHERE locked < %(today)s AND NOT EXISTS (
        SELECT 1 FROM reporting_unlock u
        WHERE u.source_id = %(department)s AND u.sheet_id = m.sheet_id AND u.period = to_char(m.month, 'YYYYMM')
          AND u.until >= %(today)s AND u.withdrawn_at IS NULL)
    ORDER BY record_key, month
)
DELETE FROM ledger_stage st USING closed c
WHERE st.record_key = c.record_key
RETURNING st.seq, st.row, c.sheet_id, to_char(c.month, 'YYYYMM'), c.locked
"""

# Each staged value judged against the record's current version, one row per record.
_CHANGES_SQL = """
CREATE TEMP TABLE ledger_change ON COMMIT DROP AS
WITH current AS (
    SELECT s.id AS submission_id, s.record_key, s.current_version, s.record_date, v."values" AS old
    FROM reporting_submission s
    JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
        AND v.period_start = s.period_start
    WHERE s.source_id = %(department)s AND s.record_key IN (SELECT record_key FROM ledger_stage)
), judged AS (
    SELECT st.record_key, st.unit_id, st.sheet_id, st.code, st.value, st.is_date, c.submission_id,
           c.current_version, c.record_date, c.old,
           CASE WHEN st.value IS NULL THEN CASE WHEN c.old ? st.code THEN 'deleted' ELSE 'ignored' END
                WHEN c.old IS NULL OR NOT c.old ? st.code THEN 'imported'
                WHEN c.old -> st.code = st.value THEN 'ignored'
                ELSE 'updated' END AS outcome
    FROM ledger_stage st
    LEFT JOIN current c USING (record_key)
)
SELECT record_key, unit_id, sheet_id, submission_id, coalesce(current_version, 0) AS current_version,
       coalesce(min((value #>> '{}')::date) FILTER (WHERE is_date AND value IS NOT NULL), record_date) AS record_date,
       (coalesce(old, '{}'::jsonb) - coalesce(array_agg(code) FILTER (WHERE outcome = 'deleted'), '{}'::text[]))
         || coalesce(jsonb_object_agg(code, value) FILTER (WHERE outcome IN ('imported', 'updated')), '{}'::jsonb)
         AS new_values,
       array_agg(code ORDER BY code) FILTER (WHERE outcome <> 'ignored') AS changed,
       count(*) FILTER (WHERE outcome = 'imported') AS imported,
       count(*) FILTER (WHERE outcome = 'updated') AS updated,
       count(*) FILTER (WHERE outcome = 'ignored') AS ignored,
       count(*) FILTER (WHERE outcome = 'deleted') AS deleted,
       NULL::bigint AS version_id
FROM judged
GROUP BY record_key, unit_id, sheet_id, submission_id, current_version, record_date, old
"""

_COUNTS_SQL = """
SELECT coalesce(sum(imported), 0), coalesce(sum(updated), 0), coalesce(sum(ignored), 0), coalesce(sum(deleted), 0)
FROM ledger_change
"""

# The changed records' submissions (their versions are made by `supply_versions.insert_versions`, as a periodic
# supply's are); then each changed record is handed to the periodic supply's `supply_change` (with its record date
# as the day subscriptions are checked on), whose deliveries `supply_values` then queues with the same rules.
_STORE_SQL = """
DELETE FROM ledger_change WHERE changed IS NULL;
UPDATE reporting_submission s
SET current_version = s.current_version + 1, record_date = c.record_date, period = to_char(c.record_date, 'YYYYMM'),
    period_start = c.record_date, updated_at = now(),
    -- a record moved to another day: its older versions stay under the day they were filed with (`of` reads it)
    earlier_starts = CASE WHEN s.period_start = c.record_date OR s.period_start = ANY(s.earlier_starts)
                          THEN s.earlier_starts ELSE array_append(s.earlier_starts, s.period_start) END
FROM ledger_change c WHERE s.id = c.submission_id;
WITH made AS (
    INSERT INTO reporting_submission
        (unit_id, source_id, sheet_id, period, record_key, record_date, period_start, current_version,
         created_at, updated_at)
    SELECT unit_id, %(department)s, sheet_id, to_char(record_date, 'YYYYMM'), record_key, record_date, record_date,
           1, now(), now()
    FROM ledger_change WHERE submission_id IS NULL
    ORDER BY record_key
    RETURNING id, record_key
)
UPDATE ledger_change c SET submission_id = made.id FROM made WHERE c.record_key = made.record_key
"""

_HAND_OVER_SQL = """
INSERT INTO supply_change
    (unit_id, sheet_id, period, period_start, submission_id, current_version, new_values, changed,
     imported, updated, ignored, deleted, version_id)
SELECT unit_id, sheet_id, to_char(record_date, 'YYYYMM'), record_date, submission_id, current_version, new_values,
       changed, imported, updated, ignored, deleted, version_id
FROM ledger_change
"""

Refusal = tuple[int, str, Problem]  # (seq, row, problem)


@unaudited("a step of supply_values, which is audited")
def check_records(
    cursor, *, department_id: int, today: dt.date, date_fields: dict[int, tuple[str, str, str]]
) -> tuple[int, list[Refusal]]:
    """Refuse repeated fields, record ids of another unit or ledger, and records without a date or dated after the
    latest day open: (values ignored as repeats, refusals). `date_fields`: sheet id → (code, 中文名, English name)."""
    refused: list[Refusal] = []
    ignored = 0
    cursor.execute(_REPEATS_SQL)
    for seq, row, first_row, same in cursor.fetchall():
        if same:
            ignored += 1
        else:
            problem = Problem(field="value", rule="source.record_duplicate", params={"first": first_row})
            refused.append((seq, row, problem))
    cursor.execute(_CONFLICTS_SQL, {"department": department_id})
    for seq, row, record in cursor.fetchall():
        refused.append((seq, row, Problem(field="record", rule="source.record_conflict", params={"record": record})))
    lead = settings.ONETABLE_LEDGER_LEAD_DAYS
    latest = today + dt.timedelta(days=lead)
    cursor.execute(_DATES_SQL, {"latest": latest})
    for seq, row, record, sheet_id, day in cursor.fetchall():
        code, name_zh, name_en = date_fields[sheet_id]
        refused.append((seq, row, _date_problem(code, name_zh, name_en, record, day, today, latest, lead)))
    return ignored, refused + _locked_records(cursor, department_id=department_id, today=today, date_fields=date_fields)


def _locked_records(
    cursor, *, department_id: int, today: dt.date, date_fields: dict[int, tuple[str, str, str]]
) -> list[Refusal]:
    """Refuse every row of a record dated in a locked month that the office has not unlocked for the department."""
    days = DueRule.objects.filter(cadence=Cadence.LEDGER).values_list("lock_days_after_due", flat=True).first()
    if days is None:  # the office set no lock for ledger records
        return []
    cursor.execute(_LOCKS_SQL, {"days": days, "today": today, "department": department_id})
    return [
        (seq, row, Problem(field=date_fields[sheet_id][0], rule="period.locked", params=params))
        for seq, row, sheet_id, month, locked in cursor.fetchall()
        for params in [
            {"why": "record_source", "period": month, "locked": locked, "days": days}
            | {"locked_from": locked + dt.timedelta(days=1)}
        ]
    ]


def _date_problem(
    code: str, name_zh: str, name_en: str, record: str, day: str | None, today: dt.date, latest: dt.date, lead: int
) -> Problem:
    params: dict[str, Any]
    if day is None:
        params = {"record": record, "date": name_zh, "date_en": name_en}
        return Problem(field=code, rule="source.record_date", params=params)
    if lead:
        params = {"why": "after_latest", "day": day, "latest": latest, "lead": lead}
    else:
        params = {"why": "after_today", "day": day, "today": today}
    return Problem(field=code, rule="period.not_open", params=params)


@unaudited("a step of supply_values, which is audited")
def judge_records(cursor, *, department_id: int) -> tuple[int, int, int, int]:
    """Compare each staged record with its current version: (imported, updated, ignored, deleted) values."""
    cursor.execute(_CHANGES_SQL, {"department": department_id})
    cursor.execute(_COUNTS_SQL)
    imported, updated, ignored, deleted = (int(n) for n in cursor.fetchone())
    return imported, updated, ignored, deleted


@unaudited("a step of supply_values, which is audited")
def store_records(cursor, *, department_id: int, by_id: int) -> None:
    """Store a new version of each changed record and hand it to `supply_change` for its deliveries."""
    for statement in _STORE_SQL.split(";\n"):  # one statement per execute: parameters are bound
        cursor.execute(statement, {"department": department_id} if "%(department)s" in statement else None)
    insert_versions(cursor, changes="ledger_change", start="record_date", by_id=by_id)
    cursor.execute(_HAND_OVER_SQL)
    cursor.execute("DROP TABLE ledger_stage, ledger_change")
