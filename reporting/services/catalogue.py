"""The living catalogue: definitions that change from a named period, retirement, and zombie clean-up."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import audited, read_only, record
from core.models import LEVEL_DEPTH, User
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period, first_not_begun
from reporting.models import (
    Aggregation,
    ClosureLog,
    Field,
    FieldRevision,
    Notice,
    Sheet,
    Status,
    Subscription,
    SubscriptionStatus,
    ZombieFlag,
    ZombieKind,
)
from reporting.reads.accesslog import last_uses
from reporting.rejections import Problem, Problems, blank, period_type_params, too_long, trimmed
from reporting.services.deliveries import withdraw_deliveries

ORIGINAL = dt.date(1900, 1, 1)


@read_only
def first_open(period_type, today: dt.date | None = None) -> Period:
    """The first period not yet begun (as filing decides "begun"): changes to what units are asked never reach
    back into a running period."""
    return first_not_begun(period_type, today or timezone.localdate())


# Why the daily check's rule retires a field, in each language: the closure log keeps the rule's code and the
# Chinese words, and a page shows the words of its reader's language (templates/office/closures.html)
UNUSED_FIELD = ("没有有效订阅使用该字段", "no active subscription uses this field")
REASON_MAX = 300  # characters: why the office changes, retires or reinstates a definition, in a sentence or two


@read_only
def reason_problems(reason: str) -> list[Problem]:
    """The office's reason for a change to the catalogue: required, and refused whole when longer than REASON_MAX."""
    if blank(reason):
        return [Problem(field="reason", rule="required", label_zh="原因", label_en="Reason")]
    return too_long(trimmed(reason), REASON_MAX, field="reason", label_zh="原因", label_en="Reason")


@read_only
def revised_already(revisions: Any, period: Period) -> list[Problem]:
    """The revision already made from `period`, named: a revision is history (what applied from when, and why),
    so a second one from the same period is refused rather than overwriting the first and its reason."""
    existing = revisions.filter(effective_from=period.start).first()
    if existing is None:
        return []
    params = {"period": str(period), "day": f"{timezone.localtime(existing.at):%Y-%m-%d}", "reason": existing.reason}
    return [Problem(field="period", rule="definition.revised", params=params, label_zh="报告期", label_en="Period")]


@audited("field.definition_changed")
@transaction.atomic
def change_definition(
    *,
    field: Field,
    period: Period,
    changes: dict[str, Any],
    reason: str,
    by: User,
    today: dt.date | None = None,
    unreadable: list[Problem] | None = None,
) -> FieldRevision:
    """Define a field anew from `period` on; submissions of earlier periods keep their definition.
    `unreadable`: what the form could not read, refused together with whatever else is wrong."""
    problems = []
    if period.type != field.sheet.period_type:
        problems.append(Problem(field="period", rule="period.type", params=period_type_params(field.sheet.cadence)))
    elif period.has_begun(today or timezone.localdate()):  # a running period keeps the definition it began with
        problems.append(
            Problem(
                field="period",
                rule="definition.retroactive",
                params={"first": str(first_open(field.sheet.period_type, today))},
            )
        )
    problems += reason_problems(reason)
    unknown = set(changes) - set(FieldRevision.DEFINITION)
    problems += [Problem(field=name, rule="unknown") for name in sorted(unknown)]
    new = {name: changes.get(name, getattr(field, name)) for name in FieldRevision.DEFINITION}
    problems += fieldtypes.check_definition(new["type"], new["constraints"])
    problems += revised_already(field.revisions, period)
    in_force = field.revisions.filter(effective_from__lte=period.start).order_by("-effective_from").first() or field
    if (
        not problems
        and not unreadable
        and all(new[name] == getattr(in_force, name) for name in FieldRevision.DEFINITION)
    ):
        problems.append(Problem(field="field", rule="definition.unchanged", params={"period": str(period)}))
    if problems or unreadable:
        raise Problems(problems + (unreadable or []))
    if not field.revisions.exists():
        FieldRevision.objects.create(
            field=field,
            effective_from=ORIGINAL,
            reason="original definition",
            **{name: getattr(field, name) for name in FieldRevision.DEFINITION},
        )
    revision = FieldRevision.objects.create(
        field=field, effective_from=period.start, **new, period=str(period), reason=reason, by=by
    )
    Field.objects.filter(pk=field.pk).update(**new)  # the row holds the newest definition
    changed = {name: new[name] for name in FieldRevision.DEFINITION if new[name] != getattr(field, name)}
    record(
        action="field.definition_changed", target=field, actor=by, period=str(period), reason=reason, changes=changed
    )
    return revision


