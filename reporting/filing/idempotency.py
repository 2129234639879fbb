"""Idempotency keys: the same request twice gets the first answer; a key is never reused for another.

A key is claimed inside the transaction that does the work, with one
`INSERT … ON CONFLICT DO NOTHING`: the claim, the work and the stored answer commit
together, or none of them does (a failed request leaves the key free for a retry).
A concurrent repeat waits at that INSERT until the first transaction ends, then gets
the stored answer, or takes the key if the first one rolled back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Now
from psycopg.types.json import Jsonb

from core.models import User
from reporting.models import IdempotencyKey

# A claim committed unfinished (by a release that claimed keys in their own transaction, whose
# process then died) may be taken over after this long.
ABANDONED_AFTER = dt.timedelta(minutes=5)


class KeyInFlight(Exception):
    """The key is held by an unfinished claim that is not old enough to take over."""


class KeyReused(Exception):
    """The key was already used for a different request."""


@dataclass
class Replay:
    status: int
    body: Any


@dataclass
class Answer:
    """What a request under a key answered: stored with the key, or `replayed` from an earlier request."""

    status: int
    body: Any
    replayed: bool = False


def request_hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(*, user: User, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Claim `key` for this request, or return the stored answer of the identical earlier request.

    Call inside the transaction that does the work (`transaction.atomic()`)."""
    if not connection.in_atomic_block:
        raise RuntimeError("claim_key() must run inside the transaction that does the work")
    # the database's clock stamps a claim and judges it abandoned: web processes on several hosts take over
    # each other's keys, and their own clocks may be tens of seconds apart (core.clock)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reporting_idempotencykey (user_id, key, request_hash, done, created_at) "
            "VALUES (%s, %s, %s, false, now()) ON CONFLICT (user_id, key) DO NOTHING RETURNING id, created_at",
            [user.pk, key, fingerprint],
        )
        inserted = cursor.fetchone()
    if inserted:
        return IdempotencyKey(pk=inserted[0], user=user, key=key, request_hash=fingerprint, created_at=inserted[1])
    row = IdempotencyKey.objects.get(user=user, key=key)
    if row.request_hash != fingerprint:
        raise KeyReused(key)
    if row.done:
        return Replay(row.response_status or 200, row.response_body)
    taken_over = IdempotencyKey.objects.filter(pk=row.pk, done=False, created_at__lt=Now() - ABANDONED_AFTER).update(
        created_at=Now()
    )
    if taken_over:
        return row
    raise KeyInFlight(key)


def finish_key(row: IdempotencyKey, *, status: int, body: Any) -> None:
    """Store the answer, in the transaction that claimed the key and did the work."""
    row.done, row.response_status, row.response_body = True, status, body
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reporting_idempotencykey SET done = true, response_status = %s, response_body = %s WHERE id = %s",
            [status, Jsonb(body), row.pk],  # type: ignore[list-item]  # the stubs know Django's parameter types, not psycopg's
        )


def run_once(*, user: User, key: str, fingerprint: str, work: Callable[[], tuple[int, Any]]) -> Answer:
    """Run `work` once per key: claim the key, do the work and store its (status, body) in one transaction.

    The identical request again gets the stored answer (`replayed`) without working. An exception out of
    `work` rolls back the claim with the work: the key stays free for a corrected retry. Raises KeyReused
    or KeyInFlight as `claim_key` does."""
    with transaction.atomic():
        claim = claim_key(user=user, key=key, fingerprint=fingerprint)
        if isinstance(claim, Replay):
            return Answer(claim.status, claim.body, replayed=True)
        status, body = work()
        finish_key(claim, status=status, body=body)
    return Answer(status, body)
