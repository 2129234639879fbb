"""Where each value of a version came from: the words deliveries, reads and the DHIS2 face use for it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class Origin(StrEnum):
    TYPED = "typed"  # the unit typed it (for a field with a source: the register had no value, a gap)
    CARRIED = "carried"  # a stable fact carried forward from an earlier period and confirmed unchanged
    REGISTER = "register"  # supplied by the field's source department
    CONFIRMED = "confirmed"  # a register value the unit confirmed by filing
    DISPUTED = "disputed"  # the unit's own value, disputing the register's (which stays the current value)


_TYPED, _CARRIED, _CONFIRMED, _DISPUTED = (
    o.value for o in (Origin.TYPED, Origin.CARRIED, Origin.CONFIRMED, Origin.DISPUTED)
)


def origins(
    *, source_id: int | None, values: Iterable[str], carried: list[str], confirmed: list[str], disputed: dict[str, Any]
) -> dict[str, str]:
    """Per value of a version (`values`: their codes, or the values by code), its origin: every value of a supply
    came from the register."""
    if source_id is not None:
        return dict.fromkeys(values, Origin.REGISTER.value)
    if not (disputed or confirmed or carried):  # most filings: every value typed (a sender's hot path)
        return dict.fromkeys(values, Origin.TYPED.value)
    found = {}
    confirmed_, carried_ = set(confirmed), set(carried)  # a version's lists hold up to 200 codes each
    for code in values:  # the words read once: an enum member's `.value` is a descriptor call each time
        if code in disputed:
            found[code] = _DISPUTED
        elif code in confirmed_:
            found[code] = _CONFIRMED
        elif code in carried_:
            found[code] = _CARRIED
        else:
            found[code] = _TYPED
    return found


def origin_sql(*, code: str, source: str, version: str) -> str:
    """The SQL twin of `origins` for one value: `code` a text expression, `source` the submission's `source_id`
    expression, `version` the alias of its version row. tests/sources/test_subscriber_receives.py checks that
    the two agree on every combination."""
    return (
        f"CASE WHEN {source} IS NOT NULL THEN '{Origin.REGISTER.value}'"
        f" WHEN {version}.disputed ? {code} THEN '{Origin.DISPUTED.value}'"
        f" WHEN {code} = ANY({version}.confirmed) THEN '{Origin.CONFIRMED.value}'"
        f" WHEN {code} = ANY({version}.carried) THEN '{Origin.CARRIED.value}'"
        f" ELSE '{Origin.TYPED.value}' END"
    )
