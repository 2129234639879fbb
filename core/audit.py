"""Append-only audit of state changes."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.models import AuditEvent, User
from core.rows import insert


def record(*, action: str, target: models.Model, actor: User | None = None, **detail: Any) -> AuditEvent:
    """Append one audit event for a change to `target`."""
    return insert(
        AuditEvent(
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            detail=detail,
        )
    )
