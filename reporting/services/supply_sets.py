"""A JSON supply body checked set-based: its rows handed to PostgreSQL a run at a time, undecoded.

A province's register is hundreds of thousands of rows of the same shape, and a Python object and a check per row
cost more than PostgreSQL's `COPY` of everything the supply writes. So a JSON body's array comes here in runs of
whole rows (`supply_readers.json_items(runs=True)`, about `RUN_BYTES` each), PostgreSQL reads each run
(`jsonb_array_elements`), and one statement judges its rows as a set: the (field, period) judged in Python once
(`supply_keys`: a field the department is the source of, on a periodic sheet, its period valid, begun, not locked
— `period_closed`, the one rule — and the field not retired then), the unit inside the jurisdiction at one of the
sheet's levels (a join), and the value by the field type's SQL twin (`fieldtypes.sql`). The rows it accepts are
staged as `supplies._stage_chunk` stages them (one stage row per supply and run, each value's row kept for
messages); every other row comes back as its own JSON text and goes through the Python checks, which refuse it
by row, field and rule exactly as before (or accept it: a value the twin leaves to Python). A run PostgreSQL
cannot read at all (NaN, a NUL, a lone surrogate) is decoded in Python instead.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import DataError, transaction
from psycopg.types.json import Jsonb

from core.audit import read_only, unaudited
from core.models import Area, Unit
from reporting.catalogue.fieldtypes.sql import VALUE_SQL

RUN_BYTES = 1 << 20  # about 12,000 rows of a register: few statements; the run's text is all Python holds


PLAIN_CODE = re.compile(r"[A-Za-z0-9_.\-]+")  # field codes the run's statement writes into JSON and arrays as they are


class Run(str):
    """A run of whole rows of a JSON body's array, as its text without the brackets."""


KEYS_SQL = """
DROP TABLE IF EXISTS supply_keys;
CREATE TEMP TABLE supply_keys (
    id serial, field text NOT NULL, given text NOT NULL, sheet_id bigint NOT NULL, period text NOT NULL,
    start date NOT NULL, levels text[] NOT NULL, t text NOT NULL, c jsonb NOT NULL, PRIMARY KEY (field, given)
) ON COMMIT DROP
"""

