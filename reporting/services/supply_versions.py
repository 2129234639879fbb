"""The versions a register supply stores: one statement for periodic supplies and ledger records alike.

`supplies.supply_values` and `ledger_supplies.store_records` each build a temporary table of the supplies that
change (`supply_change`, `ledger_change`: submission id, current version, new values); this module turns each of
its rows into the submission's next version and notes the version's id in the row, for the relay markers.
"""

from __future__ import annotations

from psycopg import sql

from core.audit import unaudited

_VERSIONS_SQL = """
WITH made AS (
    INSERT INTO reporting_submissionversion
        (submission_id, number, "values", not_applicable, carried, confirmed, disputed, gaps, reason, by_id, at,
         asked_count, typed_count, carried_count, na_count, confirmed_count, disputed_count, department_count,
         refills_spared, period_start)
    SELECT submission_id, current_version + 1, new_values, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '', %(by)s, now(),
           0, 0, 0, 0, 0, 0, 0, 0, {start}
    FROM {changes} ORDER BY submission_id
    RETURNING id, submission_id
)
UPDATE {changes} c SET version_id = made.id FROM made WHERE c.submission_id = made.submission_id
"""


@unaudited("a step of supply_values, which is audited")
def insert_versions(cursor, *, changes: str, start: str, by_id: int) -> None:
    """Store the next version of each supply in the temporary table `changes`, noting its id in `version_id`;
    `start` names the column holding the version's partition key (its period's first day, a record's date)."""
    query = sql.SQL(_VERSIONS_SQL).format(changes=sql.Identifier(changes), start=sql.Identifier(start))
    cursor.execute(query, {"by": by_id})
