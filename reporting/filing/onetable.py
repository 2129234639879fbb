"""Build the one table a unit fills: computed from the catalogue and the active subscriptions.

For a unit and a period, a field is asked when it is active, its sheet is filled
by units of this level, and at least one active subscription covers the unit's
area and the period's first day. Each field appears once, however many
departments need it; stable facts come pre-filled with the last accepted value.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.models import Department, Unit
from reporting.catalogue.periods import Period
from reporting.models import (
    Cadence,
    CatalogueGeneration,
    DueException,
    DueRule,
    Field,
    FieldRevision,
    Sheet,
    Status,
    Submission,
    SubmissionVersion,
    Subscription,
    Unlock,
    covering_scopes,
    field_asked_on,
    window_holds,
)
from reporting.rejections import Problem, Problems, period_type_params


@dataclass(frozen=True)
class Claim:
    """One subscription's claim on one field: who needs it, and over which days."""

    field_id: int
    sheet_id: int
    department_id: int
    starts_on: dt.date
    expires_on: dt.date | None
    retired_from: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return window_holds(self.starts_on, self.expires_on, day) and field_asked_on(self.retired_from, day)


def _claims(subscriptions, fields):
    """The subscription-field pairs of these subscriptions on these fields, each field asked on some day. A
    derived roll-up field (`Field.rollup_of`) is never asked: the roll-up engine answers it."""
    asked = fields.asked_on().filter(rollup_of__isnull=True)
    return Subscription.fields.through.objects.filter(subscription__in=subscriptions, field__in=asked)


def _claims_on(unit: Unit):
    """Every subscription-field pair that may ask something of this unit (any sheet, any day)."""
    fields = Field.objects.filter(sheet__status=Status.ACTIVE, sheet__unit_levels__contains=[unit.area.level])
    return _claims(Subscription.objects.active().covering(unit.area), fields)


class Claims:
    """Every claim on a unit, fetched in one query, answering per sheet and day (pages that show many periods)."""

    def __init__(self, unit: Unit) -> None:
        rows = _claims_on(unit).values_list(
            "field_id",
            "field__sheet_id",
            "subscription__department_id",
            "subscription__starts_on",
            "subscription__expires_on",
            "field__retired_from",
        )
        self.by_sheet: dict[int, list[Claim]] = defaultdict(list)
        for row in rows:
            claim = Claim(*row)
            self.by_sheet[claim.sheet_id].append(claim)

    def departments_by_field(self, sheet: Sheet, day: dt.date) -> dict[int, set[int]]:
        needed: dict[int, set[int]] = defaultdict(set)
        for claim in self.by_sheet.get(sheet.pk, []):
            if claim.covers(day):
                needed[claim.field_id].add(claim.department_id)
        return needed


class Needed(dict[int, frozenset[int]]):
    """Per field asked, the departments that need it; and all of them (shared by every filing of the process
    that reads the same entry, so the union of a table's 200 fields is made once)."""

    departments: frozenset[int] = frozenset()


