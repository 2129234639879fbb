"""Append-only audit of state changes, sealed after commit into a tamper-evident hash chain.

Filings insert their events unsealed and concurrently; `seal_events` (a housekeeping task, every few
seconds) chains them. Chaining at insert would make every filing wait for the one before it: one global lock.

Order. Once a row is sealed nothing may later appear before it, so the chain follows the inserting
transactions, not a sequence (id 8 may commit before id 7). The sealer takes only rows whose transaction is
older than every transaction of this database still running in its snapshot (`SETTLED`): those are all
settled — committed, or rolled back and gone — and any row inserted later has a larger txid. Transactions of
other databases on the server are left out of that bound (they cannot write this table), so a long one there
no longer holds the seal back; a running transaction whose database cannot be told (it ended meanwhile, a
prepared one) is counted as this database's, which only delays. It seals them in (txid, id) order under an
advisory lock (one sealer at a time; a second one skips, it never waits), numbering them `seq` 1, 2, 3…
Across transactions that ran at the same time this is the order their ids were taken, which may differ
from the order their commits landed; what the chain needs is that the order is fixed at sealing and is the
same when it is verified later, and this order is.

Where the seal lives: on the row (`seq`, `hash`), which the table's trigger lets be set exactly once, from
empty, with every other column unchanged. The database stamps `txid` on insert, so an INSERT cannot choose
its place in the chain or bring a seal of its own.

Hash: sha256 of the previous hash and the row's canonical JSON (position included); the first row's previous
hash is 64 zeros. The newest (position, hash) of each seal is also written outside the table — to the logger
`onetable.audit` and appended to ONETABLE_AUDIT_SEAL_LOG — so that removing the newest rows, or rewriting
the chain with recomputed hashes, no longer matches what was written out. `verify_chain` checks all of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.models import AuditEvent, User
from core.rows import insert

logger = logging.getLogger("onetable.audit")

GENESIS = "0" * 64
CHAINED = ("id", "txid", "at", "actor_id", "action", "target_type", "target_id", "detail")
SEAL_LOCK = 0x6F74_6175_6469_7431  # pg_advisory_xact_lock key of the one sealer ("otaudit1")
# The settled bound: the oldest transaction still running in the statement's snapshot, leaving out those known to
# run in another database (its holder's own lock on its transaction id names the backend, and the backend its
# database); with none, the snapshot's xmax. Every transaction below the bound had ended when the rows were read.
SETTLED = """(
SELECT coalesce(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
FROM pg_snapshot_xip(pg_current_snapshot()) AS x
WHERE NOT EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'transactionid' AND l.granted AND l.transactionid = xid(x)
      AND a.datname <> current_database()))"""
UNSEALED_FOR = dt.timedelta(minutes=1)

F = TypeVar("F", bound=Callable[..., Any])

# What each service module's public functions do to the audit, by "module.name": the actions a state change
# writes, or why a function writes none. tests/reporting/test_services_audited.py walks the service modules
# and fails on a public function that is in neither, and on an audited one whose scenario leaves no event.
AUDITED: dict[str, tuple[str, ...]] = {}
NOT_AUDITED: dict[str, str] = {}


def _name(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__name__}"


def audited(*actions: str) -> Callable[[F], F]:
    """Declare a service that changes state and the audit actions it records."""

    def declare(function: F) -> F:
        AUDITED[_name(function)] = actions
        return function

    return declare


def unaudited(why: str) -> Callable[[F], F]:
    """Declare a public function of a service module that records no audit event, and why."""

    def declare(function: F) -> F:
        NOT_AUDITED[_name(function)] = why
        return function

    return declare


read_only = unaudited("reads only")


def record(*, action: str, target: models.Model, actor: User | None = None, **detail: Any) -> AuditEvent:
    """Append one audit event for a change to `target`; `detail` says what changed, never a secret."""
    return insert(
        AuditEvent(
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            detail=detail,
        )
    )


def chain_hash(previous: str, seq: int, row: tuple) -> str:
    """The chain's hash through the event `row` (values of CHAINED) at position `seq`."""
    event_id, txid, at, actor_id, action, target_type, target_id, detail = row
    body = json.dumps(
        [seq, event_id, txid, at.astimezone(dt.UTC).isoformat(), actor_id, action, target_type, target_id, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((previous + body).encode()).hexdigest()


def seal_events(*, batch: int = 1000) -> int:
    """Chain every settled unsealed event, in chain order; return how many were sealed."""
    sealed = 0
    while (count := _seal_batch(batch)) == batch:
        sealed += count
    return sealed + count


@transaction.atomic
def _seal_batch(limit: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK])
        if not cursor.fetchone()[0]:
            return 0  # another sealer is at work and takes these rows too
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
    seq, previous = (last[0] or 0, last[1] or GENESIS) if last is not None else (0, GENESIS)  # sealed: both set
    settled = AuditEvent.objects.filter(seq__isnull=True, txid__lt=RawSQL(SETTLED, []))
    rows = list(settled.order_by("txid", "id").values_list(*CHAINED)[:limit])
    if not rows:
        return 0
    ids, seqs, hashes = [], [], []
    for row in rows:
        seq += 1
        previous = chain_hash(previous, seq, row)
        ids.append(row[0])
        seqs.append(seq)
        hashes.append(previous)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent e SET seq = s.seq, hash = s.hash "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS s(id, seq, hash) WHERE e.id = s.id",
            [ids, seqs, hashes],
        )
    transaction.on_commit(partial(_write_out, seq, previous))
    return len(rows)


