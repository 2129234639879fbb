"""Data value sets posted to the DHIS2 face: a source department's become a supply (`supply_values`), a unit's
become its own filing (`submit_sheet`, or `correct_submission` with the values merged into its current version).

Every value is checked and each refused one named as a DHIS2 conflict (the value, the rule, in Chinese and
English). `atomic`: nothing is stored when any value is refused. `dry_run`: the import runs and is rolled
back, so its counts are what it would have done. A unit's values are filed per sheet and period, each filing
all or nothing (one filing is one version): with `atomic` off, a refused filing leaves the others stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from core.audit import read_only, unaudited
from core.models import Department, Unit, User
from reporting.catalogue.periods import Period, PeriodError
from reporting.dhis2.formats import DataValue, iter_adx, iter_csv, read_json
from reporting.filing.onetable import filing_table
from reporting.models import Field, Submission, SubmissionVersion
from reporting.rejections import Problem, Problems, period_type_params
from reporting.services.submissions import correct_submission, submit_sheet
from reporting.services.supplies import SUPPLY_FORMATS, SupplyRow, supply_values

# a conflict's DHIS2 property and error code, by the Problem's field
_PROPERTY = {"field": "dataElement", "unit": "orgUnit", "period": "period", "value": "value"}
_ERROR_CODE = {
    "dataElement": "E7610",
    "period": "E7611",
    "orgUnit": "E7612",
    "categoryOptionCombo": "E7614",
    "attributeOptionCombo": "E7615",
    "value": "E7619",
}
IMPORT_REASON = "DHIS2 数据值集导入 / DHIS2 data value set import"


@dataclass
class Conflict:
    value: DataValue | None
    problem: Problem

    def as_dict(self) -> dict[str, Any]:
        p = self.problem
        prop = _PROPERTY.get(p.field, p.field if p.field in _ERROR_CODE else "value")
        dv = self.value
        if dv is None:  # a rule of the filing as a whole (a required field missing): it names the field
            prop, obj = "dataElement", p.field
        else:
            obj = {
                "dataElement": dv.data_element,
                "orgUnit": dv.org_unit,
                "period": dv.period,
                "categoryOptionCombo": dv.category_option_combo,
                "attributeOptionCombo": dv.attribute_option_combo,
                "value": "" if dv.value is None else str(dv.value)[:200],
            }.get(prop, p.field)
        return {
            "object": obj,
            "objects": {prop: obj},
            "value": p.message,
            "errorCode": _ERROR_CODE.get(prop, "E7619"),
            "property": prop,
            "indexes": [dv.index] if dv else [],
            "rule": p.rule,
            "message_zh": p.message_zh,
            "message_en": p.message_en,
        }


@read_only
def job_conflict(item: dict[str, Any]) -> dict[str, Any]:
    """A supply job's refused row (`RowProblem.as_dict`) as a DHIS2 conflict."""
    row = str(item.get("row", ""))
    index = int(row[len("dataValues[") : -1]) if row.startswith("dataValues[") and row[-1:] == "]" else None
    prop = _PROPERTY.get(str(item.get("field", "")), "value")
    return {
        "object": row,
        "objects": {prop: row},
        "value": f"{item.get('message_zh', '')} / {item.get('message_en', '')}",
        "errorCode": _ERROR_CODE.get(prop, "E7619"),
        "property": prop,
        "indexes": [index] if index is not None else [],
        "rule": item.get("code", ""),
        "message_zh": item.get("message_zh", ""),
        "message_en": item.get("message_en", ""),
    }


@dataclass
class ImportOutcome:
    imported: int = 0
    updated: int = 0
    ignored: int = 0
    deleted: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    stored: bool = False
    # warnings of the filings stored (a rule, or a value implausible for the unit): never a refusal
    warnings: list[dict[str, Any]] = field(default_factory=list)


@unaudited("its values are stored by supply_values, submit_sheet or correct_submission, each audited")
def import_data_values(
    *,
    user: User,
    department: Department | None,
    unit: Unit | None,
    values: list[DataValue],
    delete: bool = False,
    atomic: bool = True,
    dry_run: bool = False,
) -> ImportOutcome:
    """Import a data value set for a source department (a supply) or a unit (its own filing)."""
    values = list(annotated(values))
    early = [Conflict(v, p) for v in values if (p := v.disaggregation()) is not None]
    refused = {c.value.index for c in early if c.value}
    good = [v for v in values if v.index not in refused]
    if department is not None:
        outcome = _supply(department, user, good, delete, atomic=atomic, dry_run=dry_run or bool(early and atomic))
    else:
        assert unit is not None
        outcome = _file(unit, user, good, delete, atomic=atomic, dry_run=dry_run, refuse_all=bool(early and atomic))
    outcome.conflicts = early + outcome.conflicts
    outcome.ignored += len(early)
    if outcome.conflicts and atomic:
        outcome.imported = outcome.updated = outcome.deleted = 0
        outcome.ignored = len(values)
        outcome.stored = False
    return outcome