@dataclass
class SheetCatalogue:
    """What the one table needs to know of a sheet, read once per catalogue generation and process."""

    claims: list[tuple[str, Claim]]  # (the subscription's scope code, its claim on one field)
    fields: list[Field]  # every field of the sheet, in form order
    revisions: dict[int, list[FieldRevision]]  # per field, newest first
    departments: dict[int, Department]
    # an aggregate-only subscription on the sheet pushes at a coverage level: a filing wakes the check after commit
    pushes: bool = False

    @classmethod
    def load(cls, sheet: Sheet) -> SheetCatalogue:
        rows = _claims(Subscription.objects.active(), Field.objects.filter(sheet=sheet)).values_list(
            "field_id",
            "subscription__department_id",
            "subscription__scope__code",
            "subscription__starts_on",
            "subscription__expires_on",
            "field__retired_from",
            "subscription__level",
            "subscription__push_coverage",
        )
        claims, pushes = [], False
        for field_id, dept, scope, starts, expires, retired, level, push in rows:
            claims.append((scope, Claim(field_id, sheet.pk, dept, starts, expires, retired)))
            pushes = pushes or (level is not None and push is not None)
        revisions: dict[int, list[FieldRevision]] = defaultdict(list)
        for revision in FieldRevision.objects.filter(field__sheet=sheet).order_by("field_id", "-effective_from"):
            revisions[revision.field_id].append(revision)
        return cls(
            claims=claims,
            # with each field's source department: the one table names it beside a register value or a gap
            fields=list(Field.objects.filter(sheet=sheet).select_related("source").order_by("order", "code")),
            revisions=dict(revisions),
            departments={d.pk: d for d in Department.objects.filter(pk__in={c.department_id for _, c in claims})},
            pushes=pushes,
        )

    def __post_init__(self) -> None:
        self.scopes = frozenset(scope for scope, _ in self.claims)
        # Derived per (the unit's scopes that have claims, day) and per day: a province's 20,000 villages
        # share one entry. Read-only once stored: every request of the process gets the same objects.
        self._needed: dict[tuple[frozenset[str], dt.date], Needed] = {}
        self._fields_at: dict[dt.date, list[Field]] = {}

    def scopes_over(self, unit: Unit) -> frozenset[str]:
        """The scopes with subscriptions on this sheet that contain the unit."""
        return self.scopes.intersection(covering_scopes(unit.area))

    def first_asked(self, unit: Unit) -> dt.date | None:
        """The first day any subscription on this sheet covering the unit asks something of it (None: none)."""
        scopes = self.scopes_over(unit)
        return min((claim.starts_on for scope, claim in self.claims if scope in scopes), default=None)

    def needed(self, unit: Unit, sheet: Sheet, day: dt.date) -> Needed:
        """Per field asked of `unit` on `day`, the departments that need it."""
        if sheet.status != Status.ACTIVE or unit.area.level not in sheet.unit_levels:
            return Needed()
        scopes = self.scopes_over(unit)
        key = (scopes, day)
        found = self._needed.get(key)
        if found is None:
            needed: dict[int, set[int]] = defaultdict(set)
            for scope, claim in self.claims:
                if scope in scopes and claim.covers(day):
                    needed[claim.field_id].add(claim.department_id)
            found = Needed((field_id, frozenset(departments)) for field_id, departments in needed.items())
            found.departments = frozenset().union(*found.values())
            if len(self._needed) >= 1024:
                self._needed.clear()
            self._needed[key] = found
        return found

    def fields_at(self, day: dt.date) -> list[Field]:
        """Every field of the sheet as defined on `day`: a revised field is a copy with the revision
        applied, so the cached fields, shared by every request of the process, are never changed."""
        found = self._fields_at.get(day)
        if found is None:
            found = []
            for f in self.fields:
                revision = next((r for r in self.revisions.get(f.pk, ()) if r.effective_from <= day), None)
                found.append(revision.apply_to(copy.copy(f)) if revision else f)
            if len(self._fields_at) >= 256:
                self._fields_at.clear()
            self._fields_at[day] = found
        return found


_SHEETS: dict[tuple[int | None, int], SheetCatalogue] = {}
_ACTIVE_SHEETS: dict[int, dict[str, Sheet]] = {}
# The generation and the snapshot it was read in: a catalogue-changing commit writes a value never used before,
# so every snapshot that reads the same generation sees the same subscriptions in force (the relay relies on it).
_GENERATION_SQL = (
    f"SELECT (SELECT value FROM {CatalogueGeneration._meta.db_table} WHERE id = 1), pg_current_snapshot()::text"
)


def catalogue_reading() -> tuple[int | None, str]:
    """The catalogue's generation in force (None before the first migration ran its trigger) and the snapshot
    (`pg_current_snapshot()` as text) it was read in."""
    with connection.cursor() as cursor:
        cursor.execute(_GENERATION_SQL)
        generation, snapshot = cursor.fetchone()
    return generation, snapshot


def catalogue_generation() -> int | None:
    """The catalogue's generation in force (None before the first migration ran its trigger)."""
    return catalogue_reading()[0]


