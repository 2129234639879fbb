"""Filing: drafts, submissions, corrections and ledger records. Each call is one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.audit import audited, read_only, record
from core.models import Unit, User
from core.rows import insert
from reporting.catalogue.fieldtypes import parse_value
from reporting.catalogue.periods import Period
from reporting.filing.baselines import mark_baseline
from reporting.filing.checks import findings, kept_explanations, read_explanations, settle
from reporting.filing.offline import form_version
from reporting.filing.onetable import OneTable, TableField, filing_table, period_closed
from reporting.models import Dispute, DisputeStatus, Draft, Sheet, Submission, SubmissionVersion
from reporting.rejections import Problem, Problems, blank, period_type_params, storable, too_long, trimmed
from reporting.services.disputes import announce_disputes
from reporting.services.relay import queue_version


class AlreadySubmitted(Exception):
    """The sheet was already submitted for this period: correct it instead."""

    def __init__(self, submission: Submission) -> None:
        self.submission = submission
        self.problem = Problem(field="sheet", rule="already_submitted")
        super().__init__(self.problem.message)


class VersionConflict(Exception):
    """The submission moved on since the client read it (If-Match mismatch)."""

    def __init__(self, current: int) -> None:
        self.current = current
        super().__init__(f"当前版本为 {current} / the current version is {current}")


@dataclass
class Answers:
    """A unit's answers as validated against its one table."""

    values: dict[str, Any]
    not_applicable: dict[str, str]
    carried: list[str]
    asked_count: int
    typed_count: int
    department_count: int
    refills_spared: int
    # answers to register values (decision 2): confirmed as supplied, disputed ({code: {reason, register}}, the
    # unit's own value in `values`), or typed where the register had none (gaps)
    confirmed: list[str] = field(default_factory=list)
    disputed: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    # the warnings filing raised and their explanations (`reporting.filing.checks.settle`)
    explanations: dict[str, dict[str, Any]] = field(default_factory=dict)


@read_only
def check_across(
    table: OneTable,
    answers: Answers,
    explanations: dict[str, Any] | None,
    *,
    ask: bool,
    filed: SubmissionVersion | None = None,
) -> Answers:
    """The sheet's rules and plausibility on the answers: errors (and, when `ask`, unexplained warnings) are
    refused; the warnings and their explanations go with the version. `filed`: the version a correction
    corrects, whose explanations a warning still raised keeps unless a new one is given."""
    given = read_explanations(explanations)
    found = findings(table, answers.values)
    answers.explanations = settle(found, given, ask=ask, kept=kept_explanations(filed.explanations if filed else None))
    return answers


MAX_DISPUTE_REASON = 200
MAX_NA_REASON = 200  # why a field does not apply to the unit: a sentence (the form's input says so)


REASON_PART = {"part": "dispute_reason"}  # marks a problem of the reason, not of the value (Excel's column)
NA_PART = {"part": "na_reason"}  # a problem of a not-applicable reason's text, labelled as such


def _given(reason: Any) -> bool:
    """Whether a dispute's reason was given at all: an empty or blank one is no dispute."""
    return reason is not None and not (isinstance(reason, str) and blank(reason))


def _dispute_reason(code: str, reason: Any) -> str:
    """A dispute's reason as stored, or the Problem naming the field and the rule."""
    if reason is not None and not isinstance(reason, str):
        raise Problem(field=code, rule="text.type", params=REASON_PART)
    reason = trimmed(reason or "")
    if not reason:
        raise Problem(field=code, rule="dispute.reason", params=REASON_PART)
    if not storable(reason):
        raise Problem(field=code, rule="text.character", params=REASON_PART)
    if len(reason) > MAX_DISPUTE_REASON:
        raise Problem(field=code, rule="text.max_length", params={"max_length": MAX_DISPUTE_REASON, **REASON_PART})
    return reason


