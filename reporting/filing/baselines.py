"""A unit's plausibility baseline: one row per unit and periodic sheet (`PlausibilityBaseline`) holds the newest
KEPT periods the unit filed (current versions), each field's values in them, and each field's summary over the
newest HISTORY of them. Its upkeep is not the filing's: a filing or a correction writes one marker
(`BaselinePending`: unit, sheet, period, version) in the transaction that stores its version (`mark_baseline`,
called by `submit_sheet` and `correct_submission`, which every channel files through: the form, Excel, the unit
API, the DHIS2 face), whether the office has the check on or not, so switching it on finds the rows current. The
relay task, woken after the filing commits and by the periodic sweep, folds the pending periods into the rows and
deletes their markers in one transaction (`fold_baselines`; claims `SKIP LOCKED`, so several workers fold at
once). The check on submit and the form's hint read with one statement (`history_summaries`): the row, and
whether markers wait for the unit and sheet; when they do, the unit's versions instead (the cold path), so the
hint is exact at any moment. A register's supply or a ledger record is not the unit's history and does not touch
it. `rebuild_baselines` makes the rows again from the versions (the migration, `manage.py rebuild_baselines`, and
loaders that store versions without the filing services)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from reporting.catalogue.rules import HISTORY, MIN_HISTORY, Baseline, Summary, as_float, summarise

# One period more than the check compares with: a correction of the newest period compares with the HISTORY
# before it, which the row then still holds.
KEPT = HISTORY + 1
TABLE = "reporting_plausibilitybaseline"

# The unit's own filings of the sheet (current versions), newest first, before a period: what the baseline is
# made of. The index on (unit, sheet, -period) finds them; a supply's or a ledger's rows are not its history.
_FILINGS_SQL = """
SELECT s.period, v."values" FROM reporting_submission s
JOIN reporting_submissionversion v
  ON v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start
WHERE s.unit_id = %s AND s.sheet_id = %s AND s.source_id IS NULL AND s.record_key IS NULL AND s.period < %s
ORDER BY s.period DESC LIMIT %s
"""
# The same for many units at once (the rebuild): each (unit, sheet)'s newest KEPT filings.
_NEWEST_SQL = """
SELECT unit_id, sheet_id, period, "values" FROM (
    SELECT s.unit_id, s.sheet_id, s.period, v."values",
           row_number() OVER (PARTITION BY s.unit_id, s.sheet_id ORDER BY s.period DESC) AS newest
    FROM reporting_submission s
    JOIN reporting_submissionversion v
      ON v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start
    WHERE s.unit_id = ANY(%(units)s) AND s.source_id IS NULL AND s.record_key IS NULL
      AND (%(sheet)s::bigint IS NULL OR s.sheet_id = %(sheet)s)
) f WHERE newest <= %(kept)s
ORDER BY unit_id, sheet_id, period DESC
"""
PENDING = "reporting_baselinepending"
# The check's one read: whether periods wait to be folded into the row (then the row may be behind: the versions
# are read instead), the summaries when the period comes after every period kept (a first filing of the newest
# period, the usual case), else the kept values to summarise those before it. Compared byte-wise, as Python
# compares the periods (one sheet's periods share one notation). One statement, one snapshot: a fold commits the
# row and the deletion of its markers together, so either the markers are seen or the row that holds them.
_READ_SQL = f"""
SELECT EXISTS (SELECT 1 FROM {PENDING} WHERE unit_id = %(unit)s AND sheet_id = %(sheet)s), b.periods,
       CASE WHEN cardinality(b.periods) = 0 OR b.periods[1] COLLATE "C" < %(period)s THEN b.summaries END,
       CASE WHEN cardinality(b.periods) = 0 OR b.periods[1] COLLATE "C" < %(period)s THEN b.spreads END,
       CASE WHEN cardinality(b.periods) = 0 OR b.periods[1] COLLATE "C" < %(period)s THEN NULL ELSE b.kept END