def _notify(subscriptions, zh: str, en: str) -> None:
    Notice.objects.bulk_create(
        [Notice(department_id=d, text_zh=zh, text_en=en) for d in sorted({s.department_id for s in subscriptions})]
    )


@audited("field.retired")
@transaction.atomic
def retire_field(
    *, field: Field, reason: str, by: User | None, today: dt.date | None = None, rule: str = ""
) -> dt.date:
    """Retire a field from the next open period; subscriptions left with nothing end then; departments are told;
    its open zombie flags are closed. A field already retired is refused: retiring it again would log and notify
    twice and move `retired_from`, un-retiring it for the periods in between. `rule` "unused_field" (the daily
    check's flag, or no one) gives the reason of that rule, in each language."""
    rule = rule or ("" if by else "unused_field")
    reason_en = reason
    if rule == "unused_field":
        reason, reason_en = UNUSED_FIELD
    current = Field.objects.select_for_update().get(pk=field.pk)  # two posts at once: the second waits, refused
    if current.status == Status.RETIRED:
        raise Problems(
            [
                Problem(
                    field="field",
                    rule="field.already_retired",
                    params={"day": str(current.retired_from or "")},
                    label_zh=f"字段“{current.name_zh}”",
                    label_en=f"The field “{current.name_en}”",
                )
            ]
        )
    if problems := reason_problems(reason):
        raise Problems(problems)
    day = first_open(field.sheet.period_type, today).start
    Field.objects.filter(pk=field.pk).update(status=Status.RETIRED, retired_from=day)
    ZombieFlag.objects.filter(field=field, closed_on__isnull=True).update(closed_on=today or timezone.localdate())
    users = list(Subscription.objects.active().filter(fields=field))
    # still running on `day` (active, not expired by then) with nothing asked from it on: it ends the day before
    Subscription.objects.entitling(day).filter(pk__in=[s.pk for s in users]).exclude(
        fields__in=Field.objects.asked_on(day)
    ).update(expires_on=day - dt.timedelta(days=1))
    _notify(
        users,
        f"字段“{field.name_zh}”自 {day} 起停用：{reason}",
        f"The field “{field.name_en}” is retired from {day}: {reason_en}",
    )
    ClosureLog.objects.create(
        kind="field",
        object_id=field.pk,
        label=f"{field.name_zh} ({field.code})",
        reason=reason,
        by=by,
        rule=rule,
    )
    record(
        action="field.retired",
        target=field,
        actor=by,
        reason=reason,
        retired_from=str(day),
        rule=rule,
    )
    return day


@audited("subscription.ended")
@transaction.atomic
def end_subscription(*, subscription: Subscription, reason: str, by: User | None, rule: str = "") -> None:
    """End a subscription: nothing of it is read or sent any more; what waited to be pushed is withdrawn."""
    Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.ENDED)
    withdraw_deliveries(subscription=subscription)
    _notify(
        [subscription],
        f"订阅“{subscription.purpose}”已终止：{reason}",
        f"The subscription “{subscription.purpose}” has ended: {reason}",
    )
    ClosureLog.objects.create(
        kind="subscription",
        object_id=subscription.pk,
        reason=reason,
        by=by,
        rule=rule,
        label=f"{subscription.department.name} · {subscription.purpose}",
    )
    record(action="subscription.ended", target=subscription, actor=by, reason=reason, rule=rule)


@audited("zombie_flag.confirmed")
@transaction.atomic
def confirm_subscription(*, flag: ZombieFlag, by: User, reason: str) -> ZombieFlag:
    """A department says a flagged subscription is still needed, and why: it is kept."""
    if blank(reason):
        raise Problems([Problem(field="reason", rule="required", label_zh="理由", label_en="Reason")])
    limit = ZombieFlag._meta.get_field("confirm_reason").max_length or 0
    if problems := too_long(trimmed(reason), limit, field="reason", label_zh="理由", label_en="Reason"):
        raise Problems(problems)
    flag.confirmed_at, flag.confirmed_by, flag.confirm_reason = timezone.now(), by, trimmed(reason)
    flag.closed_on = timezone.localdate()
    flag.save(update_fields=["confirmed_at", "confirmed_by", "confirm_reason", "closed_on"])
    record(
        action="zombie_flag.confirmed",
        target=flag,
        actor=by,
        subscription=flag.subscription_id,
        reason=flag.confirm_reason,
    )
    return flag