def _register_moved(entry: TableField, value: Any, disputes: dict[str, Any], seen: dict[str, Any]) -> None:
    """A value the form only pre-filled with the register's value of when the page was opened (`seen`, as the
    input showed it; "" when it had none) is no dispute: when the source has supplied another value since, nothing
    is stored and the cadre is shown the new one to confirm (`register.changed`). A reason given says the cadre
    disputes it."""
    assert entry.register is not None
    code, field_type = entry.code, entry.field.field_type
    shown, now = seen.get(code), field_type.input_value(entry.register.value)
    if not isinstance(shown, str) or shown == now or value is None or _given(disputes.get(code)):
        return
    # shown "": the register had no value then (a gap), so whatever the cadre put there answered no register value
    if shown == "" or field_type.input_value(value) == shown:
        source = entry.register.source.name
        params = {"old": shown or "—", "new": now, "source": source}
        raise Problem(field=code, rule="register.changed", params=params)


def _answer_register(
    entry: TableField, value: Any, disputes: dict[str, Any], answers: Answers, kept: dict[str, Any]
) -> Any:
    """Decision 2: a register field left blank or equal to the register's value confirms it; a different value
    disputes it and needs a reason. A reason given with the register's own value is refused (a dispute is the
    value the unit holds right), unless it is the reason the corrected version already kept (`kept`): the
    register came to agree with the unit, or the unit with the register. Returns the value to store."""
    assert entry.register is not None
    code, register = entry.code, entry.register.value
    if value is None or value == register:
        reason = disputes.get(code)
        if _given(reason) and (not isinstance(reason, str) or trimmed(reason) != kept.get(code)):
            raise Problem(field=code, rule="dispute.value")
        answers.confirmed.append(code)
        return register
    answers.disputed[code] = {"reason": _dispute_reason(code, disputes.get(code)), "register": register}
    return value


@read_only
def validate_answers(
    table: OneTable,
    raw: dict[str, Any],
    not_applicable: dict[str, str],
    disputes: dict[str, Any] | None = None,
    filed: SubmissionVersion | None = None,
    seen: dict[str, Any] | None = None,
) -> Answers:
    """Parse every answer against the table; raise Problems naming each wrong field, or return Answers.
    `filed`: the version a correction answers (its disputes' reasons may come back with it); `seen`: the register
    values the form showed when it was opened (`_register_moved`)."""
    problems: list[Problem] = []
    fields = table.by_code()
    disputes = disputes or {}
    kept = {code: d.get("reason") for code, d in (filed.disputed if filed else {}).items() if isinstance(d, dict)}
    for code in sorted(set(raw) | set(not_applicable) | set(disputes)):
        if code not in fields:  # named as typed: the table has no name for it
            problems.append(Problem(field=code, rule="unknown").labelled(f"“{code}”", f"“{code}”"))
    values: dict[str, Any] = {}
    na: dict[str, str] = {}
    carried: list[str] = []
    refills_spared = 0
    receiving: set[int] = set()  # departments sent something: a field answered with a value or not applicable
    answers = Answers(values, na, carried, len(table.fields), 0, 0, 0)
    for entry in table.fields:
        f = entry.field
        code = f.code
        try:
            if code in not_applicable:
                if not entry.allow_na:
                    raise Problem(field=code, rule="na.forbidden")
                typed = raw.get(code)
                if typed is not None and not (isinstance(typed, str) and blank(typed)):
                    raise Problem(field=code, rule="na.with_value")  # which one was meant: neither is dropped
                reason = not_applicable[code]
                if reason is not None and not isinstance(reason, str):
                    raise Problem(field=code, rule="text.type", params=NA_PART)
                reason = trimmed(reason or "")
                if not storable(reason):
                    raise Problem(field=code, rule="text.character", params=NA_PART)
                if not reason:
                    raise Problem(field=code, rule="na.reason")
                if len(reason) > MAX_NA_REASON:
                    raise Problem(field=code, rule="text.max_length", params={"max_length": MAX_NA_REASON, **NA_PART})
                na[code] = reason
                receiving |= entry.department_ids  # the relay delivers "not applicable" too
                continue
            typed = raw.get(code)
            if entry.register is not None and (typed is None or (isinstance(typed, str) and blank(typed))):
                value = None  # left as it came: confirmed, even where the field is required
            else:
                value = parse_value(f.type, f.constraints, typed, field=code)
            if entry.register is not None:
                _register_moved(entry, value, disputes, seen or {})
                value = _answer_register(entry, value, disputes, answers, kept)
        except Problem as problem:
            if problem.params.get("part") == REASON_PART["part"] and problem.rule != "dispute.reason":
                problems.append(problem.labelled(f"{f.name_zh}（异议理由）", f"{f.name_en} (dispute reason)"))
            elif problem.params.get("part") == NA_PART["part"]:
                problems.append(problem.labelled(f"{f.name_zh}（不适用原因）", f"{f.name_en} (not-applicable reason)"))
            else:
                problems.append(problem.labelled(f.name_zh, f.name_en))
            continue
        if value is not None:
            values[code] = value
            receiving |= entry.department_ids
            # a value typed once instead of once per department; "not applicable" is no value, and spares none
            refills_spared += max(len(entry.department_ids) - 1, 0)
            if entry.register is None:  # else confirmed or disputed above: a carried value never competes
                if entry.carried_from and value == entry.carried:
                    carried.append(code)
                if entry.is_gap:  # typed or carried, the register lacks it: the source is told by `gaps`
                    answers.gaps.append(code)
    if problems:
        raise Problems(problems)
    answers.refills_spared = refills_spared
    # an empty optional answer is not sent: a department whose every field was left empty receives nothing
    answers.department_count = len(receiving)
    answers.typed_count = len(values) - len(carried) - len(answers.confirmed)
    return answers


