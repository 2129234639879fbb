"""What SQL text the application builds itself: PostgreSQL array literals."""

from __future__ import annotations

from collections.abc import Iterable


def array_literal(items: Iterable[int | str | None]) -> str:
    """A PostgreSQL array literal of ids or texts (None: NULL), to cast with `%s::bigint[]` or `%s::text[]`.

    One string for the whole array: psycopg dumps a list element by element, which costs more CPU than
    the query it feeds when the arrays are long (see docs/benchmarks.md)."""
    return "{" + ",".join(_element(item) for item in items) + "}"


def _element(item: int | str | None) -> str:
    if item is None:
        return "NULL"
    if isinstance(item, str):  # quoted, so a comma, brace, space or the word NULL stays text
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(int(item))