def _write_out(seq: int, digest: str) -> None:
    """Record the newest seal outside the table: the log, and the seal file when one is configured."""
    logger.info("audit chain sealed through position %d: %s", seq, digest, extra={"seq": seq, "hash": digest})
    path = settings.ONETABLE_AUDIT_SEAL_LOG
    if not path:
        return
    line = json.dumps({"seq": seq, "hash": digest, "at": timezone.now().isoformat()})
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
    except OSError:
        logger.exception("could not append the audit seal to %s", path)


@dataclass(frozen=True)
class Finding:
    kind: str  # changed, removed, out_of_order, unsealed
    message: str


def read_seal_log(path: Path) -> dict[int, str]:
    """The seals written out to `path`: {position: hash}; a line that cannot be read raises ValueError."""
    seals: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            seals[int(entry["seq"])] = str(entry["hash"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}, line {number}: not a seal") from None
    return seals


def verify_chain(*, written: dict[int, str], now: dt.datetime | None = None) -> list[Finding]:
    """Check the sealed chain against itself and the seals `written` out; list what was tampered with."""
    finding, last = _walk_chain(written)
    findings = [finding] if finding else []
    if not finding and written and max(written) > last[0]:
        top = max(written)
        findings.append(
            Finding(
                "removed",
                f"the newest sealed events were removed: the chain ends at position {last[0]}, "
                f"but position {top} was sealed ({written[top]})",
            )
        )
    return findings + _check_unsealed(last, now or timezone.now())


def _walk_chain(written: dict[int, str]) -> tuple[Finding | None, tuple[int, int, int]]:
    """Walk the sealed events in chain order up to the first that does not hold; return it and the last that
    did (position, txid, id)."""
    position, previous, order = 0, GENESIS, (-1, -1)
    sealed = AuditEvent.objects.filter(seq__isnull=False).order_by("seq")
    while page := list(sealed.filter(seq__gt=position).values_list("seq", "hash", *CHAINED)[:2000]):
        for seq, digest, *row in page:
            if finding := _broken_at(seq, digest, tuple(row), position + 1, previous, order, written):
                return finding, (position, *order)
            position, previous, order = seq, digest, (row[1], row[0])
    return None, (position, *order)


def _broken_at(
    seq: int, digest: str, row: tuple, expected: int, previous: str, order: tuple[int, int], written: dict[int, str]
) -> Finding | None:
    event_id, txid = row[0], row[1]
    if seq != expected:
        missing = seq - expected
        return Finding(
            "removed",
            f"position {expected} is missing: {missing} sealed event(s) removed before event {event_id} "
            f"(position {seq})",
        )
    if txid is None or (txid, event_id) <= order:
        return Finding(
            "out_of_order",
            f"event {event_id} at position {seq} was inserted out of order (transaction {txid}, after {order[0]})",
        )
    if chain_hash(previous, seq, row) != digest:
        return Finding(
            "changed", f"event {event_id} at position {seq} was changed (or the hash of the event before it was)"
        )
    if written.get(seq, digest) != digest:
        return Finding(
            "changed",
            f"the chain at position {seq} differs from the seal written out when it was sealed: events up to event "
            f"{event_id} were changed and the chain rewritten",
        )
    return None


def _check_unsealed(last: tuple[int, int, int], now: dt.datetime) -> list[Finding]:
    findings = []
    _seq, txid, event_id = last
    unsealed = AuditEvent.objects.filter(seq__isnull=True)
    behind = unsealed.filter(Q(txid__isnull=True) | Q(txid__lt=txid) | Q(txid=txid, id__lt=event_id))
    if stray := behind.order_by("txid", "id").first():
        findings.append(
            Finding(
                "out_of_order",
                f"event {stray.pk} was inserted out of order: it is unsealed but belongs "
                f"before the sealed chain (transaction {stray.txid})",
            )
        )
    late = unsealed.filter(at__lt=now - UNSEALED_FOR)
    if oldest := late.order_by("at", "id").first():
        findings.append(
            Finding(
                "unsealed",
                f"{late.count()} event(s) unsealed for more than a minute, the oldest event "
                f"{oldest.pk} since {oldest.at.isoformat()}",
            )
        )
    return findings