def active_sheet(code: str) -> Sheet | None:
    """The active sheet with this code, from the process's copy of the generation in force; each caller
    gets its own instance (the cached ones are shared by every request), marked with that generation so
    that building its table in the same request does not read the generation again."""
    generation, snapshot = catalogue_reading()
    sheets = _ACTIVE_SHEETS.get(generation) if generation is not None else None
    if sheets is None:
        sheets = {s.code: s for s in Sheet.objects.filter(status=Status.ACTIVE)}
        if generation is not None:
            _ACTIVE_SHEETS.clear()
            _ACTIVE_SHEETS[generation] = sheets
    sheet = sheets.get(code)
    if sheet is None:
        return None
    sheet = copy.copy(sheet)
    sheet.read_at_generation, sheet.read_at_snapshot = generation, snapshot
    return sheet


def sheet_catalogue(sheet: Sheet) -> SheetCatalogue:
    """The sheet's catalogue for the generation in force (or the one `active_sheet` read it at, earlier in
    the same request); computed after reading the generation, so a change committed in between is at worst
    read early, never cached under a later generation."""
    return read_sheet_catalogue(sheet)[0]


def read_sheet_catalogue(sheet: Sheet) -> tuple[SheetCatalogue, str]:
    """`sheet_catalogue`, with the snapshot its generation was read in (what a filing's relay marker keeps)."""
    generation, snapshot = getattr(sheet, "read_at_generation", None), getattr(sheet, "read_at_snapshot", "")
    if generation is None or not snapshot:
        generation, snapshot = catalogue_reading()
    key = (generation, sheet.pk)
    if generation is not None and key in _SHEETS:
        return _SHEETS[key], snapshot
    catalogue = SheetCatalogue.load(sheet)
    if generation is not None:
        if len(_SHEETS) >= 256:
            _SHEETS.clear()
        _SHEETS[key] = catalogue
    return catalogue, snapshot


@dataclass(frozen=True)
class RegisterValue:
    """The value the field's source department supplied for this unit and period (部门数据)."""

    value: Any
    source: Department
    supplied_on: dt.date
    supply_id: int  # the supply submission
    version_id: int  # its current version, the one the unit confirms or disputes


@dataclass
class TableField:
    field: Field
    department_ids: AbstractSet[int]  # shared with the cached catalogue: never changed
    carried: Any = None  # last accepted value of a stable fact
    carried_from: str = ""  # the period it was accepted in
    register: RegisterValue | None = None  # the source's value for this period, if it supplied one
    dates_record: bool = False  # the ledger's record date: a record has one, so it is never "not applicable"

    @property
    def allow_na(self) -> bool:
        """Whether the unit may answer "not applicable" here: the field allows it, and it is no record's date."""
        return self.field.allow_na and not self.dates_record

    @property
    def code(self) -> str:
        return self.field.code

    @property
    def has_carried(self) -> bool:
        return self.carried_from != ""

    @property
    def has_register(self) -> bool:
        return self.register is not None

    @property
    def shows(self) -> str:
        """What the entry comes pre-filled with: "register", "carried" or "" (nothing). A supply for this period
        is always newer than a value carried from an earlier one, so the register wins whenever it has a value."""
        if self.register is not None:
            return "register"
        return "carried" if self.has_carried else ""

    @property
    def prefill(self) -> Any:
        if self.register is not None:
            return self.register.value
        return self.carried if self.has_carried else None

    @property
    def is_gap(self) -> bool:
        """A field with a source whose register has no value for this unit and period: the unit types it."""
        return self.field.source_id is not None and self.register is None


@dataclass
class OneTable:
    unit: Unit
    sheet: Sheet
    period: Period
    fields: list[TableField]
    departments: list[Department] = field(default_factory=list)
    catalogue: SheetCatalogue | None = None  # what it was built from
    # the snapshot the catalogue's generation was read in: the filing's relay marker keeps it, and the relay
    # delivers to the subscriptions in force in it, the ones this table was built from
    snapshot: str = ""

    def __bool__(self) -> bool:
        return bool(self.fields)

    def by_code(self) -> dict[str, TableField]:
        return {f.code: f for f in self.fields}


