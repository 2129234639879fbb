"""An indicator's history for the office: each definition (the original and every revision) with who made it,
when, from which period, why, and what it changed from the definition before it; and each retirement and
reinstatement, read off the audit log (the indicator row keeps only its present state)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from core.models import AuditEvent, User
from reporting.models import Indicator, IndicatorRevision, IndicatorRollup

_SHOWN = (  # the parts of a definition a change is shown for, in the order a reader checks them
    ("formula", "Formula"),
    ("rollup", "Roll-up"),
    ("name_zh", "Name (Chinese)"),
    ("name_en", "Name (English)"),
    ("unit_of_measure", "Unit of measure"),
)


@dataclass
class Change:
    what: str
    before: str
    after: str


@dataclass
class Entry:
    kind: str  # defined, revised, retired, reinstated
    at: dt.datetime
    by: User | None
    reason: str
    period: str = ""  # a revision: the first period it applies to
    from_day: dt.date | None = None  # a retirement: the first day it no longer applies
    formula: str = ""  # a definition: the whole formula as it then read
    changes: list[Change] = field(default_factory=list)


def _shown(name: str, value: str) -> str:
    if name == "rollup":
        return str(IndicatorRollup(value).label) if value in IndicatorRollup.values else value
    return value or "—"


def _definitions(indicator: Indicator) -> list[Entry]:
    revisions = list(IndicatorRevision.objects.filter(indicator=indicator).select_related("by"))
    entries = []
    for before, revision in zip([None, *revisions], revisions, strict=False):
        changes = [
            Change(_(label), _shown(name, getattr(before, name)), _shown(name, getattr(revision, name)))
            for name, label in _SHOWN
            if before is not None and getattr(before, name) != getattr(revision, name)
        ]
        original = not revision.period  # the definition it was added with applies from the start
        entries.append(
            Entry(
                kind="defined" if original else "revised",
                at=revision.at,
                by=revision.by,
                reason="" if original else revision.reason,
                period=revision.period,
                formula=revision.formula,
                changes=changes,
            )
        )
    return entries


def _status_changes(indicator: Indicator) -> list[Entry]:
    events = AuditEvent.objects.filter(
        target_type=Indicator._meta.label_lower,
        target_id=str(indicator.pk),
        action__in=("indicator.retired", "indicator.reinstated"),
    ).select_related("actor")
    return [
        Entry(
            kind=event.action.removeprefix("indicator."),
            at=event.at,
            by=event.actor,
            reason=event.detail.get("reason", ""),
            from_day=dt.date.fromisoformat(event.detail["retired_from"]) if "retired_from" in event.detail else None,
        )
        for event in events
    ]


def indicator_history(indicator: Indicator) -> list[Entry]:
    """Every change to the indicator, the newest first."""
    return sorted([*_definitions(indicator), *_status_changes(indicator)], key=lambda e: e.at, reverse=True)
