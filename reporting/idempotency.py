"""Idempotency keys: the same request twice gets the first answer; a key is never reused for another.

A key is claimed in its own short transaction (so a concurrent repeat sees it and
gets 409), then finished inside the transaction that does the work (so the stored
answer and the work commit together, or neither does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.models import User
from reporting.models import IdempotencyKey

# A claim older than this whose request never finished (the process died) may be taken over.
ABANDONED_AFTER = dt.timedelta(minutes=5)


class KeyInFlight(Exception):
    """The same key is being processed right now."""


class KeyReused(Exception):
    """The key was already used for a different request."""


@dataclass
class Replay:
    status: int
    body: Any


def request_hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(*, user: User, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Claim `key` for this request, or return the stored answer of the identical earlier request."""
    with transaction.atomic():
        row, created = IdempotencyKey.objects.get_or_create(user=user, key=key, defaults={"request_hash": fingerprint})
    if created:
        return row
    if row.request_hash != fingerprint:
        raise KeyReused(key)
    if row.done:
        return Replay(row.response_status or 200, row.response_body)
    taken_over = IdempotencyKey.objects.filter(
        pk=row.pk, done=False, created_at__lt=timezone.now() - ABANDONED_AFTER
    ).update(created_at=timezone.now())
    if taken_over:
        return row
    raise KeyInFlight(key)


def finish_key(row: IdempotencyKey, *, status: int, body: Any) -> None:
    """Store the answer; call inside the transaction that did the work."""
    row.done, row.response_status, row.response_body = True, status, body
    row.save(update_fields=["done", "response_status", "response_body"])


def release_key(row: IdempotencyKey) -> None:
    """Forget a claim whose work failed and stored nothing, so the client may try again."""
    IdempotencyKey.objects.filter(pk=row.pk, done=False).delete()