def build_one_table(
    *, unit: Unit, sheet: Sheet, period: Period, claims: Claims | None = None, carry: bool = True
) -> OneTable:
    """The fields `unit` is asked for `sheet` in `period`, each once, stable facts pre-filled."""
    catalogue, snapshot = read_sheet_catalogue(sheet)
    needed: Mapping[int, AbstractSet[int]]
    if claims is not None:
        needed = claims.departments_by_field(sheet, period.start)
    else:
        needed = catalogue.needed(unit, sheet, period.start)
    # `id`, not Django's `pk` property: 200 fields a filing
    fields = [f for f in catalogue.fields_at(period.start) if f.id in needed]
    table = OneTable(
        unit,
        sheet,
        period,
        [TableField(f, needed[f.id], dates_record=f.code == sheet.record_date_field) for f in fields],
        catalogue=catalogue,
        snapshot=snapshot,
    )
    department_ids = needed.departments if isinstance(needed, Needed) else set().union(*needed.values())
    table.departments = [catalogue.departments[d] for d in sorted(department_ids) if d in catalogue.departments]
    missing = department_ids - set(catalogue.departments)
    if missing:  # only when `claims` was read after the catalogue changed
        table.departments += list(Department.objects.filter(pk__in=missing))
    if not sheet.is_ledger:
        _prefill(table, carry=carry)
    return table


def filing_table(
    *,
    unit: Unit,
    sheet: Sheet,
    period: Period | None = None,
    day: dt.date | None = None,
    filed: SubmissionVersion | None = None,
    today: dt.date | None = None,
    carry: bool = True,
    calendar: DueCalendar | None = None,
) -> OneTable:
    """The one table `unit` files `sheet` on, for `period` (a periodic sheet) or a record dated `day` (a ledger),
    if that is open to filing; else raise Problems naming the period or date and the rule.

    The one place that decides, for the pages, the Excel upload and the API: a periodic sheet is open for a
    period that has begun and that the unit's one table asks for; a ledger record's date is not after today
    (plus the office's ONETABLE_LEDGER_LEAD_DAYS), not before the first day a subscription on the sheet covering
    the unit begins (a new record), and its table asks for something. A correction (`filed`: the
    version corrected) stays open however the subscriptions changed since; its table also keeps the fields that
    version answered, so that nothing filed drops out of the corrected version. A periodic sheet's period also
    opens and locks as `period_closed` says; a ledger record's month locks as it says too (the ledger rule's days
    after the month ends), for a new record and for a correction of one."""
    today = today or timezone.localdate()
    if sheet.is_ledger:
        if day is None:
            raise ValueError("a ledger record needs its date")
        where = sheet.record_date_field
        lead = settings.ONETABLE_LEDGER_LEAD_DAYS
        latest = today + dt.timedelta(days=lead)
        if day > latest:
            if lead:
                raise not_open(where, "after_latest", day=day, latest=latest, lead=lead)
            raise not_open(where, "after_today", day=day, today=today)
        first = read_sheet_catalogue(sheet)[0].first_asked(unit) if filed is None else None
        if first is not None and day < first:  # before anything was asked of the unit: not a month's question
            raise not_open(where, "before_first", day=day, first=first)
        period = Period.containing(day, sheet.period_type)
        closed = period_closed(sheet=sheet, period=period, today=today, unit=unit, first=False, calendar=calendar)
        if closed is not None:
            raise Problems([Problem(field=where, rule=closed.rule, params=closed.params)])  # on the date typed
    else:
        if period is None or period.type != sheet.period_type:
            raise Problems([Problem(field="period", rule="period.type", params=period_type_params(sheet.cadence))])
        where = "period"
        closed = period_closed(
            sheet=sheet, period=period, today=today, unit=unit, first=filed is None, calendar=calendar
        )
        if closed is not None:
            raise Problems([closed])
    table = build_one_table(unit=unit, sheet=sheet, period=period, carry=carry)
    if filed is not None:
        _keep_filed(table, {*filed.values, *filed.not_applicable})
    if not table:
        raise not_open(where, "not_asked", period=period)
    return table


def not_open(field: str, why: str, **params: Any) -> Problems:
    return Problems([Problem(field=field, rule="period.not_open", params={"why": why, **params})])


def _keep_filed(table: OneTable, codes: AbstractSet[str]) -> None:
    """Add the fields a filed version answered that the table no longer asks (its subscription ended), in form
    order, asked by no department: a correction still says what it corrects, and it is delivered to nobody."""
    asked = table.by_code()
    if not codes - asked.keys() or table.catalogue is None:
        return
    table.fields = [
        asked.get(f.code) or TableField(f, frozenset(), dates_record=f.code == table.sheet.record_date_field)
        for f in table.catalogue.fields_at(table.period.start)
        if f.code in asked or f.code in codes
    ]


