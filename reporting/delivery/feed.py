"""A department's pull feed: its deliveries in a stable order, read with cursors that never skip one.

Only deliveries of subscriptions that entitle the department today are served: reading twice gives the
same items while the subscriptions last.

Order is the delivery's `position` in the department's feed, given by the relay in the order its transactions
commit (`reporting.services.relay`): once a reader sees position p, every lower position of the department
has committed or never will, so a cursor handed out is never overtaken. Nothing else on the server holds the
feed back. The cursor is the last position read, in decimal ("0": from the start). A cursor of the old form
(`txid-id`, before the relay) is still accepted: it stands for the position of the last delivery at or before
it in the old order, which migration 0028 numbered in that order.
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

# a position, or the old (txid-id); ASCII digits: `\d` takes any script's
CURSOR = re.compile(r"^(?:([0-9]{1,19})-([0-9]{1,19})|([0-9]{1,18}))$")

# Only deliveries of subscriptions that still entitle the department: when one ends or expires, its
# deliveries leave the feed (design invariant 3), so reading twice gives the same items while the
# subscriptions last.
_PAGE_SQL = f"""
SELECT d.id, d.position FROM reporting_delivery d
JOIN reporting_subscription sub ON sub.id = d.subscription_id
WHERE d.department_id = %(department)s AND d.position > %(after)s
  AND {entitles_sql("sub", "%(today)s")}
ORDER BY d.position
LIMIT %(limit)s
"""

# An old cursor (txid-id): the position of the department's last delivery at or before it in the old order.
_OLD_CURSOR_SQL = """
SELECT coalesce((SELECT d.position FROM reporting_delivery d
                 WHERE d.department_id = %s AND d.txid IS NOT NULL AND (d.txid, d.id) <= (%s, %s)
                 ORDER BY d.txid DESC, d.id DESC LIMIT 1), 0)
"""


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def parse_cursor(department: Department, text: str | None) -> int:
    """The feed position a cursor stands for."""
    if not text:
        return 0
    match = CURSOR.match(text)
    if not match:
        raise Problem(field="after", rule="feed.cursor")
    if match.group(3) is not None:
        return int(match.group(3))
    with connection.cursor() as cursor:
        cursor.execute(_OLD_CURSOR_SQL, [department.pk, int(match.group(1)), int(match.group(2))])
        return cursor.fetchone()[0]


def read_feed(*, department: Department, after: str | None, limit: int) -> Page:
    """One page of the department's feed after `after`; every item read is recorded for the unit to see."""
    position = parse_cursor(department, after)
    params = {"department": department.pk, "after": position, "limit": limit + 1}
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_SQL, params | {"today": timezone.localdate()})
        rows = cursor.fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    ids = [row[0] for row in rows]  # feed order; the bodies come in id order
    bodies = dict(zip(sorted(ids), delivery_bodies(ids), strict=True)) if ids else {}
    if ids:
        record_access(ids, AccessKind.PULLED)
    next_cursor = str(rows[-1][1] if rows else position)
    return Page([json.loads(bodies[i]) for i in ids], next_cursor, has_more)
