"""The office's suppression threshold: the fewest units an aggregate may cover and still be published."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audited, record
from core.models import User
from reporting.models import SuppressionThreshold
from reporting.rejections import Problem, Problems, blank, too_long, trimmed

# Two is the least that hides a unit's value at all (one unit's aggregate is its value); above a hundred even a
# county of small townships publishes almost nothing, which is a mistyped number rather than a policy.
LOWEST, HIGHEST = 2, 100
# A new threshold is decided for the coming periods, a year ahead at most: a day further off is a mistyped year
# (9999-12-31) that would stand in the list as the next change for ever.
AHEAD_MAX = dt.timedelta(days=366)


@audited("suppression.threshold_set")
@transaction.atomic
def set_threshold(
    *, units: int, effective_from: dt.date, reason: str, by: User, today: dt.date | None = None
) -> SuppressionThreshold:
    """Publish aggregates only over at least `units` units in the periods beginning on or after `effective_from`
    (a day after today: a period already begun keeps its threshold, so its cells are never decided twice)."""
    today = today or timezone.localdate()
    problems = []
    if isinstance(units, bool) or not isinstance(units, int) or not LOWEST <= units <= HIGHEST:
        problems.append(Problem(field="units", rule="number.range", params={"min": LOWEST, "max": HIGHEST}))
    if effective_from <= today:
        problems.append(Problem(field="effective_from", rule="threshold.begun", params={"first": str(today)}))
    elif effective_from > today + AHEAD_MAX:
        problems.append(
            Problem(
                field="effective_from",
                rule="date.max",
                params={"max": str(today + AHEAD_MAX)},
                label_zh="生效日期",
                label_en="Effective from",
            )
        )
    if blank(reason):
        problems.append(Problem(field="reason", rule="required", label_zh="原因", label_en="Reason"))
    else:
        limit = SuppressionThreshold._meta.get_field("reason").max_length or 0
        problems += too_long(trimmed(reason), limit, field="reason", label_zh="原因", label_en="Reason")
    if not problems:
        problems += _already_set(effective_from)
    if problems:
        raise Problems(problems)
    before = SuppressionThreshold.objects.filter(effective_from__lte=effective_from).first()
    try:
        with transaction.atomic():  # two offices saving the same day at once: the second is refused by name
            threshold = SuppressionThreshold.objects.create(
                effective_from=effective_from, units=units, reason=trimmed(reason), by=by
            )
    except IntegrityError:
        raise Problems(_already_set(effective_from)) from None
    record(
        action="suppression.threshold_set",
        target=threshold,
        actor=by,
        units=units,
        effective_from=str(effective_from),
        was=before.units if before else None,
        reason=trimmed(reason),
    )
    return threshold


def _already_set(effective_from: dt.date) -> list[Problem]:
    """The threshold already set from that day, named: a setting is audited and stays as it was set, so a second
    one for the same day is refused rather than overwriting the first and its reason."""
    existing = SuppressionThreshold.objects.filter(effective_from=effective_from).first()
    if existing is None:
        return []
    params = {"day": str(existing.effective_from), "units": existing.units, "reason": existing.reason}
    return [
        Problem(
            field="effective_from", rule="threshold.set", params=params, label_zh="生效日期", label_en="Effective from"
        )
    ]
