"""The office's one calendar: how long after a period each cadence is due, and exceptions for one sheet and period."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audited, record
from core.models import Department, Unit, User
from reporting.catalogue.periods import Period
from reporting.filing.onetable import DueCalendar, sheet_calendar
from reporting.models import Cadence, DueException, DueRule, Sheet, Unlock, UnlockReason
from reporting.rejections import Problem, Problems, period_type_params, too_long, trimmed

LEAD_MAX = 92  # days a period may open before it begins: at most about a quarter
NOTE_MAX = 500  # characters: why the office lifted a lock, in a sentence or two (Unlock.note)
# A due date moves for holidays and the like, by days or weeks: one more than a year after its period ends is a
# mistyped year (9999-12-31), and would put the period's lock beyond any date the calendar can count to.
DUE_AFTER_END_MAX = 365  # days


@audited("calendar.rule_set")
@transaction.atomic
def set_due_rules(
    *,
    days: dict[str, int],
    by: User,
    leads: dict[str, int] | None = None,
    locks: dict[str, int | None] | None = None,
) -> list[DueRule]:
    """Make each named cadence due `days[cadence]` days after its periods end, open `leads[cadence]` days before
    they begin and lock `locks[cadence]` days after the due date (None: never); others keep their rule. A ledger
    has only a lock: its records dated in a month lock `locks["ledger"]` days after that month ends. The rules
    that changed are returned; none changed is refused ("calendar.unchanged")."""
    leads, locks = leads or {}, locks or {}
    problems = [
        Problem(field=f"days_{c}", rule="unknown")
        for c in {*days, *leads, *locks}
        if c not in Cadence.values or (c == Cadence.LEDGER and (c in days or c in leads))
    ]
    problems += [
        Problem(field=f"lead_{c}", rule="calendar.lead", params={"max": LEAD_MAX})
        for c, n in leads.items()
        if not 0 <= n <= LEAD_MAX
    ]
    problems += [
        Problem(field=f"lock_{c}", rule="calendar.lock_before_due") for c, n in locks.items() if n is not None and n < 0
    ]
    problems += [
        Problem(field=f"days_{c}", rule="number.range", params={"min": 0, "max": 365})
        for c, n in days.items()
        if not 0 <= n <= 365
    ]
    known = set(DueRule.objects.values_list("cadence", flat=True)) | set(days) | {Cadence.LEDGER}
    problems += [
        Problem(field=f"lock_{c}", rule="calendar.lock_without_due")
        for c, n in locks.items()
        if n is not None and c not in known
    ]
    if problems:
        raise Problems(problems)
    rules = []
    for cadence in sorted({*days, *leads, *locks}):
        before = DueRule.objects.select_for_update().filter(cadence=cadence).first()
        if before is None and cadence not in days and cadence not in leads and locks.get(cadence) is None:
            continue  # "never locks" for a cadence with no rule: what it already is (the page's empty inputs)
        wanted = {
            "days_after_period_end": days.get(cadence, before.days_after_period_end if before else 0),
            "lead_days": leads.get(cadence, before.lead_days if before else 0),
            "lock_days_after_due": locks[cadence] if cadence in locks else (before and before.lock_days_after_due),
        }
        was = {k: getattr(before, k) for k in wanted} if before else None
        if was != wanted:
            rule, _ = DueRule.objects.update_or_create(cadence=cadence, defaults=wanted)
            record(
                action="calendar.rule_set",
                target=rule,
                actor=by,
                cadence=cadence,
                days=wanted["days_after_period_end"],
                lead=wanted["lead_days"],
                lock=wanted["lock_days_after_due"],
                was=was["days_after_period_end"] if was else None,
                lead_was=was["lead_days"] if was else None,
                lock_was=was["lock_days_after_due"] if was else None,
            )
            rules.append(rule)
    if not rules:  # the form sent back as shown: nothing to store, nothing to audit
        raise Problems([Problem(field="calendar", rule="calendar.unchanged")])
    return rules


@audited("calendar.exception_set")
@transaction.atomic
def set_due_exception(
    *,
    sheet: Sheet | None,
    period: Period | None,
    due_on: dt.date | None,
    reason: str,
    by: User,
    unreadable: list[Problem] | None = None,
) -> DueException:
    """Set the due date of one sheet's period instead of the rule (holidays…), always after the period ends.
    `unreadable`: what the form could not read, refused together with whatever else is wrong."""
    problems = [] if sheet else [Problem(field="sheet", rule="sheet.missing", label_zh="表", label_en="Sheet")]
    problems += unreadable or []
    reason = trimmed(reason or "")
    if not reason:
        problems.append(Problem(field="reason", rule="required", label_zh="原因", label_en="Reason"))
    limit = DueException._meta.get_field("reason").max_length
    if limit is not None and len(reason) > limit:
        problems.append(
            Problem(
                field="reason", rule="text.max_length", params={"max_length": limit}, label_zh="原因", label_en="Reason"
            )
        )
    today = timezone.localdate()
    if sheet and sheet.is_ledger:  # records any time: nothing is due, only a month's records lock
        problems.append(Problem(field="sheet", rule="calendar.ledger", label_zh="表", label_en="Sheet"))
    elif sheet and period and period.type != sheet.period_type:
        problems.append(Problem(field="period", rule="period.type", params=period_type_params(sheet.cadence)))
    elif sheet and period:
        problems += _due_passed(sheet, period, today)
    if sheet and period and due_on and due_on <= period.end:
        problems.append(Problem(field="due_on", rule="calendar.after_period", params={"end": period.end}))
    elif period and due_on and due_on > period.end + dt.timedelta(days=DUE_AFTER_END_MAX):
        latest = period.end + dt.timedelta(days=DUE_AFTER_END_MAX)
        problems.append(
            Problem(
                field="due_on",
                rule="calendar.due_far",
                params={"period": period, "latest": latest},
                label_zh="截止日期",
                label_en="Due on",
            )
        )
    elif due_on and due_on < today:  # a due date already gone by would make units late after the fact
        problems.append(
            Problem(
                field="due_on",
                rule="calendar.due_past",
                params={"today": today},
                label_zh="截止日期",
                label_en="Due on",
            )
        )
    named = {p.field for p in problems}
    for value, name, zh, en in ((period, "period", "报告期", "Period"), (due_on, "due_on", "截止日期", "Due on")):
        if value is None and name not in named:
            problems.append(Problem(field=name, rule="required", label_zh=zh, label_en=en))
    if problems:
        raise Problems(problems)
    assert sheet is not None and period is not None and due_on is not None  # each refused above when missing
    before = DueException.objects.select_for_update().filter(sheet=sheet, period=str(period)).first()
    exception, _ = DueException.objects.update_or_create(
        sheet=sheet, period=str(period), defaults={"due_on": due_on, "reason": reason}
    )
    record(
        action="calendar.exception_set",
        target=exception,
        actor=by,
        sheet=sheet.code,
        period=str(period),
        due_on=str(due_on),
        was=str(before.due_on) if before else None,
        reason=reason,
    )
    return exception


def _due_passed(sheet: Sheet, period: Period, today: dt.date) -> list[Problem]:
    """Why the due date of `sheet`'s `period` may no longer be moved (it has gone by), or nothing. Moving it
    would rewrite who filed late and, as the lock counts from it, reopen a locked period for every unit at once;
    a late filing is let in one unit at a time by `unlock_period`, audited and for a few days."""
    due = DueCalendar([sheet], {str(period)}).due_on(sheet, period)
    if due is None or today <= due:
        return []
    return [
        Problem(
            field="period",
            rule="calendar.due_passed",
            params={"period": period, "due": due},
            label_zh="报告期",
            label_en="Period",
        )
    ]


@audited("period.unlocked")
@transaction.atomic
def unlock_period(
    *,
    sheet: Sheet | None,
    period: Period | None,
    reason: str,
    note: str,
    by: User,
    unit: Unit | None = None,
    source: Department | None = None,
    unreadable: list[Problem] | None = None,
) -> Unlock:
    """Lift the lock of `sheet`'s `period` (a ledger's: the month of its records) for one unit (or one source
    department's supply) for ONETABLE_UNLOCK_DAYS days, saying why; the unit sees it on its pages."""
    problems = list(unreadable or [])
    if sheet is None:
        problems.append(Problem(field="sheet", rule="sheet.missing", label_zh="表", label_en="Sheet"))
    elif period is not None and period.type != sheet.period_type:  # a ledger's: the month of its records
        expected = sheet.period_type.value if sheet.is_ledger else sheet.cadence
        problems.append(
            Problem(
                field="period",
                rule="period.type",
                params=period_type_params(expected),
                label_zh="报告期",
                label_en="Period",
            )
        )
    if period is None and not any(p.field == "period" for p in problems):
        problems.append(Problem(field="period", rule="required", label_zh="报告期", label_en="Period"))
    if reason not in UnlockReason.values:
        problems.append(Problem(field="reason", rule="unlock.reason", label_zh="解锁事由", label_en="Reason"))
    elif not any(p.field == "holder" for p in problems) and (
        (reason == UnlockReason.SUPPLY) != (source is not None) or (unit is None) == (source is None)
    ):
        problems.append(Problem(field="reason", rule="unlock.holder", label_zh="解锁事由", label_en="Reason"))
    if unit is not None and sheet is not None and unit.area.level not in sheet.unit_levels:
        params = {"unit": unit.name, "code": unit.area.code, "sheet_zh": sheet.name_zh, "sheet_en": sheet.name_en}
        problems.append(
            Problem(field="holder", rule="unlock.not_filed", params=params, label_zh="填报单位", label_en="Unit")
        )
    note = trimmed(note or "")
    if not note:
        problems.append(Problem(field="note", rule="required", label_zh="说明", label_en="Why"))
    else:
        problems += too_long(note, NOTE_MAX, field="note", label_zh="说明", label_en="Why")
    if source is not None and sheet is not None and not sheet.fields.filter(source=source).exists():
        params = {"department": source.name, "sheet_zh": sheet.name_zh, "sheet_en": sheet.name_en}
        problems.append(
            Problem(
                field="holder",
                rule="unlock.not_source",
                params=params,
                label_zh="数源部门",
                label_en="Source department",
            )
        )
    if sheet is not None and period is not None and not any(p.field == "period" for p in problems):
        problems += _nothing_to_unlock(sheet, period, timezone.localdate())
    if sheet is not None and period is not None and (unit or source) and not problems:
        Sheet.objects.select_for_update().filter(pk=sheet.pk).first()  # two offices unlocking at once: one at a time
        problems += _unlocked_already(sheet, period, unit, source)
    if problems:
        raise Problems(problems)
    assert sheet is not None and period is not None  # each refused above when missing
    until = timezone.localdate() + dt.timedelta(days=settings.ONETABLE_UNLOCK_DAYS)
    unlock = Unlock.objects.create(
        unit=unit, source=source, sheet=sheet, period=str(period), reason=reason, note=note, until=until, by=by
    )
    holder = {"unit": unit.area.code} if unit is not None else {"source": source.code if source else ""}
    record(
        action="period.unlocked",
        target=unlock,
        actor=by,
        sheet=sheet.code,
        period=str(period),
        reason=reason,
        note=note,
        until=str(until),
        **holder,
    )
    return unlock


def _unlocked_already(sheet: Sheet, period: Period, unit: Unit | None, source: Department | None) -> list[Problem]:
    """The unlock that already holds this period open for the same unit (or source), named: a second one would
    make withdrawing either say the period is locked again while the other keeps it open."""
    holder = {"unit": unit} if unit is not None else {"source": source}
    existing = (
        Unlock.objects.holding(timezone.localdate())
        .filter(sheet=sheet, period=str(period), **holder)
        .order_by("-until")
        .first()
    )
    if existing is None:
        return []
    name = unit.name if unit is not None else source.name if source is not None else ""
    params = {"holder": name, "period": period, "until": existing.until, "note": existing.note[:60]}
    return [Problem(field="holder", rule="unlock.duplicate", params=params, label_zh="解锁对象", label_en="Holder")]


def _nothing_to_unlock(sheet: Sheet, period: Period, today: dt.date) -> list[Problem]:
    """Why `period` of `sheet` has no lock to lift today (not begun, never locks, not yet locked), or nothing."""
    label = {"label_zh": "报告期", "label_en": "Period"}
    if not period.has_begun(today):
        return [
            Problem(field="period", rule="unlock.not_begun", params={"period": period, "start": period.start}, **label)
        ]
    lock = sheet_calendar(sheet).locks_after(sheet, period)
    if lock is None:
        return [Problem(field="period", rule="unlock.never_locks", params={"period": period}, **label)]
    if today <= lock[0]:
        return [
            Problem(field="period", rule="unlock.not_locked", params={"period": period, "locked": lock[0]}, **label)
        ]
    return []


@audited("period.unlock_withdrawn")
@transaction.atomic
def withdraw_unlock(*, unlock: Unlock, note: str, by: User) -> Unlock:
    """End an unlock before its day, saying why: the period is locked again for its unit (or source) at once,
    and the unit sees the withdrawal and its reason on its pages."""
    unlock = (
        Unlock.objects.select_for_update(of=("self",)).select_related("sheet", "unit__area", "source").get(pk=unlock.pk)
    )
    note = trimmed(note or "")
    problems = []
    if unlock.withdrawn_at is not None or unlock.until < timezone.localdate():
        problems.append(Problem(field="unlock", rule="unlock.ended", params={"until": unlock.until}))
    if not note:
        problems.append(Problem(field="note", rule="required", label_zh="撤销原因", label_en="Why"))
    else:
        problems += too_long(note, NOTE_MAX, field="note", label_zh="撤销原因", label_en="Why")
    if problems:
        raise Problems(problems)
    unlock.withdrawn_at, unlock.withdrawn_by, unlock.withdrawn_note = timezone.now(), by, note
    unlock.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_note"])
    holder = {"unit": unlock.unit.area.code} if unlock.unit else {"source": unlock.source.code if unlock.source else ""}
    record(
        action="period.unlock_withdrawn",
        target=unlock,
        actor=by,
        sheet=unlock.sheet.code,
        period=unlock.period,
        note=note,
        until=str(unlock.until),
        **holder,
    )
    return unlock