# The submission, and (for a filing by its unit) the cadre's draft of it deleted in the same statement: it is done
# with, and a first filing is refused before anything else is written if the submission exists already.
_FIRST_SUBMISSION = (
    "INSERT INTO reporting_submission (unit_id, sheet_id, period, period_start, current_version, "
    "created_at, updated_at) VALUES (%(unit)s, %(sheet)s, %(period)s, %(start)s, 1, %(now)s, %(now)s) "
    "ON CONFLICT (unit_id, sheet_id, period) WHERE record_key IS NULL AND source_id IS NULL DO NOTHING "
    "RETURNING id"
)
_DROPPING_DRAFT = (
    f"WITH draft AS (DELETE FROM {Draft._meta.db_table} "
    "WHERE unit_id = %(unit)s AND sheet_id = %(sheet)s AND period = %(period)s) "
)


def _first_submission(unit: Unit, sheet: Sheet, period: Period, *, drop_draft: bool = False) -> Submission:
    """Create the unit's submission for the period; if one exists (or a concurrent first filing commits
    it while this one waits at the INSERT), the filer is told to correct it instead. `drop_draft`: delete
    the unit's draft of it in the same statement (the caller's transaction undoes both if it fails)."""
    now = timezone.now()
    params: dict[str, Any] = dict(unit=unit.pk, sheet=sheet.pk, period=str(period), start=period.start, now=now)
    with connection.cursor() as cursor:
        cursor.execute((_DROPPING_DRAFT if drop_draft else "") + _FIRST_SUBMISSION, params)
        inserted = cursor.fetchone()
    if inserted is None:
        raise AlreadySubmitted(
            Submission.objects.by_units().get(unit=unit, sheet=sheet, period=str(period), record_key__isnull=True)
        )
    return Submission(
        pk=inserted[0],
        unit=unit,
        sheet=sheet,
        period=str(period),
        period_start=period.start,
        current_version=1,
        created_at=now,
        updated_at=now,
    )


def _new_version(
    submission: Submission, number: int, answers: Answers, by: User, reason: str = ""
) -> SubmissionVersion:
    return insert(
        SubmissionVersion(
            submission=submission,
            number=number,
            period_start=submission.period_start,  # a ledger correction has set the record's new date by now
            values=answers.values,
            not_applicable=answers.not_applicable,
            carried=answers.carried,
            confirmed=answers.confirmed,
            disputed=answers.disputed,
            gaps=answers.gaps,
            explanations=answers.explanations,
            reason=reason,
            by=by,
            asked_count=answers.asked_count,
            typed_count=answers.typed_count,
            carried_count=len(answers.carried),
            na_count=len(answers.not_applicable),
            confirmed_count=len(answers.confirmed),
            disputed_count=len(answers.disputed),
            department_count=answers.department_count,
            refills_spared=answers.refills_spared,
        )
    )