@audited("subscription.ended", "zombie_flag.raised")
def zombie_check(*, today: dt.date | None = None) -> dict[str, int]:
    """The daily check: end expired subscriptions, flag idle ones, end those whose grace ran out, flag unused
    fields and empty sheets. Returns how many of each it found.

    Not one transaction: each subscription ends in its own (its notices and withdrawn pushes with it), so a
    failure halfway keeps what was done; a second run the same day finds only what is left."""
    today = today or timezone.localdate()
    return {
        "expired": _end_expired(today),
        "ended_after_grace": _end_after_grace(today),
        "idle": _flag_idle(today),
        "unused_fields": _flag_unused_fields(today),
        "empty_sheets": _flag_empty_sheets(today),
    }


def _end_expired(today: dt.date) -> int:
    expired = Subscription.objects.expired(today).select_related("department")
    for subscription in expired:
        end_subscription(
            subscription=subscription,
            reason=f"到期 {subscription.expires_on} / expired {subscription.expires_on}",
            by=None,
            rule="expired",
        )
    return len(expired)


def _raised(flags: list[ZombieFlag]) -> None:
    for flag in flags:
        target = flag.subscription_id or flag.field_id or flag.sheet_id
        record(action="zombie_flag.raised", target=flag, rule=flag.kind, of=target, reason=flag.reason)


@transaction.atomic
def _flag_idle(today: dt.date) -> int:
    since = today - dt.timedelta(days=30 * settings.ONETABLE_ZOMBIE_MONTHS)
    # Used: anything delivered (its pushed access record is written with the delivered mark), pulled,
    # queried or charted since then: each subscription's last use, as the office's catalogue shows it
    # (`last_uses`: the newest record of each kind, one probe of `access_by_subscription` each). Reading
    # every delivered row's and access record's subscription into Python grew with the outbox and the log,
    # in time and in the worker's memory; `EXISTS` probes read the whole log once queried records were most
    # of it (PostgreSQL expected to meet one soon in a sequential scan, and read every record for each
    # subscription that had none). Figures: docs/benchmarks.md, fourth and fifth rounds.
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    last_used = {pk: last for pk, (_delivered, last) in last_uses().items()}
    flagged = ZombieFlag.objects.filter(
        Q(closed_on__isnull=True) | Q(confirmed_at__date__gte=since), kind=ZombieKind.IDLE_SUBSCRIPTION
    ).values_list("subscription_id", flat=True)
    candidates = Subscription.objects.active(on=since).exclude(pk__in=flagged)
    idle = [s for s in candidates if (used := last_used.get(s.pk)) is None or used < start]
    grace = today + dt.timedelta(days=settings.ONETABLE_ZOMBIE_GRACE_DAYS)
    flags = [
        ZombieFlag(
            kind=ZombieKind.IDLE_SUBSCRIPTION,
            subscription=s,
            flagged_on=today,
            grace_until=grace,
            reason=f"{settings.ONETABLE_ZOMBIE_MONTHS} 个月内既未接收推送也未读取数据 / no delivery received "
            f"and no data read for {settings.ONETABLE_ZOMBIE_MONTHS} months",
        )
        for s in idle
    ]
    ZombieFlag.objects.bulk_create(flags)
    _raised(flags)
    _notify(
        [f.subscription for f in flags],
        f"订阅长期未使用，如仍需要请于 {grace} 前说明理由，否则将终止",
        f"This subscription has not been used; confirm it with a reason before {grace} or it will end",
    )
    return len(flags)