FROM (SELECT) one LEFT JOIN {TABLE} b ON b.unit_id = %(unit)s AND b.sheet_id = %(sheet)s
"""
_MARK_SQL = f"INSERT INTO {PENDING} (unit_id, sheet_id, period, version_id) VALUES (%s, %s, %s, %s)"
# A fold's claim: a batch of markers, the oldest first, that no other fold holds (SKIP LOCKED: folds in several
# workers take different markers; two holding markers of one unit and sheet take turns at its row below).
_CLAIM_SQL = f"""
DELETE FROM {PENDING} p WHERE p.id IN (
    SELECT id FROM {PENDING} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING p.unit_id, p.sheet_id, p.period
"""
# The claimed rows, made if a first filing, locked in (unit, sheet) order (no deadlock between folds) until the
# fold commits. Read after the lock, in a statement of its own: the versions below are read in a snapshot taken
# once any fold before this one committed, so the last fold of a row writes what the newest versions say.
_LOCK_MANY_SQL = f"""
INSERT INTO {TABLE} AS b (unit_id, sheet_id, periods, kept, summaries, spreads)
SELECT u, s, '{{}}', '{{}}', '{{}}', '{{}}' FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, s) ORDER BY u, s
ON CONFLICT (unit_id, sheet_id) DO UPDATE SET periods = b.periods
RETURNING b.unit_id, b.sheet_id, b.periods, b.kept
"""
# The current values of the claimed periods (a correction committed since the marker is folded as it is now)
_CURRENT_SQL = """
SELECT s.unit_id, s.sheet_id, s.period, v."values"
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS t(u, sh, p)
JOIN reporting_submission s
  ON s.unit_id = t.u AND s.sheet_id = t.sh AND s.period = t.p AND s.source_id IS NULL AND s.record_key IS NULL
JOIN reporting_submissionversion v
  ON v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start
"""
_UPDATE_MANY_SQL = f"""
UPDATE {TABLE} b SET periods = t.periods, kept = t.kept, summaries = t.summaries, spreads = t.spreads
FROM (SELECT * FROM jsonb_to_recordset(%s::jsonb)
      AS r(unit_id bigint, sheet_id bigint, periods text[], kept text, summaries text, spreads text)) t
WHERE b.unit_id = t.unit_id AND b.sheet_id = t.sheet_id
"""

Window = dict[str, list[Any]]  # {field code: its value in each kept period, newest first}


def _loaded(value: Any) -> Any:
    # stored as JSON text (and jsonb comes as text from Django's cursor); json's C decoder is the cheap step
    return json.loads(value) if isinstance(value, str) else value


def _dumps(document: dict[str, Any] | list[Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _number(value: Any) -> Any:
    """A stored value as the baseline keeps it: a JSON number or a number written as text (a decimal field) as
    it is, anything else (not a number: `summarise` leaves it out) as None."""
    if type(value) is int or type(value) is float:
        return value
    return value if isinstance(value, str) and as_float(value) is not None else None


def _summary(column: Sequence[Any]) -> Summary | None:
    return summarise([v for v in column if v is not None])


def history_summaries(unit: Any, sheet: Any, period: Any, codes: list[str]) -> Baseline:
    """The unit's own history of each field in `codes` over its last HISTORY filed periods before `period`: the
    median, MAD and last values (`rules.summarise`), for the plausibility hint on submit and in the form."""
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL, {"unit": unit.pk, "sheet": sheet.pk, "period": str(period)})
        pending, periods, summaries, spreads, window = cursor.fetchone()
        if pending:  # the row may be behind the unit's filings: their versions say what it will say
            return _from_filings(cursor, unit.pk, sheet.pk, str(period), codes)
        if periods is None:  # the unit never filed the sheet
            return Baseline({})
        if summaries is not None:  # every kept period is before this one
            return KeptBaseline(summaries, _loaded(spreads), codes)
        window = _loaded(window)
        earlier = [i for i, p in enumerate(periods) if p < str(period)][:HISTORY]
        if len(earlier) < HISTORY and len(periods) == KEPT:  # a period older than the row reaches back to
            return _from_filings(cursor, unit.pk, sheet.pk, str(period), codes)
    return Baseline(_summaries({c: [window[c][i] for i in earlier] for c in codes if c in window}))


def _from_filings(cursor: Any, unit_id: int, sheet_id: int, period: str, codes: list[str]) -> Baseline:
    """The history from the unit's versions themselves (the cold path)."""
    cursor.execute(_FILINGS_SQL, [unit_id, sheet_id, period, HISTORY])
    rows = [_loaded(values) for _, values in cursor.fetchall()]
    return Baseline(_summaries({c: [_number(r.get(c)) for r in rows] for c in codes}))


