"""What a DHIS2 client may see: the caller's data sets (sheets), data elements (fields) and organisation units
(areas), in DHIS2's JSON shape, and its data values. A department sees the fields it is entitled to read or is
the source of, and its jurisdiction; a unit sees the fields its one tables ask now, and its own area. Values are
read for a department through `reads.data.rows` (the same minimisation and access records as every other read),
for a unit from its own filings."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import prefetch_related_objects
from django.utils import timezone

from core.models import LEVEL_DEPTH, Area, Department, Unit
from core.replica import reader, replica_stream
from reporting.catalogue.periods import Period
from reporting.dhis2.formats import OutValue
from reporting.filing.onetable import build_one_table
from reporting.models import Field, Sheet, Status, Submission, SubmissionVersion
from reporting.reads.data import Query, Row, entitled_fields
from reporting.reads.exports import read_ahead, recorded

PERIOD_TYPES = {"monthly": "Monthly", "quarterly": "Quarterly", "yearly": "Yearly"}


@dataclass
class Caller:
    """Who asks: a department or a unit (exactly one)."""

    department: Department | None
    unit: Unit | None

    def fields(self) -> list[Field]:
        """The periodic fields the caller may read or send, in catalogue order."""
        if self.department is not None:
            read = entitled_fields(self.department)
            supplied = Field.objects.filter(source=self.department).select_related("sheet")
            chosen = {f.pk: f for f in [*read, *supplied]}
        else:
            assert self.unit is not None
            chosen = {}
            today = timezone.localdate()
            sheets = Sheet.objects.filter(status=Status.ACTIVE, unit_levels__contains=[self.unit.area.level])
            for sheet in sheets:
                if sheet.is_ledger:
                    continue
                table = build_one_table(
                    unit=self.unit, sheet=sheet, period=Period.containing(today, sheet.period_type), carry=False
                )
                chosen |= {entry.field.pk: entry.field for entry in table.fields}
        fields = [f for f in chosen.values() if not f.sheet.is_ledger]
        prefetch_related_objects(fields, "source")  # each element names its source: one statement for all
        return sorted(fields, key=lambda f: (f.sheet.order, f.sheet.code, f.order, f.code))

    def areas(self):
        if self.department is not None:
            return Area.objects.subtree(self.department.jurisdiction).order_by("path")
        assert self.unit is not None
        return Area.objects.filter(pk=self.unit.area_id)

    def roots(self) -> list[Area]:
        return [self.department.jurisdiction if self.department else self.unit.area]  # type: ignore[union-attr]


def data_element(f: Field) -> dict[str, Any]:
    t = f.field_type
    item: dict[str, Any] = {
        "id": f.code,
        "code": f.code,
        "name": f.name_zh,
        "shortName": f.name_zh[:50],
        "displayName": f.name_zh,
        "displayFormName": f.name_zh,
        "formName": f.name_en,
        "description": f.description,
        "valueType": t.to_dhis2_value_type(f.constraints),
        "domainType": "AGGREGATE",
        "aggregationType": "SUM" if t.is_numeric else "NONE",
        "zeroIsSignificant": True,
        "categoryCombo": {"id": "default"},
        "dataSetElements": [{"dataSet": {"id": f.sheet.code}, "dataElement": {"id": f.code}}],
        "source": f.source.code if f.source_id and f.source else None,
    }
    options = t.dhis2_options(f.constraints)
    if options is not None:
        item["optionSetValue"] = True
        item["optionSet"] = {"id": f"{f.code}_options", "code": f"{f.code}_options", "options": options}
    else:
        item["optionSetValue"] = False
    return item


def data_sets(fields: list[Field]) -> list[dict[str, Any]]:
    sheets: dict[str, dict[str, Any]] = {}
    for f in fields:
        sheet = f.sheet
        item = sheets.setdefault(
            sheet.code,
            {
                "id": sheet.code,
                "code": sheet.code,
                "name": sheet.name_zh,
                "shortName": sheet.name_zh[:50],
                "displayName": sheet.name_zh,
                "description": sheet.description,
                "periodType": PERIOD_TYPES[sheet.cadence],
                "categoryCombo": {"id": "default"},
                "dataSetElements": [],
            },
        )
        item["dataSetElements"].append({"dataSet": {"id": sheet.code}, "dataElement": {"id": f.code}})
    return list(sheets.values())


def org_unit(area: Area) -> dict[str, Any]:
    codes = [c for c in area.path.split("/") if c]
    item: dict[str, Any] = {
        "id": area.code,
        "code": area.code,
        "name": area.name,
        "shortName": area.name[:50],
        "displayName": area.name,
        "level": LEVEL_DEPTH[area.level] + 1,
        "path": "/" + "/".join(codes),
    }
    if len(codes) > 1:
        item["parent"] = {"id": codes[-2]}
    return item


def department_values(department: Department, sheet: Sheet, fields: dict[str, Field], **kw: Any) -> Iterator[OutValue]:
    """The department's entitled values of a sheet, read on the replica (their access records on the primary)."""
    return replica_stream(lambda: _department_values(department, sheet, fields, **kw))


