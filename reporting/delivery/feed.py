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

# An old cursor (txid-id) named the last delivery a page gave: its position. A pair that names no delivery of the
# department was never given out (the old "0-0" is the start): read as "the last one before it", a made-up pair
# past the end would read nothing forever, and one before the first would read everything again.
_OLD_CURSOR_SQL = """
SELECT d.position FROM reporting_delivery d WHERE d.department_id = %s AND d.txid = %s AND d.id = %s
"""

_LAST_POSITION_SQL = "SELECT coalesce((SELECT last FROM reporting_feedcounter WHERE department_id = %s), 0)"

_BIGINT = 2**63 - 1


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def parse_cursor(department: Department, text: str | None) -> int:
    """The feed position a cursor stands for; one the department's feed never gave out is refused by name."""
    if not text:
        return 0
    match = CURSOR.match(text)
    if not match:
        raise _not_given(text)
    if match.group(3) is not None:
        position = int(match.group(3))
        with connection.cursor() as cursor:
            cursor.execute(_LAST_POSITION_SQL, [department.pk])
            if position > cursor.fetchone()[0]:  # past the last position given: no page ever ended there
                raise _not_given(text)
        return position
    txid, pk = int(match.group(1)), int(match.group(2))
    if txid == pk == 0:
        return 0
    row = None
    if txid <= _BIGINT and pk <= _BIGINT:
        with connection.cursor() as cursor:
            cursor.execute(_OLD_CURSOR_SQL, [department.pk, txid, pk])
            row = cursor.fetchone()
    if row is None:
        raise _not_given(text)
    return row[0]


def _not_given(text: str) -> Problem:
    return Problem(field="after", rule="feed.cursor").labelled(f"游标“{text}”", f"the cursor “{text}”")


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