def _end_after_grace(today: dt.date) -> int:
    overdue = ZombieFlag.objects.filter(
        kind=ZombieKind.IDLE_SUBSCRIPTION, closed_on__isnull=True, confirmed_at__isnull=True, grace_until__lt=today
    ).select_related("subscription__department")
    for flag in overdue:
        if flag.subscription is not None and flag.subscription.status == SubscriptionStatus.ACTIVE:
            end_subscription(
                subscription=flag.subscription,
                reason=flag.reason + "；宽限期满未确认 / not confirmed within the grace period",
                by=None,
                rule="idle_subscription",
            )
        flag.closed_on = today
        flag.save(update_fields=["closed_on"])
    return len(overdue)


@transaction.atomic
def _flag_new(kind: str, candidates, target: str, reason: str, today: dt.date) -> int:
    """Flag each candidate field or sheet that has no open flag of this kind yet."""
    already = ZombieFlag.objects.filter(kind=kind, closed_on__isnull=True).values(f"{target}_id")
    flags = [
        ZombieFlag(kind=kind, flagged_on=today, reason=reason, **{target: item})
        for item in candidates.exclude(pk__in=already).distinct()
    ]
    ZombieFlag.objects.bulk_create(flags)
    _raised(flags)
    return len(flags)


def _flag_unused_fields(today: dt.date) -> int:
    unused = Field.objects.active().exclude(subscriptions__in=Subscription.objects.active())
    return _flag_new(
        ZombieKind.UNUSED_FIELD,
        unused,
        "field",
        " / ".join(UNUSED_FIELD),
        today,
    )


def _flag_empty_sheets(today: dt.date) -> int:
    empty = Sheet.objects.filter(status=Status.ACTIVE).exclude(fields__status=Status.ACTIVE)
    return _flag_new(
        ZombieKind.EMPTY_SHEET, empty, "sheet", "表中已没有启用的字段 / no active field is left in this sheet", today
    )


@audited("sheet.retired")
@transaction.atomic
def retire_sheet(*, sheet: Sheet, reason: str, by: User) -> None:
    """Retire a sheet: it is no longer asked; its open flags are closed."""
    if problems := reason_problems(reason):  # required, and a sentence or two like every other retirement's
        raise Problems(problems)
    Sheet.objects.filter(pk=sheet.pk).update(status=Status.RETIRED)
    ClosureLog.objects.create(
        kind="sheet", object_id=sheet.pk, label=f"{sheet.name_zh} ({sheet.code})", reason=reason, by=by
    )
    ZombieFlag.objects.filter(sheet=sheet, closed_on__isnull=True).update(closed_on=timezone.localdate())
    record(action="sheet.retired", target=sheet, actor=by, reason=reason)


@audited("field.rollup_changed")
@transaction.atomic
def set_rollup(*, field: Field, aggregation: str, rollup_of: Field | None = None, by: User) -> Field:
    """Set how `field` rolls up and, for a derived field, the lower-level field it is the roll-up of (then the
    one table no longer asks it: the roll-up engine answers it). Refused with the rule named, nothing stored:
    an aggregation its type does not allow; a source that is not a numeric or yes/no field filed by units of a
    lower level with the same period type, or a derived field that is not numeric."""
    problems = []
    if aggregation not in field.field_type.aggregations:
        problems.append(Problem(field="aggregation", rule="aggregation.invalid"))
    if rollup_of is not None:
        deepest = max(LEVEL_DEPTH[level] for level in rollup_of.sheet.unit_levels)
        lower = all(LEVEL_DEPTH[level] < deepest for level in field.sheet.unit_levels)
        if (
            rollup_of.pk == field.pk
            or rollup_of.rollup_of_id is not None
            or rollup_of.sheet.is_ledger
            or field.sheet.is_ledger
            or rollup_of.sheet.period_type != field.sheet.period_type
            or rollup_of.rolls_up == Aggregation.NONE
            or not field.field_type.is_numeric
            or not lower
        ):
            problems.append(Problem(field="rollup_of", rule="rollup_of.invalid"))
    if problems:
        raise Problems(problems)
    before = {"aggregation": field.rolls_up, "rollup_of": field.rollup_of.code if field.rollup_of else None}
    Field.objects.filter(pk=field.pk).update(aggregation=aggregation, rollup_of=rollup_of)
    field.aggregation, field.rollup_of = aggregation, rollup_of
    record(
        action="field.rollup_changed",
        target=field,
        actor=by,
        before=before,
        after={"aggregation": aggregation, "rollup_of": rollup_of.code if rollup_of else None},
    )
    return field
