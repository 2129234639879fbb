"""Reading what a request writes as text (query strings, form fields, headers): whole numbers, row ids, JSON
objects. One rule each, for the pages and the API's input serializers alike: a wrong one is None or a Problem
naming it, never an exception Python raises on its own.

Why not `str.isdigit()` and `int()`: `isdigit()` accepts '²' and '١٢'; `int()` refuses the first (a server
error after the check said yes) and reads the second. Numbers here are ASCII digits, and at most 18 of them
(PostgreSQL's bigint holds any such number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from reporting.rejections import Problem, unstorable

_WHOLE = re.compile(r"[0-9]{1,18}")


def whole_number(text: Any) -> int | None:
    """A non-negative whole number written in ASCII digits, or None for anything else."""
    return int(text) if isinstance(text, str) and _WHOLE.fullmatch(text) else None


# what a Chinese input method types for 0–9 in a form: read as the digits they are, as a filing's values are
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def number_in(text: Any, *, field: str, low: int, high: int, label_zh: str = "", label_en: str = "") -> int:
    """A whole number from `low` to `high` typed into a page's form (full-width digits too), or a Problem
    naming `field`."""
    number = whole_number(text.translate(_FULL_WIDTH) if isinstance(text, str) else text)
    if number is None or not low <= number <= high:
        raise Problem(
            field=field, rule="number.range", params={"min": low, "max": high}, label_zh=label_zh, label_en=label_en
        )
    return number


def json_object(text: str | None, *, field: str) -> dict[str, Any]:
    """A JSON object typed into a form (a field's constraints), or a Problem naming `field` when it is not
    JSON, not an object, nested past what the decoder follows, or holds text OneTable does not keep."""
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        raise Problem(field=field, rule="body.object") from None
    if not isinstance(data, dict):
        raise Problem(field=field, rule="body.object")
    problems = unstorable(data, field)
    if problems:
        raise problems[0]
    return data


def repeated(query: Mapping[str, Any], *, many: Iterable[str] = ()) -> list[Problem]:
    """A Problem naming each parameter of a query string given more than once, but those in `many` (which take a
    list: the data's `fields`): a QueryDict reads the last of `?field=a&field=b`, and the answer was about b
    while the reader asked about both."""
    getlist = getattr(query, "getlist", None)
    if getlist is None:  # a JSON body: one value per key by construction
        return []
    allowed = set(many)
    return [
        Problem(field=name, rule="param.repeated", params={"name": name, "count": len(getlist(name))})
        for name in query
        if name not in allowed and len(getlist(name)) > 1
    ]
