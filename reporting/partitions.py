"""PostgreSQL declarative partitions of the tables that grow without end: their ranges, the partitions made ahead of
time, and turning a plain table into a partitioned one (and back) in a migration.

A partition is named by its table and the first day of its range (`reporting_accessrecord_p202611`); a DEFAULT
partition (`…_default`) takes a row whose range has no partition yet (beat stopped for months, a filing for a
far-past period), so no write is ever refused for want of a partition. Making the partition of a range that the
DEFAULT partition already holds rows of moves those rows into it, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper
from psycopg import sql


@dataclass(frozen=True)
class Scheme:
    """How one table is partitioned: by range of `key`, `months` long (1: monthly, 12: yearly)."""

    table: str
    key: str
    months: int
    ahead: int  # how many ranges after the current one the housekeeping keeps made
    # the append-only TRUNCATE guard (core/appendonly.py): a statement trigger, which PostgreSQL does not clone to
    # a partition as it clones row triggers, so each partition gets its own
    guarded: bool = False
    # whether maintenance may DELETE the table's rows (core/appendonly.py): where it may not (versions), rows of the
    # DEFAULT partition move into a new range's partition by copying the DEFAULT partition whole, never by a DELETE
    deletable: bool = True

    def start(self, day: dt.date) -> dt.date:
        """The first day of the range holding `day`."""
        month = (day.year * 12 + day.month - 1) // self.months * self.months
        return dt.date(month // 12, month % 12 + 1, 1)

    def after(self, start: dt.date) -> dt.date:
        month = start.year * 12 + start.month - 1 + self.months
        return dt.date(month // 12, month % 12 + 1, 1)

    def name(self, start: dt.date) -> str:
        return f"{self.table}_p{start:%Y}" if self.months == 12 else f"{self.table}_p{start:%Y%m}"

    def bound(self, day: dt.date) -> str:
        # a timestamp key's ranges are UTC days: the bounds do not move with a session's time zone
        return f"{day.isoformat()} 00:00:00+00" if self.key == "at" else day.isoformat()


ACCESS_RECORDS = Scheme("reporting_accessrecord", "at", months=1, ahead=3, guarded=True)
DELIVERIES = Scheme("reporting_delivery", "version_month", months=1, ahead=3)
# yearly: every period (a year, a quarter, a month, a ledger record's day) lies within one year, so a period's
# versions are in one partition; a province files about a million versions a year, a size one index handles well
VERSIONS = Scheme("reporting_submissionversion", "period_start", months=12, ahead=1, guarded=True, deletable=False)
SCHEMES = (ACCESS_RECORDS, DELIVERIES, VERSIONS)


def partitions(cursor: CursorWrapper, scheme: Scheme) -> dict[str, tuple[str, str] | None]:
    """The table's partitions: name → (from, to) as PostgreSQL prints the bounds, None for the DEFAULT one."""
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [scheme.table],
    )
    found: dict[str, tuple[str, str] | None] = {}
    for name, bound in cursor.fetchall():
        if bound == "DEFAULT":
            found[name] = None
        else:  # FOR VALUES FROM ('…') TO ('…')
            low, high = bound.split("'")[1], bound.split("'")[3]
            found[name] = (low, high)
    return found


def create_range(cursor: CursorWrapper, scheme: Scheme, start: dt.date) -> bool:
    """Make the partition of the range starting at `start` unless it exists; return whether it was made."""
    name = scheme.name(start)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if cursor.fetchone()[0]:
        return False
    table, partition = sql.Identifier(scheme.table), sql.Identifier(name)
    default, key = sql.Identifier(f"{scheme.table}_default"), sql.Identifier(scheme.key)
    low, high = sql.Literal(scheme.bound(start)), sql.Literal(scheme.bound(scheme.after(start)))
    in_range = sql.SQL("{key} >= {low} AND {key} < {high}").format(key=key, low=low, high=high)
    cursor.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(default, in_range))
    if not cursor.fetchone()[0]:
        cursor.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(partition, table, low, high)
        )
    elif not scheme.deletable:
        _rehome_default(cursor, scheme, partition, low, high)
    else:
        # PostgreSQL refuses a partition whose range the DEFAULT partition holds rows of: they move first, within
        # this transaction (the caller's maintenance lets the append-only guard pass the DELETE)
        cursor.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(partition, table)
        )
        cursor.execute(
            sql.SQL("WITH moved AS (DELETE FROM {} WHERE {} RETURNING *) INSERT INTO {} SELECT * FROM moved").format(
                default, in_range, partition
            )
        )
        cursor.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                table, partition, low, high
            )
        )
    if scheme.guarded:
        guard_truncate(cursor, name)
    return True


def _rehome_default(
    cursor: CursorWrapper, scheme: Scheme, partition: sql.Identifier, low: sql.Literal, high: sql.Literal
) -> None:
    """Make a range's partition while the DEFAULT partition holds rows of it, deleting no row: the DEFAULT partition
    is detached, the new range and a new DEFAULT partition are made, every row is copied back through the parent
    (each to its partition) and the old DEFAULT table, now holding only copies, is dropped. A DROP fires no row
    trigger; no row is changed or lost, so the append-only rule (nothing deleted, ever) holds for the rows. The
    DETACH locks the parent until commit: writers wait for the copy of the DEFAULT partition, which holds only
    the rows of ranges nobody made (few)."""
    table, default = sql.Identifier(scheme.table), f"{scheme.table}_default"
    old = sql.Identifier(f"{default}_old")
    cursor.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(table, sql.Identifier(default)))
    cursor.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(default), old))
    cursor.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(partition, table, low, high)
    )
    create_default(cursor, scheme)
    cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, old))
    # rows this transaction wrote before (a test's) leave deferred key checks pending, which DROP refuses
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(sql.SQL("DROP TABLE {}").format(old))


