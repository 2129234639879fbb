"""The office's one calendar: how long after a period each cadence is due, and exceptions for one sheet and period."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from core.audit import audited, record
from core.models import User
from reporting.catalogue.periods import Period
from reporting.models import Cadence, DueException, DueRule, Sheet
from reporting.rejections import Problem, Problems


@audited("calendar.rule_set")
@transaction.atomic
def set_due_rules(*, days: dict[str, int], by: User) -> list[DueRule]:
    """Make each named cadence due `days[cadence]` days after its periods end; others keep their rule."""
    problems = [
        Problem(field=f"days_{c}", rule="unknown") for c in days if c not in Cadence.values or c == Cadence.LEDGER
    ]
    if problems:
        raise Problems(problems)
    rules = []
    for cadence, number in days.items():
        before = DueRule.objects.select_for_update().filter(cadence=cadence).first()
        rule, _ = DueRule.objects.update_or_create(cadence=cadence, defaults={"days_after_period_end": number})
        if before is None or before.days_after_period_end != number:
            was = before.days_after_period_end if before else None
            record(action="calendar.rule_set", target=rule, actor=by, cadence=cadence, days=number, was=was)
        rules.append(rule)
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
    reason = (reason or "").strip()
    if not reason:
        problems.append(Problem(field="reason", rule="required", label_zh="原因", label_en="Reason"))
    limit = DueException._meta.get_field("reason").max_length
    if limit is not None and len(reason) > limit:
        problems.append(
            Problem(
                field="reason", rule="text.max_length", params={"max_length": limit}, label_zh="原因", label_en="Reason"
            )
        )
    if sheet and period and period.type != sheet.period_type:
        problems.append(Problem(field="period", rule="period.type", params={"expected": sheet.cadence}))
    if sheet and period and due_on and due_on <= period.end:
        problems.append(Problem(field="due_on", rule="calendar.after_period", params={"end": period.end}))
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