class KeptBaseline(Baseline):
    """The summaries a row keeps, read as a filing needs them: the spreads (median and MAD of each field whose
    history can call a number usual) parsed at once, a field's whole Summary only when asked for (the few numbers
    outside their usual reach, and the form's hint). Parsing every field's Summary took most of the check's time
    (docs/benchmarks.md, issue 22)."""

    def __init__(self, summaries: str, spreads: dict[str, list[float]], codes: list[str]) -> None:
        self._text, self._codes = summaries, set(codes)
        self._all: dict[str, Summary] | None = None
        # [median, MAD] lists as parsed, perhaps of fields beyond `codes`: only looked up by code
        self._spreads = spreads
        self._usual = {}

    @property
    def _summaries(self) -> dict[str, Summary]:  # type: ignore[override]
        if self._all is None:
            kept = _loaded(self._text)
            self._all = {c: Summary(s[0], s[1], s[2], tuple(s[3])) for c in self._codes if (s := kept.get(c))}
        return self._all

    def get(self, code: str, default: Any = None) -> Any:
        if self._all is not None or code not in self._codes:
            return self._summaries.get(code, default)
        # one field's entry, decoded where the row's text has it: `"code":[size, median, MAD, [last]]`
        at = self._text.find(f'"{code}":')
        if at < 0:
            return default
        s, _ = _DECODER.raw_decode(self._text, at + len(code) + 3)
        return Summary(s[0], s[1], s[2], tuple(s[3]))

    def spreads(self) -> dict[str, Any]:
        return self._spreads


_DECODER = json.JSONDecoder()


def _summaries(columns: dict[str, list[Any]]) -> dict[str, Summary]:
    out = {}
    for code, column in columns.items():
        summary = _summary(column)
        if summary is not None:
            out[code] = summary
    return out


def _stored_spreads(summaries: dict[str, list[Any]]) -> dict[str, list[float]]:
    """Each field's [median, MAD] where its history can call a number usual (`Baseline.spreads`), as the row
    stores it: what a filing's check parses in full (the whole summaries only for a number outside its reach)."""
    return {c: [_plain(s[1]), _plain(s[2])] for c, s in summaries.items() if s[0] >= MIN_HISTORY and s[2] != 0}


def _plain(number: float) -> float | int:
    # a whole number written as one: JSON's decoder reads `500` in about half the time of `500.0`
    return int(number) if number.is_integer() else number


def _stored_summaries(periods: list[str], window: Window) -> dict[str, list[Any]]:
    """Each field's summary over the newest HISTORY kept periods, as the row stores it."""
    out = {}
    for code, column in window.items():
        summary = _summary(column[:HISTORY])
        if summary is not None:
            out[code] = [summary.size, summary.median, summary.mad, list(summary.last)]
    return out


def rolled(periods: list[str], window: Window, period: str, values: dict[str, Any]) -> tuple[list[str], Window]:
    """The kept periods and window once `period` holds `values` (a first filing, a late one, or a correction):
    the newest KEPT periods of those kept and this one. A row holding fewer than KEPT periods holds all the
    unit filed, so a period older than all of them still belongs; with KEPT, one older than all does not."""
    if period in periods:
        at = periods.index(period)
        new_periods = list(periods)
    else:
        at = sum(1 for p in periods if p > period)
        if at >= KEPT:
            return periods, window
        new_periods = [*periods[:at], period, *periods[at:]][:KEPT]
    out: Window = {}
    for code in set(window) | set(values):
        column = list(window.get(code) or [None] * len(periods))
        value = _number(values.get(code))
        if period in periods:
            column[at] = value
        else:
            column = [*column[:at], value, *column[at:]][:KEPT]
        if any(v is not None for v in column):
            out[code] = column
    return new_periods, out