def _open_disputes(table: OneTable, version: SubmissionVersion, by: User) -> list[Dispute]:
    """Open a dispute for each register value this version disputes, or update the one still open on that supply
    and field (a later filing disputing it again): the source answers the unit's latest value and reason. A
    dispute still open on a value this version confirms is withdrawn: the unit agrees with the register now."""
    if version.confirmed:
        _withdraw_disputes(version, by)
    if not version.disputed:
        return []
    entries = table.by_code()
    opened = []
    for code, disputed in version.disputed.items():
        entry = entries[code]
        register = entry.register
        assert register is not None
        dispute, created = Dispute.objects.update_or_create(
            supply_id=register.supply_id,
            field_id=entry.field.pk,
            status=DisputeStatus.OPEN,
            defaults={
                "submission_id": version.submission_id,
                "version": version,
                "supply_version_id": register.version_id,
                "register_value": disputed["register"],
                "unit_value": version.values[code],
                "reason": disputed["reason"],
            },
            create_defaults={
                "unit": table.unit,
                "source_id": register.source.pk,
                "sheet": table.sheet,
                "period": str(table.period),
                "submission_id": version.submission_id,
                "version": version,
                "supply_version_id": register.version_id,
                "register_value": disputed["register"],
                "unit_value": version.values[code],
                "reason": disputed["reason"],
            },
        )
        record(action="dispute.opened" if created else "dispute.updated", target=dispute, actor=by, field=code)
        opened.append(dispute)
    announce_disputes(opened)  # the source is told (again) of the unit's latest value and reason
    return opened


def _withdraw_disputes(version: SubmissionVersion, by: User) -> None:
    withdrawn = Dispute.objects.select_for_update().filter(
        submission_id=version.submission_id, field__code__in=version.confirmed, status=DisputeStatus.OPEN
    )
    for dispute in withdrawn.select_related("field"):
        dispute.status, dispute.answered_at = DisputeStatus.WITHDRAWN, timezone.now()
        dispute.save(update_fields=["status", "answered_at"])
        record(action="dispute.withdrawn", target=dispute, actor=by, field=dispute.field.code, version=version.number)


@audited("draft.saved")
@transaction.atomic
def save_draft(*, unit: Unit, sheet: Sheet, period: Period, raw: dict[str, Any], by: User) -> Draft:
    """Keep what the cadre typed so far, valid or not; it is never delivered."""
    draft, _ = Draft.objects.update_or_create(unit=unit, sheet=sheet, period=str(period), defaults={"raw": raw})
    record(action="draft.saved", target=draft, actor=by, sheet=sheet.code, period=str(period))
    return draft


@audited("submission.submitted")
@transaction.atomic
def submit_sheet(
    *,
    unit: Unit,
    sheet: Sheet,
    period: Period,
    raw: dict[str, Any],
    not_applicable: dict[str, str],
    by: User,
    disputes: dict[str, Any] | None = None,
    explanations: dict[str, Any] | None = None,
    ask_explanations: bool = False,
    filled_on: str | None = None,
    seen: dict[str, Any] | None = None,
) -> SubmissionVersion:
    """Store version 1 of a unit's sheet for a period that is open to it; refuse a second first submission.
    `ask_explanations` (the form): a warning without an explanation is refused like an error, so the cadre
    is asked for one; elsewhere it is stored with an empty explanation. `filled_on`: the version of the form
    the values were typed on (offline filing); a form changed since refuses them (`form.changed`)."""
    if sheet.is_ledger:
        raise Problems([Problem(field="sheet", rule="period.type", params=period_type_params("periodic"))])
    table = filing_table(unit=unit, sheet=sheet, period=period)
    _same_form(table, filled_on)
    answers = validate_answers(table, raw, not_applicable, disputes, seen=seen)
    check_across(table, answers, explanations, ask=ask_explanations)
    submission = _first_submission(unit, sheet, period, drop_draft=True)  # the cadre's draft, if any, is done with
    version = _new_version(submission, 1, answers, by)
    queue_version(version, table)  # wakes the relay task after commit, which folds the baseline's marker too
    mark_baseline(unit_id=unit.pk, sheet_id=sheet.pk, period=str(period), version_id=version.pk)
    _open_disputes(table, version, by)
    record(action="submission.submitted", target=submission, actor=by, version=1)
    return version