def _department_values(
    department: Department,
    sheet: Sheet,
    fields: dict[str, Field],
    *,
    periods: list[Period] | None,
    first: Period | None,
    last: Period | None,
    area: Area,
    children: bool,
) -> Iterator[OutValue]:
    """The department's entitled values of a sheet (`reads.data.rows`, each read recorded for the unit)."""
    query = Query(
        department=department,
        sheet=sheet,
        fields=sorted(fields),
        period_from=str(first) if first else None,
        period_to=str(last) if last else None,
        area=area,
    )
    wanted = {str(p) for p in periods} if periods is not None else None
    sources = {f.source_id for f in fields.values() if f.source_id is not None}
    codes = dict(Department.objects.filter(pk__in=sources).values_list("pk", "code")) if sources else {}
    rows = recorded(query, _kept(read_ahead(query), wanted, None if children else area.code))
    for batch in itertools.batched(rows, _BATCH):
        changed = _changed_at(sheet, [(r.unit_id, r.period) for r in batch], list(fields))
        for row in batch:
            for code, value in row.values.items():
                f = fields[code]
                stored_by, at = _filer(row, code, codes, changed)
                yield OutValue(
                    sheet.code,
                    code,
                    row.period,
                    row.unit_code,
                    f.field_type.to_dhis2(value),
                    f.field_type.is_numeric,
                    stored_by=stored_by,
                    last_updated=at,
                )


_BATCH = 500  # rows whose values' times of change are looked up in one statement

# When each current value of a filing or a supply last changed: the time of the first version of the run of its
# latest versions that hold it unchanged. A later version that changed another field (a dispute answered, one
# value corrected, a register value confirmed or disputed by the unit) leaves it where it was, as DHIS2 keeps
# the lastUpdated of a value an import left unchanged.
_CHANGED_SQL = """
WITH current AS (
  SELECT p.id, p.unit_id, p.period, p.source_id, p.period_start, kv.key, kv.value
  FROM unnest(%(units)s::bigint[], %(periods)s::text[]) AS w(unit_id, period)
  JOIN reporting_submission p ON p.unit_id = w.unit_id AND p.period = w.period
  JOIN reporting_submissionversion v ON v.submission_id = p.id AND v.number = p.current_version
      AND v.period_start = p.period_start
  CROSS JOIN LATERAL jsonb_each(v."values") kv
  WHERE p.sheet_id = %(sheet)s AND p.record_key IS NULL AND kv.key = ANY(%(codes)s::text[])
)
SELECT c.unit_id, c.period, c.source_id, c.key, (
  SELECT min(o.at) FROM reporting_submissionversion o
  WHERE o.submission_id = c.id AND o.period_start = c.period_start AND o.number > coalesce((
    SELECT max(d.number) FROM reporting_submissionversion d
    WHERE d.submission_id = c.id AND d.period_start = c.period_start AND d."values" -> c.key IS DISTINCT FROM c.value
  ), 0))
FROM current c
"""

