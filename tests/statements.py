"""Count every statement a connection sends to PostgreSQL, whichever cursor sent it.

Django's `CaptureQueriesContext` only sees statements run through Django's cursor wrapper. The outbox's
hot statements run on raw psycopg cursors (`deliveries.fixed_statements`), and a server-side cursor's
FETCHes (`.iterator()`, the data and export streams) are psycopg's own: neither is counted there. So the
count is taken below psycopg, from libpq's protocol trace (`PQtrace`, exposed as `pgconn.trace()`): every
simple-protocol `Query` and every extended-protocol `Execute` message the client sends is one statement
the server runs, whichever layer sent it. Patching `psycopg.Cursor.execute` instead would miss
`executemany`, `copy`, `stream` and server-side cursors' fetches, each needing a patch of its own. A
statement prepared before counting began is shown by its prepared name (`_pg3_N`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from django.db import connection as default_connection

# One protocol message a line, tab-separated: direction (F: from the client), length, type, arguments.
# A statement's text may hold newlines: a message ends where the next one starts.
_MESSAGE = re.compile(r"^([FB])\t\d+\t(\w+)(?:\t ?(.*))?$")
_NAME = re.compile(r'^"([^"]*)" "(.*)$', re.DOTALL)
_NAMES = re.compile(r'^"([^"]*)" "([^"]*)"')


@dataclass
class Statements:
    """The statements sent while counting, in order (a prepared one is shown by the text it was parsed from)."""

    sent: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent)

    def __str__(self) -> str:
        return "\n".join(f"{n}. {text}" for n, text in enumerate(self.sent, 1))


def _read(trace: str) -> list[str]:
    messages: list[list[str]] = []
    for line in trace.splitlines():
        if _MESSAGE.match(line):
            messages.append([line])
        elif messages:
            messages[-1].append(line)
    prepared: dict[str, str] = {}
    sent: list[str] = []
    unnamed = ""
    for lines in messages:
        direction, kind, arguments = _MESSAGE.match(lines[0]).groups()  # type: ignore[union-attr]
        if direction != "F":
            continue
        text = "\n".join([arguments or "", *lines[1:]])
        # libpq quotes a string without escaping the quotes inside it (Django quotes every identifier); the
        # names of statements and portals hold none, and what follows a statement's text holds no quote
        if kind == "Query":
            sent.append(text[text.index('"') + 1 : text.rindex('"')])
        elif kind == "Parse":
            name, rest = _NAME.match(text).groups()  # type: ignore[union-attr]
            sql = rest[: rest.rindex('"')]
            if name:
                prepared[name] = sql
            else:
                unnamed = sql
        elif kind == "Bind":
            _portal, statement = _NAMES.match(text).groups()  # type: ignore[union-attr]
            if statement:
                unnamed = prepared.get(statement, statement)
        elif kind == "Execute":
            sent.append(unnamed)
    return sent


@contextmanager
def count_statements(connection=default_connection) -> Iterator[Statements]:
    """Every statement `connection` sends inside the block (Django's, raw psycopg cursors', COPY, FETCH)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    counted = Statements()
    with tempfile.TemporaryFile() as log:
        # libpq writes through a C stream (fdopen) of its own on a duplicate descriptor, flushed on untrace()
        descriptor = os.dup(log.fileno())
        pgconn.trace(descriptor)
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            yield counted
        finally:
            pgconn.untrace()  # flushes libpq's stream, now unused and empty
            os.close(descriptor)
            log.seek(0)
            counted.sent = _read(log.read().decode("utf-8", "replace"))