# What the table comes pre-filled with, in one statement (one round trip for the form, however many fields).
# Stable facts ("carried"): the latest earlier filing usually holds every one of them (one version read: the
# submission is picked first, so its version is looked for in its year's partition only, not each earlier
# filing's in theirs; every submission has its current version, so the pick is the same). Only
# when it lacks some (left blank or not applicable then) does the second branch run, picking each missing fact's
# value in the latest earlier filing that has it; its gate is evaluated first. Register values ("register"):
# each source's supply for this sheet and period at its current version; a supply carries only the fields its
# department is (or was) the source of, and a value counts only while that department is still the field's
# source (checked against the catalogue in Python). The NULL casts type the union's branches alike.
_PREFILL_SQL = """
WITH latest AS MATERIALIZED (
    SELECT s.period, v."values" FROM (
        SELECT s.id, s.period, s.period_start, s.current_version FROM reporting_submission s
        WHERE cardinality(%(codes)s::text[]) > 0
          AND s.unit_id = %(unit)s AND s.sheet_id = %(sheet)s AND s.period < %(period)s AND s.record_key IS NULL
          AND s.source_id IS NULL
        ORDER BY s.period DESC LIMIT 1
    ) s
    JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
        AND v.period_start = s.period_start
), found AS MATERIALIZED (
    SELECT kv.key, latest.period, kv.value FROM latest, jsonb_each(latest."values") kv
    WHERE kv.key = ANY(%(codes)s)
)
SELECT 'carried', key, value::text, period, NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::bigint,
       NULL::bigint, NULL::timestamptz
FROM found
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (kv.key) 'carried', kv.key, kv.value::text, s.period, NULL::bigint, NULL::bigint,
           NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz
    FROM reporting_submission s
    JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
        AND v.period_start = s.period_start
    CROSS JOIN LATERAL jsonb_each(v."values") kv
    WHERE (SELECT count(*) FROM found) < %(wanted)s
      AND s.unit_id = %(unit)s AND s.sheet_id = %(sheet)s AND s.record_key IS NULL AND s.source_id IS NULL
      AND s.period < (SELECT period FROM latest)
      AND kv.key = ANY(%(codes)s) AND kv.key NOT IN (SELECT key FROM found)
    ORDER BY kv.key, s.period DESC
) older
UNION ALL
SELECT 'register', kv.key, kv.value::text, NULL, s.id, s.source_id, d.code, d.name, d.jurisdiction_id, v.id, v.at
FROM reporting_submission s
JOIN core_department d ON d.id = s.source_id
JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
    AND v.period_start = s.period_start
CROSS JOIN LATERAL jsonb_each(v."values") kv
WHERE cardinality(%(sourced)s::text[]) > 0
  AND s.unit_id = %(unit)s AND s.sheet_id = %(sheet)s AND s.period = %(period)s
  AND s.period_start = %(start)s  -- the period's first day: PostgreSQL reads the versions of its year only
  AND s.record_key IS NULL AND s.source_id IS NOT NULL AND kv.key = ANY(%(sourced)s)
"""


def _prefill(table: OneTable, *, carry: bool) -> None:
    """Pre-fill stable facts with the last accepted value from an earlier period, and the fields with a source
    with the register's value for this unit and period (one query)."""
    stable = {f.code: f for f in table.fields if f.field.stable} if carry else {}
    sourced = {f.code: f for f in table.fields if f.field.source_id is not None}
    if not stable and not sourced:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _PREFILL_SQL,
            {
                "unit": table.unit.pk,
                "sheet": table.sheet.pk,
                "period": str(table.period),
                "start": table.period.start,
                "codes": sorted(stable),
                "wanted": len(stable),
                "sourced": sorted(sourced),
            },
        )
        rows = cursor.fetchall()
    departments: dict[int, Department] = {}
    for kind, code, value, period, supply_id, source_id, dept_code, dept_name, jurisdiction, version_id, at in rows:
        if kind == "carried":
            entry = stable[code]
            entry.carried, entry.carried_from = json.loads(value), period
            continue
        entry = sourced[code]
        if entry.field.source_id != source_id:
            continue
        if source_id not in departments:
            departments[source_id] = Department(
                pk=source_id, code=dept_code, name=dept_name, jurisdiction_id=jurisdiction
            )
        entry.register = RegisterValue(
            json.loads(value), departments[source_id], timezone.localtime(at).date(), supply_id, version_id
        )


