"""Disputes (数据异议) from the source department's side: answering them, and telling its system they opened.

A dispute is answered once, by the department that is the source of its field: with a corrected value (a new
supply version, stored by `supply_values`, which reaches the unit and every subscriber through the outbox and
marks the dispute corrected) or with a text saying why the register value stands. Nothing here counts,
reminds, times or ranks anyone (design invariant 5).

The `dispute.opened` event goes to the source's active webhook endpoints after commit, signed like deliveries
(Standard Webhooks) and only to addresses the office allowed. `notified_at` is set once every endpoint accepted
it; until then the outbox sweep sends it again with the deliveries' backoff, so a receiver down for a weekend
gets it late, never not at all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from core.audit import audited, read_only, record, unaudited
from core.celery import app
from core.locks import exclusive
from core.models import User
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.models import AllowedNetwork, Dispute, DisputeStatus, Endpoint
from reporting.rejections import Problem, Problems, storable, trimmed
from reporting.services.deliveries import backoff, post_event
from reporting.services.supplies import SupplyRow, supply_values

log = logging.getLogger("onetable.disputes")

SEND_DISPUTE_EVENTS_TASK = "reporting.tasks.send_dispute_events_task"
ANSWER_MAX = 1000  # characters: an answer is a sentence or two, like a correction's reason
# a session-level advisory lock per source department while its events are posted: one sender at a time, no
# transaction held open during HTTP; a worker that dies drops its session and with it the lock
_LOCK_SPACE = 0x0D15


@audited("dispute.answered")
def answer_dispute(*, dispute: Dispute, by: User, value: Any = None, answer: str = "") -> Dispute:
    """Answer an open dispute once: correct the register's value, or say why it stands."""
    answer = answer if isinstance(answer, str) else ""
    correcting = value is not None and not is_blank(value)
    if correcting and trimmed(answer):  # which one was meant: neither is dropped
        raise Problem(field="answer", rule="dispute.both")
    if not correcting and not trimmed(answer):
        raise Problem(field="answer", rule="dispute.answer")
    if answer and not storable(answer):
        raise Problem(field="answer", rule="text.character")
    if len(answer) > ANSWER_MAX:
        raise Problem(field="answer", rule="text.max_length", params={"max_length": ANSWER_MAX})
    with transaction.atomic():
        locked = Dispute.objects.select_for_update().select_related("unit__area", "field", "source").get(pk=dispute.pk)
        if not locked.is_open:
            raise Problem(field="dispute", rule="dispute.answered")
        if correcting:
            _correct(locked, value, by)
        else:
            locked.status, locked.answer = DisputeStatus.STANDS, trimmed(answer)
            locked.answered_by, locked.answered_at = by, timezone.now()
            locked.save(update_fields=["status", "answer", "answered_by", "answered_at"])
        record(action="dispute.answered", target=locked, actor=by, status=locked.status, field=locked.field.code)
    return locked


def _correct(dispute: Dispute, value: Any, by: User) -> None:
    """Supply the corrected value; `supply_values` marks the dispute corrected with its new version."""
    row = SupplyRow("value", dispute.unit.area.code, dispute.period, dispute.field.code, value)
    result = supply_values(department=dispute.source, rows=[row], by=by)
    if result.conflicts:
        raise Problems([Problem(field="value", rule=c.problem.rule, params=c.problem.params) for c in result.conflicts])
    dispute.refresh_from_db()
    if dispute.is_open:  # the register already held this value: nothing was corrected
        raise Problem(field="value", rule="dispute.same_value")


@unaudited("the filing that opened or updated the dispute is audited; this only wakes the sender")
def announce_disputes(disputes: list[Dispute]) -> None:
    """Owe each dispute's event anew and wake its source's sender after commit (call in the filing's
    transaction, after opening a dispute or updating it from a later filing)."""
    ids = [d.pk for d in disputes]
    Dispute.objects.filter(pk__in=ids).update(notified_at=None, notify_attempts=0, notify_next_at=Now())
    sources = sorted({d.source_id for d in disputes})
    transaction.on_commit(lambda: [app.send_task(SEND_DISPUTE_EVENTS_TASK, args=[s]) for s in sources])


@read_only
def dispute_event(dispute: Dispute) -> dict[str, Any]:
    """The `dispute.opened` event's body: what the source needs to check its register, nothing more."""
    return {
        "type": "dispute.opened",
        "department": dispute.source.code,
        "dispute": {
            "id": dispute.public_id,
            "status": dispute.status,
            "unit": {"code": dispute.unit.area.code, "name": dispute.unit.name},
            "field": dispute.field.code,
            "sheet": dispute.sheet.code,
            "period": dispute.period,
            "register_value": dispute.register_value,
            "unit_value": dispute.unit_value,
            "reason": dispute.reason,
            "created_at": dispute.created_at.isoformat(),
        },
    }


def _event_id(dispute: Dispute) -> str:
    # the same dispute as the same filing left it has one id, so a receiver drops a repeat; a later filing that
    # updates the dispute makes a new event
    return f"msg_{dispute.public_id}_v{dispute.version_id}"


def _owed(source_id: int | None = None) -> Any:
    due = Dispute.objects.filter(notified_at=None).filter(
        # the database's clock: rows are stamped with it, and workers on several hosts read it alike (core.clock)
        Q(notify_next_at=None) | Q(notify_next_at__lte=Now())
    )
    return due if source_id is None else due.filter(source_id=source_id)


@unaudited("the webhook machinery: the dispute's change is audited where it happened, the send is in its row")
def send_dispute_events(source_id: int) -> int:
    """Post the source's owed dispute events to each of its active endpoints; return how many were accepted."""
    with exclusive(_LOCK_SPACE, source_id) as mine:
        # not mine: another worker is sending this source's events
        return _send_owed(source_id) if mine else 0


def _send_owed(source_id: int) -> int:
    endpoints = list(Endpoint.objects.filter(department_id=source_id, active=True).order_by("pk"))
    if not endpoints:
        return 0  # owed until the department has an endpoint
    networks = list(AllowedNetwork.objects.values_list("cidr", flat=True))
    accepted = 0
    owed = _owed(source_id).select_related("unit__area", "field", "sheet", "source").order_by("pk")[:100]
    for dispute in owed:
        body = json.dumps(dispute_event(dispute), ensure_ascii=False).encode()
        errors = [e for e in (post_event(endpoint, networks, _event_id(dispute), body) for endpoint in endpoints) if e]
        if not errors:
            Dispute.objects.filter(pk=dispute.pk, version_id=dispute.version_id).update(
                notified_at=Now(), notify_error=""
            )
            accepted += 1
            continue
        tries = dispute.notify_attempts + 1
        Dispute.objects.filter(pk=dispute.pk, version_id=dispute.version_id).update(
            notify_attempts=tries, notify_next_at=Now() + backoff(tries), notify_error=errors[0][:2000]
        )
        break  # the receiver refuses: the rest wait for the sweep, in order
    return accepted


@unaudited("the webhook machinery: wakes the sender of each source that owes events (beat's outbox sweep)")
def sweep_dispute_events() -> list[int]:
    """Wake the sender of every source with dispute events due and an active endpoint to send them to."""
    sources = sorted(
        set(_owed().filter(source__endpoints__active=True).values_list("source_id", flat=True).distinct().order_by())
    )
    for source_id in sources:
        app.send_task(SEND_DISPUTE_EVENTS_TASK, args=[source_id])
    return sources