_Changed = dict[tuple[int, str, int | None, str], dt.datetime]


def _changed_at(sheet: Sheet, places: Iterable[tuple[int, str]], codes: list[str]) -> _Changed:
    """When each value of these (unit, period) filings and supplies last changed, by (unit, period, source or
    None for the unit's own filing, field code)."""
    unique = sorted(set(places))
    if not unique:
        return {}
    with reader().cursor() as cursor:
        params: dict[str, Any] = {
            "units": [u for u, _ in unique],
            "periods": [p for _, p in unique],
            "sheet": sheet.pk,
            "codes": codes,
        }
        cursor.execute(_CHANGED_SQL, params)
        return {(unit, period, source, code): at for unit, period, source, code, at in cursor.fetchall()}


def _filer(row: Row, code: str, departments: dict[int, str], changed: _Changed) -> tuple[str, dt.datetime | None]:
    """Who stored a value and when it last changed: the source department's code for a register value (the unit's
    filing that confirms or disputes it changes nothing of it), else the unit's code. Never a user name, for any
    reader: who typed a value is not the readers' to know (data minimisation)."""
    supplied = row.supplied.get(code)
    if supplied is None:
        return row.unit_code, changed.get((row.unit_id, row.period, None, code), row.filed_at)
    source, at = supplied
    return departments.get(source, ""), changed.get((row.unit_id, row.period, source, code), at)


def _kept(stream, periods: set[str] | None, unit_code: str | None):
    """Rows of the chosen periods (and of the org unit itself, without children) that hold a value (a data value
    set has no "not applicable"), before they are recorded."""
    for row in stream:
        if not row.values:
            continue
        if (periods is None or row.period in periods) and (unit_code is None or row.unit_code == unit_code):
            yield row


def unit_values(unit: Unit, sheet: Sheet, fields: dict[str, Field], **kw: Any) -> Iterator[OutValue]:
    """The unit's own filed values of a sheet (its filings, not the registers'), read on the replica."""
    return replica_stream(lambda: _unit_values(unit, sheet, fields, **kw))


def _unit_values(
    unit: Unit,
    sheet: Sheet,
    fields: dict[str, Field],
    *,
    periods: list[Period] | None,
    first: Period | None,
    last: Period | None,
) -> Iterator[OutValue]:
    """The unit's own filed values of a sheet (its filings, not the registers')."""
    submissions = Submission.objects.by_units().filter(unit=unit, sheet=sheet, record_key__isnull=True)
    if periods is not None:
        submissions = submissions.filter(period__in=[str(p) for p in periods])
    if first is not None:
        submissions = submissions.filter(period_start__gte=first.start)
    if last is not None:
        submissions = submissions.filter(period_start__lte=last.start)
    sources = {f.source_id for f in fields.values() if f.source_id is not None}
    codes = dict(Department.objects.filter(pk__in=sources).values_list("pk", "code")) if sources else {}
    for submission in submissions.order_by("period_start"):
        version = SubmissionVersion.objects.current_of(submission).get()
        changed = _changed_at(sheet, [(unit.pk, submission.period)], list(fields))
        for code, value in version.values.items():
            f = fields.get(code)
            if f is not None:
                # the one rule of storedBy (`_filer`): an organisation's code, never a person's user name
                source = codes.get(f.source_id) if f.source_id is not None and code in version.confirmed else None
                yield OutValue(
                    sheet.code,
                    code,
                    submission.period,
                    unit.area.code,
                    f.field_type.to_dhis2(value),
                    f.field_type.is_numeric,
                    stored_by=source or unit.area.code,
                    last_updated=changed.get((unit.pk, submission.period, None, code), version.at),
                )


__all__ = ["Caller", "data_element", "data_sets", "department_values", "org_unit", "unit_values"]