class DueCalendar:
    """The office's one calendar: an exception for a sheet and period, else the cadence's rule; when a period
    opens (its cadence's lead before it begins) and when it locks (its cadence's days after the due date)."""

    def __init__(self, sheets: list[Sheet], periods: set[str] | None) -> None:
        """The rules, and the exceptions of these sheets for these periods (None: for every period)."""
        self.rules = {r.cadence: r for r in DueRule.objects.all()}
        exceptions = DueException.objects.filter(sheet__in=sheets)
        if periods is not None:
            exceptions = exceptions.filter(period__in=periods)
        self.exceptions = {(e.sheet_id, e.period): e.due_on for e in exceptions}

    def due_on(self, sheet: Sheet, period: Period) -> dt.date | None:
        if sheet.is_ledger:  # records any time: the ledger rule holds only when a month's records lock
            return None
        exception = self.exceptions.get((sheet.pk, str(period)))
        if exception:
            return exception
        rule = self.rules.get(sheet.cadence)
        return None if rule is None else period.end + dt.timedelta(days=rule.days_after_period_end)

    def due_for(self, period: Period) -> dt.date:
        """The day the rule of the period's own cadence makes it due (its last day without a rule): what a
        ledger's records of a period are read against, a ledger having no due date of its own."""
        rule = self.rules.get(period.type)
        return period.end + dt.timedelta(days=rule.days_after_period_end if rule else 0)

    def opens_on(self, sheet: Sheet, period: Period) -> dt.date:
        rule = self.rules.get(sheet.cadence)
        return period.start - dt.timedelta(days=rule.lead_days if rule else 0)

    def locks_after(self, sheet: Sheet, period: Period) -> tuple[dt.date, int] | None:
        """The last day a period takes new versions without an unlock, and the rule's days; None: never locks.
        A ledger has no due date: the records dated in a month lock the ledger rule's days after it ends."""
        rule = self.rules.get(sheet.cadence)
        due = period.end if sheet.is_ledger else self.due_on(sheet, period)
        if rule is None or rule.lock_days_after_due is None or due is None:
            return None
        days = rule.lock_days_after_due
        # a date the calendar cannot count to (an old exception on 9999-12-31) locks never rather than failing
        if (dt.date.max - due).days <= days:
            return None
        return due + dt.timedelta(days=days), days


_CALENDARS: dict[tuple[int, int], DueCalendar] = {}


def sheet_calendar(sheet: Sheet) -> DueCalendar:
    """The calendar of one sheet (its exceptions for every period), from the process's copy for the catalogue
    generation in force, or the one `active_sheet` read the sheet at earlier in the same request: a change to
    the rules or exceptions moves the generation on (migration 0036). Read-only: every request shares it."""
    generation = getattr(sheet, "read_at_generation", None)
    if generation is None:
        generation = catalogue_generation()
    if generation is None:
        return DueCalendar([sheet], None)
    key = (generation, sheet.pk)
    found = _CALENDARS.get(key)
    if found is None:
        found = DueCalendar([sheet], None)
        if len(_CALENDARS) >= 256:
            _CALENDARS.clear()
        _CALENDARS[key] = found
    return found


def due_date(sheet: Sheet, period: Period) -> dt.date | None:
    return sheet_calendar(sheet).due_on(sheet, period)