@read_only
def annotated(values: Iterable[DataValue]) -> Iterator[DataValue]:
    """Each value with its ADX annotation placed by its field's type (the registry's `is_numeric`): a comment on
    a number, the value of anything else. A code that names no field keeps its `value` for the checks to name."""
    numeric: dict[str, bool] = {}
    for v in values:
        if v.annotation is not None:
            if v.data_element not in numeric:
                f = Field.objects.filter(code=v.data_element).first()
                numeric[v.data_element] = f is None or f.field_type.is_numeric
            v.annotated(numeric=numeric[v.data_element])
        yield v


def _supply(
    department: Department, user: User, values: list[DataValue], delete: bool, *, atomic: bool, dry_run: bool
) -> ImportOutcome:
    by_row = {v.row: v for v in values}
    rows = [
        SupplyRow(
            row=v.row,
            unit=v.org_unit,
            period=v.period,
            field=v.data_element,
            value=v.value,
            delete=delete or v.deleted,
        )
        for v in values
    ]
    result = supply_values(department=department, rows=rows, by=user, atomic=atomic, dry_run=dry_run)
    return ImportOutcome(
        imported=result.imported,
        updated=result.updated,
        ignored=result.ignored + result.refused,
        deleted=result.deleted,
        conflicts=[Conflict(by_row.get(c.row), c.problem) for c in result.conflicts],
        stored=result.stored,
    )


def _file(
    unit: Unit, user: User, values: list[DataValue], delete: bool, *, atomic: bool, dry_run: bool, refuse_all: bool
) -> ImportOutcome:
    outcome = ImportOutcome()
    fields = {
        f.code: f for f in Field.objects.select_related("sheet").filter(code__in={v.data_element for v in values})
    }
    groups: dict[tuple[int, str], list[tuple[DataValue, Field]]] = {}
    for v in values:
        problem = _check(unit, v, fields.get(v.data_element))
        if problem is not None:
            outcome.conflicts.append(Conflict(v, problem))
            outcome.ignored += 1
            continue
        f = fields[v.data_element]
        groups.setdefault((f.sheet_id, v.period), []).append((v, f))
    with transaction.atomic():
        for (_sheet, period), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
            try:
                with transaction.atomic():
                    _file_group(unit, user, Period.parse(period, strict=True), group, delete, outcome)
            except Problems as error:
                outcome.ignored += len(group)
                outcome.conflicts += _group_conflicts(group, error.problems)
        if dry_run or refuse_all or (atomic and outcome.conflicts):
            transaction.set_rollback(True)
        else:
            outcome.stored = outcome.imported + outcome.updated + outcome.deleted > 0
    return outcome


def _check(unit: Unit, v: DataValue, f: Field | None) -> Problem | None:
    if v.org_unit != unit.area.code:
        return Problem(field="unit", rule="dhis2.unknown_org_unit", params={"code": v.org_unit[:40]})
    if f is None or f.sheet.is_ledger or unit.area.level not in f.sheet.unit_levels:
        return Problem(field="field", rule="dhis2.not_asked", params={"code": v.data_element[:40]})
    try:
        period = Period.parse(v.period, strict=True)
    except PeriodError as problem:
        return problem
    if period.type != f.sheet.period_type:
        return Problem(field="period", rule="period.type", params=period_type_params(f.sheet.cadence))
    return None


def _registered(unit: Unit, sheet, period: Period, deleted: list[Field]) -> dict[str, str]:
    """The fields among `deleted` whose source supplied a value for the unit and period, with the source's name."""
    if not any(f.source_id is not None for f in deleted):
        return {}
    entries = filing_table(unit=unit, sheet=sheet, period=period).by_code()
    codes = {f.code for f in deleted}
    return {code: e.register.source.name for code, e in entries.items() if code in codes and e.register is not None}