def guard_truncate(cursor: CursorWrapper, name: str) -> None:
    cursor.execute(
        sql.SQL(
            "CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {} "
            "FOR EACH STATEMENT EXECUTE FUNCTION onetable_append_only('truncate')"
        ).format(sql.Identifier(name))
    )


def create_ahead(cursor: CursorWrapper, scheme: Scheme, today: dt.date, since: dt.date | None = None) -> list[str]:
    """Make the partitions from `since`'s range (default: today's) through `scheme.ahead` ranges after today's."""
    start, made = scheme.start(since or today), []
    last = scheme.start(today)
    for _ in range(scheme.ahead):
        last = scheme.after(last)
    while start <= last:
        if create_range(cursor, scheme, start):
            made.append(scheme.name(start))
        start = scheme.after(start)
    return made


def oldest_in_default(cursor: CursorWrapper, scheme: Scheme) -> dt.date | None:
    """The day of the oldest row the DEFAULT partition holds (rows of a month before its partition was made)."""
    cursor.execute(
        sql.SQL("SELECT min({})::date FROM {}").format(
            sql.Identifier(scheme.key), sql.Identifier(f"{scheme.table}_default")
        )
    )
    return cursor.fetchone()[0]


def create_default(cursor: CursorWrapper, scheme: Scheme) -> None:
    name = f"{scheme.table}_default"
    cursor.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(sql.Identifier(name), sql.Identifier(scheme.table))
    )
    if scheme.guarded:
        guard_truncate(cursor, name)


def swap_in_partitioned(cursor: CursorWrapper, scheme: Scheme, today: dt.date) -> None:
    """Migration step: replace the plain table `scheme.table` (its `id` an identity column, already locked) by a
    table partitioned by `scheme.key` holding the same rows and ids; the caller then makes its indexes, triggers
    and constraints, whose names the old table gave up with it."""
    table, old = sql.Identifier(scheme.table), sql.Identifier(f"{scheme.table}_old")
    named = f"{scheme.table}_id_seq"
    sequence, key = sql.Identifier(named), sql.Identifier(scheme.key)
    cursor.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, old))
    cursor.execute(sql.SQL("ALTER TABLE {} ALTER id DROP IDENTITY").format(old))  # frees the sequence's name
    cursor.execute(  # and the primary key's
        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            old, sql.Identifier(f"{scheme.table}_pkey"), sql.Identifier(f"{scheme.table}_old_pkey")
        )
    )
    cursor.execute(sql.SQL("CREATE SEQUENCE {}").format(sequence))
    # an identity column on a partitioned table needs PostgreSQL 17: an owned sequence serves every version
    cursor.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (id, {}))"
            " PARTITION BY RANGE ({})"
        ).format(table, old, key, key)
    )
    cursor.execute(sql.SQL("ALTER TABLE {} ALTER id SET DEFAULT nextval({})").format(table, sql.Literal(named)))
    cursor.execute(sql.SQL("ALTER SEQUENCE {} OWNED BY {}.id").format(sequence, table))
    create_default(cursor, scheme)
    cursor.execute(sql.SQL("SELECT min({})::date FROM {}").format(key, old))
    oldest = cursor.fetchone()[0]
    create_ahead(cursor, scheme, today, since=min(oldest, today) if oldest else today)
    cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, old))
    cursor.execute(
        sql.SQL("SELECT setval({}, coalesce(max(id), 0) + 1, false) FROM {}").format(sql.Literal(named), table)
    )
    cursor.execute(sql.SQL("DROP TABLE {}").format(old))


def foreign_keys(cursor: CursorWrapper, table: str) -> list[sql.Composable]:
    """`ALTER TABLE … ADD CONSTRAINT` statements remaking the table's foreign keys to other tables, as they are."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' AND confrelid <> conrelid ORDER BY conname",
        [table],
    )
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.Identifier(table), sql.Identifier(name), sql.SQL(body)
        )
        for name, body in cursor.fetchall()
    ]


def swap_in_plain(cursor: CursorWrapper, scheme: Scheme) -> None:
    """The reverse step: a plain table with an identity `id` and the same rows; the caller makes the rest."""
    table, old = sql.Identifier(scheme.table), sql.Identifier(f"{scheme.table}_old")
    cursor.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, old))
    cursor.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(table, old))
    cursor.execute(sql.SQL("ALTER TABLE {} ALTER id DROP DEFAULT").format(table))
    cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, old))
    cursor.execute(sql.SQL("DROP TABLE {} CASCADE").format(old))  # its partitions and its sequence with it
    cursor.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(table))
    cursor.execute(sql.SQL("ALTER TABLE {} ALTER id ADD GENERATED BY DEFAULT AS IDENTITY").format(table))
    cursor.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false) FROM {}").format(
            sql.Literal(scheme.table), table
        )
    )
