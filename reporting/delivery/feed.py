"""A department's pull feed: its deliveries in a stable order, read with cursors that never skip one.

Only deliveries of subscriptions that entitle the department today are served: reading twice gives the
same items while the subscriptions last.

Order is (txid, id). Only rows of transactions older than every transaction
still running are shown (`pg_snapshot_xmin`), so a transaction that began
earlier but commits later can never slip in behind a cursor already handed out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from core.models import Department
from reporting.models import AccessKind, entitles_sql
from reporting.rejections import Problem
from reporting.services.deliveries import delivery_bodies, record_access

CURSOR = re.compile(r"^([0-9]{1,19})-([0-9]{1,19})$")  # ASCII digits: `\d` takes any script's

# Only deliveries of subscriptions that still entitle the department: when one ends or expires, its
# deliveries leave the feed (design invariant 3), so reading twice gives the same items while the
# subscriptions last.
_PAGE_SQL = f"""
SELECT d.id, d.txid FROM reporting_delivery d
JOIN reporting_subscription sub ON sub.id = d.subscription_id
WHERE d.department_id = %(department)s AND (d.txid, d.id) > (%(txid)s, %(id)s)
  AND d.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
  AND {entitles_sql("sub", "%(today)s")}
ORDER BY d.txid, d.id
LIMIT %(limit)s
"""


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def parse_cursor(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 0
    match = CURSOR.match(text)
    if not match:
        raise Problem(field="after", rule="feed.cursor")
    return int(match.group(1)), int(match.group(2))


def read_feed(*, department: Department, after: str | None, limit: int) -> Page:
    """One page of the department's feed after `after`; every item read is recorded for the unit to see."""
    txid, last_id = parse_cursor(after)
    params = {"department": department.pk, "txid": txid, "id": last_id, "limit": limit + 1}
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_SQL, params | {"today": timezone.localdate()})
        rows = cursor.fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    ids = [row[0] for row in rows]  # (txid, id) order; the bodies come in id order
    bodies = dict(zip(sorted(ids), delivery_bodies(ids), strict=True)) if ids else {}
    if ids:
        record_access(ids, AccessKind.PULLED)
    next_cursor = f"{rows[-1][1]}-{rows[-1][0]}" if rows else (after or "0-0")
    return Page([json.loads(bodies[i]) for i in ids], next_cursor, has_more)