_ADD_KEY_SQL = """
INSERT INTO supply_keys (field, given, sheet_id, period, start, levels, t, c) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""

# the (field, period) texts a run names, for the first run (later runs' new keys are judged from their rows
# checked in Python)
KEYS_OF_SQL = """
SELECT DISTINCT j->>'field', j->>'period' FROM jsonb_array_elements(('[' || %(run)s || ']')::jsonb) x(j)
WHERE jsonb_typeof(j->'field') = 'string' AND jsonb_typeof(j->'period') = 'string'
"""

# The units inside the department's jurisdiction, by area code: looked up once per supply (each run joins them)
UNITS_SQL = f"""
DROP TABLE IF EXISTS supply_units;
CREATE TEMP TABLE supply_units ON COMMIT DROP AS
SELECT a.code, u.id AS unit_id, a.level FROM {Area._meta.db_table} a JOIN {Unit._meta.db_table} u ON u.area_id = a.id
WHERE left(a.path, %(reach)s) = %(jurisdiction)s;
ALTER TABLE supply_units ADD PRIMARY KEY (code);
ANALYZE supply_units
"""

# One run: its rows read (`jsonb_array_elements`: a repeated key's last value, as Python's reader takes it),
# judged and the accepted ones staged; returned are the places of the others and, last, the place of the run's
# last row (which tells how many rows the run held). A row is taken here only in the common shape (unit, period
# and field texts, no ledger record) with a key judged in `supply_keys`, a unit in `supply_units` at one of the
# sheet's levels and a value the SQL twin accepts (NULL, left to Python, and '' refused, are both Python's). A
# key given twice in the run leaves all its rows to Python (`_REPEATS_SQL` judges them). Each step is one pass:
# judging the twin once per distinct value, or a window function for the repeats, cost more in joins and sorts
# than it saved. The groups are built with string_agg (an array or jsonb aggregate takes a memory context per
# group), the field codes and labels written as they are (`PLAIN_CODE`: nothing in them to escape).
_RUN_SQL = f"""
WITH judged AS MATERIALIZED (
    SELECT x.seq, x.field, x.gone, k.sheet_id, k.period, k.start, su.unit_id,
           CASE WHEN su.unit_id IS NOT NULL THEN ({VALUE_SQL}) END AS stored
    FROM (SELECT %(base)s + x.n::integer AS seq, x.j->>'unit' AS unit, x.j->>'period' AS period,
                 x.j->>'field' AS field, x.j->'value' AS v, coalesce(x.j->'delete' = 'true', false) AS gone,
                 jsonb_typeof(x.j->'unit') = 'string' AND jsonb_typeof(x.j->'period') = 'string'
                   AND jsonb_typeof(x.j->'field') = 'string' AND coalesce(x.j->'record', 'null') = 'null' AS plain
          FROM jsonb_array_elements(('[' || %(run)s || ']')::jsonb) WITH ORDINALITY AS x(j, n)
          OFFSET 0) x  -- not pulled up: each row's jsonb is taken apart once
    LEFT JOIN supply_keys k ON k.field = x.field AND k.given = x.period AND x.plain
    LEFT JOIN supply_units su ON su.code = x.unit AND su.level = ANY(k.levels)  -- the twin's v, t, c: x.v, k.t, k.c
), repeated AS MATERIALIZED (  -- a key given twice in the run: all its rows are Python's (`_REPEATS_SQL`)
    SELECT unit_id, sheet_id, period, field FROM judged WHERE unit_id IS NOT NULL
    GROUP BY unit_id, sheet_id, period, field HAVING count(*) > 1
), ok AS (
    SELECT * FROM judged j
    WHERE j.unit_id IS NOT NULL AND (j.gone OR j.stored NOT IN ('', 'null'))  -- no value: Python's to refuse
      AND NOT EXISTS (SELECT FROM repeated r
                      WHERE (r.unit_id, r.sheet_id, r.period, r.field) = (j.unit_id, j.sheet_id, j.period, j.field))
), staged AS (
    INSERT INTO supply_stage (seq, unit_id, sheet_id, period, period_start, vals, gone, rows)
    SELECT min(seq), unit_id, sheet_id, period, start,
           ('{{' || coalesce(string_agg('"' || field || '":' || stored, ',')
                             FILTER (WHERE NOT gone AND stored <> 'null'), '') || '}}')::jsonb,
           coalesce(string_to_array(string_agg(field, ',') FILTER (WHERE gone OR stored = 'null'), ','), '{{}}'),
           '{{' || string_agg('"' || field || '":[' || seq || ',"' || %(label)s || (seq - 1) || ']"]', ',') || '}}'
    FROM ok GROUP BY unit_id, sheet_id, period, start
)
SELECT j.seq, true FROM judged j
WHERE j.unit_id IS NULL OR NOT coalesce(j.gone OR j.stored NOT IN ('', 'null'), false)  -- NULL: left to Python
   OR EXISTS (SELECT FROM repeated r
              WHERE (r.unit_id, r.sheet_id, r.period, r.field) = (j.unit_id, j.sheet_id, j.period, j.field))
UNION ALL
SELECT max(seq), false FROM judged
ORDER BY 1
"""

# the text of the run's rows at these places (those the run's statement left to Python)
_TEXTS_SQL = """
SELECT %(base)s + x.n::integer, x.e::text
FROM json_array_elements(('[' || %(run)s || ']')::json) WITH ORDINALITY x(e, n)
WHERE x.n = ANY(%(places)s)
ORDER BY x.n
"""


@unaudited("a step of supply_values, which is audited")
def stage_run(cursor, run: Run, *, base: int, label: str = "values[") -> tuple[int, list[tuple[int, str]]] | None:
    """Stage the rows of `run` that pass every check; return how many rows it held and the (seq, JSON text) of
    the others, or None when PostgreSQL cannot read the run (nothing staged)."""
    try:
        with transaction.atomic():  # a savepoint: a run PostgreSQL refuses leaves the supply's transaction usable
            cursor.execute(_RUN_SQL, {"run": run, "base": base, "label": label})
            found = cursor.fetchall()
    except DataError:
        return None
    if not found or found[-1][0] is None:
        return 0, []
    places = [seq - base for seq, other in found if other]
    if not places:
        return found[-1][0] - base, []
    cursor.execute(_TEXTS_SQL, {"run": run, "base": base, "places": places})
    return found[-1][0] - base, cursor.fetchall()


@read_only
def keys_of(cursor, run: Run) -> list[tuple[str, str]]:
    """The (field, period) texts a run names (none when PostgreSQL cannot read it)."""
    try:
        with transaction.atomic():
            cursor.execute(KEYS_OF_SQL, {"run": run})
            return cursor.fetchall()
    except DataError:
        return []


@unaudited("a step of supply_values, which is audited")
def add_keys(cursor, keys: list[tuple[str, str, int, str, str, list[str], str, dict[str, Any]]]) -> None:
    """Keys judged in Python: (field, period as given, sheet id, period, its first day, unit levels, type,
    constraints)."""
    if keys:
        cursor.executemany(_ADD_KEY_SQL, [(*k[:7], Jsonb(k[7])) for k in keys])