def _same_form(table: OneTable, filled_on: str | None) -> None:
    """Refuse values typed on another version of the form than `table`'s (a phone offline meanwhile)."""
    if filled_on is not None and filled_on != form_version(table):
        raise Problems([Problem(field="form", rule="form.changed")])


@audited("record.added")
@transaction.atomic
def add_record(
    *,
    unit: Unit,
    sheet: Sheet,
    raw: dict[str, Any],
    not_applicable: dict[str, str],
    by: User,
    filled_on: str | None = None,
) -> SubmissionVersion:
    """Store a new ledger record; the fields asked are those needed on the record's date. `filled_on`: as for
    `submit_sheet`, the version of the form typed on (offline), refused with `form.changed` when it is not the
    form of the record's date."""
    day, table, answers = record_answers(unit, sheet, raw, not_applicable)
    _same_form(table, filled_on)
    submission = Submission.objects.create(
        unit=unit, sheet=sheet, period=str(table.period), record_key=uuid.uuid4(), record_date=day, period_start=day
    )
    version = _new_version(submission, 1, answers, by)
    queue_version(version, table)
    record(action="record.added", target=submission, actor=by)
    return version


@audited("submission.corrected")
@transaction.atomic
def correct_submission(
    *,
    submission: Submission,
    raw: dict[str, Any],
    not_applicable: dict[str, str],
    reason: str,
    by: User,
    expected_version: int,
    disputes: dict[str, Any] | None = None,
    explanations: dict[str, Any] | None = None,
    ask_explanations: bool = False,
    filled_on: str | None = None,
    seen: dict[str, Any] | None = None,
) -> SubmissionVersion:
    """Store a new version of a submission or ledger record; the old versions stay as they were. `filled_on`:
    as for `submit_sheet` (a correction typed offline on a form changed since is refused, `form.changed`)."""
    locked = Submission.objects.select_for_update().select_related("sheet", "unit__area").get(pk=submission.pk)
    if locked.current_version != expected_version:
        raise VersionConflict(locked.current_version)
    problems = []
    if blank(reason):
        problems.append(Problem(field="reason", rule="required", label_zh="更正原因", label_en="Reason"))
    else:
        limit = SubmissionVersion._meta.get_field("reason").max_length or 0
        problems += too_long(trimmed(reason), limit, field="reason", label_zh="更正原因", label_en="Reason")
    sheet = locked.sheet
    filed = SubmissionVersion.objects.current_of(locked).get()
    try:
        if sheet.is_ledger:
            day, table, answers = record_answers(locked.unit, sheet, raw, not_applicable, filed=filed)
            if str(table.period) != locked.period:  # moved out of its month: that month must be open too
                problems += _month_closed(locked, sheet)
            if day != locked.period_start:  # its older versions stay under the day they were filed with
                locked.earlier_starts = sorted({*(locked.earlier_starts or []), locked.period_start})
            locked.record_date, locked.period, locked.period_start = day, str(table.period), day
            _same_form(table, filled_on)
        else:
            table = filing_table(unit=locked.unit, sheet=sheet, period=Period.parse(locked.period), filed=filed)
            _same_form(table, filled_on)
            answers = validate_answers(table, raw, not_applicable, disputes, filed, seen=seen)
            check_across(table, answers, explanations, ask=ask_explanations, filed=filed)
        if _unchanged(answers, filed):
            problems.append(Problem(field="correction", rule="correction.unchanged"))
    except Problems as error:
        problems += error.problems
    if problems:
        raise Problems(problems)
    locked.current_version += 1
    locked.save(
        update_fields=["current_version", "record_date", "period", "period_start", "earlier_starts", "updated_at"]
    )
    version = _new_version(locked, locked.current_version, answers, by, trimmed(reason))
    if not sheet.is_ledger:  # a ledger record is not a period's history
        mark_baseline(unit_id=locked.unit_id, sheet_id=sheet.pk, period=locked.period, version_id=version.pk)
    queue_version(version, table)
    _open_disputes(table, version, by)
    record(action="submission.corrected", target=locked, actor=by, version=locked.current_version)
    submission.current_version = locked.current_version
    return version