def period_closed(
    *,
    sheet: Sheet,
    period: Period,
    today: dt.date,
    unit: Unit | None = None,
    source: Department | None = None,
    first: bool = True,
    calendar: DueCalendar | None = None,
) -> Problem | None:
    """Why `period` of a periodic `sheet` takes no new version from `unit` (or the register of `source`) on
    `today`, or None when it does: the one rule for the form, the Excel upload, the unit API, the DHIS2 face
    and register supplies. A first filing waits until the period opens (the cadence's lead before it begins);
    after the lock day anything new needs the office's unlock for that unit (or source), sheet and period."""
    calendar = calendar or sheet_calendar(sheet)
    opens = calendar.opens_on(sheet, period)
    if first and today < opens:
        return Problem(
            field="period", rule="period.not_open", params={"why": "not_begun", "period": period, "start": opens}
        )
    lock = calendar.locks_after(sheet, period)
    if lock is None or not _locked(lock, today):
        return None
    holder = {"unit": unit} if unit is not None else {"source": source}
    if Unlock.objects.holding(today).filter(sheet=sheet, period=str(period), **holder).exists():
        return None
    why = ("record_" if sheet.is_ledger else "") + ("unit" if unit is not None else "source")
    params = {
        "why": why,
        "period": period,
        "locked": lock[0],
        "locked_from": lock[0] + dt.timedelta(days=1),  # the messages name the first day locked
        "days": lock[1],
    }
    return Problem(field="period", rule="period.locked", params=params)


@dataclass
class DueItem:
    sheet: Sheet
    period: Period
    due_on: dt.date | None
    field_count: int
    department_count: int
    status: str  # not_started, draft, submitted, corrected
    submission_id: int | None = None
    past_due: bool = False  # not submitted and its due date has gone by: said plainly, never counted or ranked
    locked: bool = False  # past the lock day and not unlocked for this unit: filing it needs the office


def due_items(*, unit: Unit, today: dt.date | None = None) -> list[DueItem]:
    """What the unit is asked for now: for each periodic sheet, the previous and the current period."""
    today = today or timezone.localdate()
    claims = Claims(unit)
    sheets = [s for s in Sheet.objects.filter(pk__in=claims.by_sheet.keys()).order_by("order") if not s.is_ledger]
    leads = {r.cadence: r.lead_days for r in DueRule.objects.all()}
    candidates = []
    for sheet in sheets:
        current = Period.containing(today, sheet.period_type)
        coming = current.next()  # open already when the cadence's lead reaches it
        opened = coming.start - dt.timedelta(days=leads.get(sheet.cadence, 0)) <= today
        for period in (current.previous(), current, *([coming] if opened else [])):
            needed = claims.departments_by_field(sheet, period.start)
            if needed:
                candidates.append((sheet, period, needed))
    if not candidates:
        return []
    unlocked = set(Unlock.objects.holding(today).filter(unit=unit).values_list("sheet_id", "period"))
    submitted = {
        (s.sheet_id, s.period): s
        for s in Submission.objects.by_units().filter(
            unit=unit, record_key__isnull=True, period__in={str(p) for _, p, _ in candidates}
        )
    }
    drafts = set(unit.drafts.filter(period__in={str(p) for _, p, _ in candidates}).values_list("sheet_id", "period"))
    calendar = DueCalendar(sheets, {str(p) for _, p, _ in candidates})
    items = []
    for sheet, period, needed in candidates:
        key = (sheet.pk, str(period))
        submission = submitted.get(key)
        status = (
            ("corrected" if submission.is_corrected else "submitted")
            if submission
            else ("draft" if key in drafts else "not_started")
        )
        departments = set().union(*needed.values())
        due_on = calendar.due_on(sheet, period)
        items.append(
            DueItem(
                sheet,
                period,
                due_on,
                len(needed),
                len(departments),
                status,
                submission.pk if submission else None,
                past_due=submission is None and due_on is not None and due_on < today,
                locked=_locked(calendar.locks_after(sheet, period), today) and key not in unlocked,
            )
        )
    return items


def _locked(lock: tuple[dt.date, int] | None, today: dt.date) -> bool:
    return lock is not None and today > lock[0]


def ledger_sheets(*, unit: Unit, today: dt.date | None = None) -> list[Sheet]:
    """Ledger sheets some subscription needs from this unit now."""
    today = today or timezone.localdate()
    claims = Claims(unit)
    sheets = Sheet.objects.filter(pk__in=claims.by_sheet.keys(), cadence=Cadence.LEDGER).order_by("order")
    return [s for s in sheets if claims.departments_by_field(s, today)]