def mark_baseline(*, unit_id: int, sheet_id: int, period: str, version_id: int) -> None:
    """Leave the unit's baseline of the sheet a marker of the version just stored for `period`, in the caller's
    transaction; the relay task folds it in after commit (`fold_baselines`)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("mark_baseline runs inside the transaction that stores the version")
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL, [unit_id, sheet_id, period, version_id])


FOLD_BATCH = 500  # markers per fold transaction: each reads its period's version (some 200 values) and its row


def fold_baselines(limit: int = FOLD_BATCH) -> int:
    """Fold pending markers into the baselines, a batch per transaction, until none is left to take (another
    worker may hold some); return how many markers it folded."""
    folded = 0
    while taken := _fold_batch(limit):
        folded += taken
    return folded


@transaction.atomic
def _fold_batch(limit: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [limit])
        claimed = sorted(set(cursor.fetchall()))
        if not claimed:
            return 0
        pairs = sorted({(u, s) for u, s, _ in claimed})
        cursor.execute(_LOCK_MANY_SQL, [[u for u, _ in pairs], [s for _, s in pairs]])
        rows = {(u, s): (list(periods), _loaded(kept)) for u, s, periods, kept in cursor.fetchall()}
        cursor.execute(_CURRENT_SQL, [[u for u, _, _ in claimed], [s for _, s, _ in claimed], [p for *_, p in claimed]])
        for unit_id, sheet_id, period, values in cursor.fetchall():
            periods, window = rows[unit_id, sheet_id]
            rows[unit_id, sheet_id] = rolled(periods, window, period, _loaded(values))
        cursor.execute(
            _UPDATE_MANY_SQL,
            [_dumps([_stored_row(u, s, periods, window) for (u, s), (periods, window) in rows.items()])],
        )
    return len(claimed)


def _stored_row(unit_id: int, sheet_id: int, periods: list[str], window: Window) -> dict[str, Any]:
    summaries = _stored_summaries(periods, window)
    return {
        "unit_id": unit_id,
        "sheet_id": sheet_id,
        "periods": periods,
        "kept": _dumps(window),
        "summaries": _dumps(summaries),
        "spreads": _dumps(_stored_spreads(summaries)),
    }


def rebuild_baselines(*, unit_ids: Iterable[int] | None = None, sheet_id: int | None = None, chunk: int = 500) -> int:
    """Make the baselines again from the versions (all units, or `unit_ids`; all sheets, or `sheet_id`), a
    transaction per `chunk` units (each reads its units' newest KEPT filings of every sheet: some 13 × 200 values
    per unit and sheet, a few MB per chunk). Returns how many rows it wrote."""
    written = 0
    for units in _chunks(unit_ids, chunk):
        written += _rebuild_chunk(units, sheet_id)
    return written


def baselines_differing(*, sheet_id: int | None = None, chunk: int = 500) -> list[tuple[int, int]]:
    """The (unit, sheet) pairs whose kept row is not what a rebuild from the versions would make."""
    differing = []
    for units in _chunks(None, chunk):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT unit_id, sheet_id, periods, kept, summaries, spreads FROM {TABLE} "
                "WHERE unit_id = ANY(%s) AND (%s::bigint IS NULL OR sheet_id = %s)",
                [units, sheet_id, sheet_id],
            )
            kept = {(u, s): (list(p), _loaded(k), _loaded(m), _loaded(d)) for u, s, p, k, m, d in cursor.fetchall()}
            made = _made(cursor, units, sheet_id)
        differing += sorted(key for key in set(kept) | set(made) if kept.get(key) != made.get(key))
    return differing


def _chunks(unit_ids: Iterable[int] | None, chunk: int) -> Iterable[list[int]]:
    if unit_ids is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM core_unit ORDER BY id")
            unit_ids = [u for (u,) in cursor.fetchall()]
    units = sorted(set(unit_ids))
    for start in range(0, len(units), chunk):
        yield units[start : start + chunk]


Row = tuple[list[str], Window, dict[str, list[Any]], dict[str, list[float]]]  # periods, kept, summaries, spreads


def _made(cursor: Any, units: list[int], sheet_id: int | None) -> dict[tuple[int, int], Row]:
    """The rows the versions make for these units: each (unit, sheet)'s newest KEPT filings."""
    cursor.execute(_NEWEST_SQL, {"units": units, "sheet": sheet_id, "kept": KEPT})
    found: dict[tuple[int, int], list[tuple[str, dict[str, Any]]]] = {}
    for unit, sheet, period, values in cursor.fetchall():
        found.setdefault((unit, sheet), []).append((period, _loaded(values)))
    made = {}
    for key, filings in found.items():
        periods = [p for p, _ in filings]
        codes = {code for _, values in filings for code in values}
        columns = {code: [_number(values.get(code)) for _, values in filings] for code in codes}
        window = {code: column for code, column in columns.items() if any(v is not None for v in column)}
        summaries = _stored_summaries(periods, window)
        made[key] = (periods, window, summaries, _stored_spreads(summaries))
    return made


@transaction.atomic
def _rebuild_chunk(units: list[int], sheet_id: int | None) -> int:
    with connection.cursor() as cursor:
        # a fold of these units' markers writes its rows first (or after: it waits here), so the versions read
        # below are at least those it folded; a filing committed after this read leaves a marker to fold
        cursor.execute(
            f"SELECT 1 FROM {TABLE} WHERE unit_id = ANY(%s) AND (%s::bigint IS NULL OR sheet_id = %s) "
            "ORDER BY unit_id, sheet_id FOR UPDATE",
            [units, sheet_id, sheet_id],
        )
        made = _made(cursor, units, sheet_id)
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE unit_id = ANY(%s) AND (%s::bigint IS NULL OR sheet_id = %s)",
            [units, sheet_id, sheet_id],
        )
        cursor.executemany(
            f"INSERT INTO {TABLE} (unit_id, sheet_id, periods, kept, summaries, spreads) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (u, s, periods, _dumps(kept), _dumps(summaries), _dumps(spreads))
                for (u, s), (periods, kept, summaries, spreads) in made.items()
            ],
        )
    return len(made)