def _file_group(
    unit: Unit, user: User, period: Period, group: list[tuple[DataValue, Field]], delete: bool, outcome: ImportOutcome
) -> None:
    """File one sheet and period: the first filing, or a correction merging the values into the current one."""
    sheet = group[0][1].sheet
    submission = (
        Submission.objects.by_units()
        .filter(unit=unit, sheet=sheet, period=str(period), record_key__isnull=True)
        .first()
    )
    current = SubmissionVersion.objects.current_of(submission).get() if submission else None
    old = dict(current.values) if current else {}
    na = dict(current.not_applicable) if current else {}
    new = dict(old)
    # a register value the unit disputes keeps its reason; a value's DHIS2 comment is its reason when it differs
    disputes = {code: d["reason"] for code, d in (current.disputed if current else {}).items()}
    # any other value's comment explains a warning on it (one explained before stays so: `correct_submission`)
    explanations: dict[str, str] = {}
    counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
    refused: list[Problem] = []
    seen: dict[str, Any] = {}
    registered = _registered(unit, sheet, period, [f for v, f in group if delete or v.deleted or v.value in (None, "")])
    for v, f in group:
        if f.code in seen:
            if seen[f.code] != v.value:
                refused.append(Problem(field=f.code, rule="source.duplicate", params={"first": seen[f.code]}))
            counts["ignored"] += 1
            continue
        seen[f.code] = v.value
        if delete or v.deleted or v.value in (None, ""):
            if f.code in registered:  # the register's value is not the unit's to withdraw: it disputes it
                problem = Problem(field=f.code, rule="register.delete", params={"source": registered[f.code]})
                refused.append(problem.labelled(f.name_zh, f.name_en))
            elif f.code in new:
                del new[f.code]
                counts["deleted"] += 1
            else:
                counts["ignored"] += 1
            continue
        na.pop(f.code, None)
        try:
            same = f.code in old and f.parse(v.value) == old[f.code]
        except Problem:
            same = False  # the filing below names what is wrong with it
        if same:
            counts["ignored"] += 1
            continue
        counts["updated" if f.code in old else "imported"] += 1
        new[f.code] = v.value
        if f.source_id is not None and v.comment:
            disputes[f.code] = v.comment
        elif v.comment:
            explanations[f.code] = v.comment
    if refused:
        raise Problems(refused)
    if new == old and submission is not None:
        outcome.ignored += len(group)
        return
    if submission is None:
        version = submit_sheet(
            unit=unit,
            sheet=sheet,
            period=period,
            raw=new,
            not_applicable=na,
            by=user,
            disputes=disputes,
            explanations=explanations,
        )
    else:
        version = correct_submission(
            submission=submission,
            raw=new,
            not_applicable=na,
            reason=IMPORT_REASON,
            by=user,
            expected_version=submission.current_version,
            disputes=disputes,
            explanations=explanations,
        )
    by_code = {f.code: v for v, f in group}
    outcome.warnings += [_warning(key, w, by_code) for key, w in version.explanations.items()]
    for key, count in counts.items():
        setattr(outcome, key, getattr(outcome, key) + count)


def _warning(key: str, warning: dict[str, Any], by_code: dict[str, DataValue]) -> dict[str, Any]:
    """A warning in the import summary, shaped like a conflict (DHIS2 clients read `conflicts`) but refusing
    nothing: its value was stored, and `explained` says whether a comment already explains it."""
    kind, code = key.split(":", 1)
    prop = "validationRule" if kind == "rule" else "dataElement"
    indexes = sorted(by_code[f].index for f in warning["fields"] if f in by_code)
    return {
        "object": code,
        "objects": {prop: code},
        "value": f"{warning['message_zh']} / {warning['message_en']}",
        "errorCode": "W7600" if kind == "rule" else "W7601",
        "property": prop,
        "indexes": indexes,
        "rule": key,
        "message_zh": warning["message_zh"],
        "message_en": warning["message_en"],
        "warning": True,
        "explained": bool(warning.get("text")),
    }


def _group_conflicts(group: list[tuple[DataValue, Field]], problems: list[Problem]) -> list[Conflict]:
    """Each problem of a refused filing beside the value it names (the filing's other rules, such as a required
    field missing, beside none)."""
    by_code = {f.code: v for v, f in group}
    conflicts = []
    for p in problems:
        if p.rule == "period.locked":  # a locked period: a conflict on each of its values
            conflicts += [Conflict(v, p) for v, _f in group]
        else:
            conflicts.append(Conflict(by_code.get(p.field), p))
    return conflicts


# Data value sets posted with `async=true` become supply jobs; each body format registers its reader.
def _rows(values: Iterator[DataValue]) -> Iterator[SupplyRow]:
    for v in values:
        problem = v.disaggregation()
        if problem is not None:  # the view refuses these before queueing; a file written otherwise fails whole
            raise problem
        yield SupplyRow(
            row=v.row, unit=v.org_unit, period=v.period, field=v.data_element, value=v.value, delete=v.deleted
        )


def _json_rows(path: Path) -> Iterator[SupplyRow]:
    with path.open("rb") as body:
        values = read_json(body)
    yield from _rows(iter(values))


def _csv_rows(path: Path) -> Iterator[SupplyRow]:
    with path.open(encoding="utf-8-sig", newline="") as lines:
        yield from _rows(iter_csv(lines))


def _adx_rows(path: Path) -> Iterator[SupplyRow]:
    yield from _rows(annotated(iter_adx(path)))


SUPPLY_FORMATS.update({"dhis2-json": _json_rows, "dhis2-csv": _csv_rows, "adx": _adx_rows})