def _unchanged(answers: Answers, filed: SubmissionVersion) -> bool:
    """Whether a correction holds what the version it corrects holds: the same values, not-applicable answers and
    reasons, confirmations, disputes (value, reason and register value) and explanations of warnings. Its reason
    alone is no change: a new version of it would be sent to every department for nothing."""

    return (
        answers.values == filed.values
        and answers.not_applicable == filed.not_applicable
        and sorted(answers.confirmed) == sorted(filed.confirmed)
        and answers.disputed == filed.disputed
        and kept_explanations(answers.explanations) == kept_explanations(filed.explanations)
    )


def _month_closed(record: Submission, sheet: Sheet) -> list[Problem]:
    """The lock of the month a ledger record was dated in, named on its date field, if it is locked."""
    period = Period.parse(record.period)
    closed = period_closed(sheet=sheet, period=period, today=timezone.localdate(), unit=record.unit, first=False)
    return [] if closed is None else [Problem(field=sheet.record_date_field, rule=closed.rule, params=closed.params)]


@read_only
def record_answers(
    unit: Unit,
    sheet: Sheet,
    raw: dict[str, Any],
    not_applicable: dict[str, str],
    filed: SubmissionVersion | None = None,
) -> tuple[dt.date, OneTable, Answers]:
    """A ledger record's date, the table of that date and the answers checked on it, or every problem at once:
    when the date is wrong or not open, the other answers are still checked, on today's table (the one the
    form shows), so that a bad date hides nothing else."""
    problems: list[Problem] = []
    day = table = None
    try:
        day = _record_date(sheet, raw)
        table = filing_table(unit=unit, sheet=sheet, day=day, filed=filed, carry=False)
    except Problems as error:  # the date's own rules, and whether it can be filed: named by the date's label
        date_field = sheet.fields.get(code=sheet.record_date_field)
        problems += [
            p.labelled(date_field.name_zh, date_field.name_en) if p.field == date_field.code and not p.label_zh else p
            for p in error.problems
        ]
    checked_on = table
    if checked_on is None:
        try:
            checked_on = filing_table(unit=unit, sheet=sheet, day=timezone.localdate(), filed=filed, carry=False)
        except Problems:
            raise Problems(problems) from None
    try:
        answers = validate_answers(checked_on, raw, not_applicable)
    except Problems as error:
        reported = {p.field for p in problems}
        # on today's table a field of the record's own date may look unknown: only its date is known to be wrong
        problems += [
            p for p in error.problems if p.field not in reported and (table is not None or p.rule != "unknown")
        ]
    if problems:
        raise Problems(problems)
    assert day is not None and table is not None  # else one of the problems names the date
    return day, table, answers


def _record_date(sheet: Sheet, raw: dict[str, Any]) -> dt.date:
    date_field = sheet.fields.get(code=sheet.record_date_field)
    try:
        value = date_field.parse(raw.get(date_field.code))
    except Problem as problem:
        raise Problems([problem.labelled(date_field.name_zh, date_field.name_en)]) from None
    if value is None:
        raise Problems(
            [Problem(field=date_field.code, rule="required").labelled(date_field.name_zh, date_field.name_en)]
        )
    return dt.date.fromisoformat(value)
