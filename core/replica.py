"""Reads that only read go to the read replica (`DATABASE_REPLICA_URL`); every write goes to the primary.

A read opts in as a whole with `on_replica()` (or `replica_stream()` for a streamed answer): inside it the
ORM's reads (through `ReplicaRouter`) and the raw SQL of `reader()` use the replica's connection, while a write
— the access record the read must leave, a job's status — still goes to the primary (`db_for_write`, and raw
writes keep `django.db.connection`). Without a replica, or where a read must see a write not yet replicated,
the block reads the primary: inside a transaction on the primary (it may have written in it), and for the whole
of an HTTP request that may write (`PrimaryForWrites`: a POST reads what it has just filed).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
PRIMARY = DEFAULT_DB_ALIAS

_reading = contextvars.ContextVar("onetable_read_alias", default=DEFAULT_DB_ALIAS)
_pinned = contextvars.ContextVar("onetable_pinned_to_primary", default=False)


def read_alias() -> str:
    """The database this block reads from: the replica inside `on_replica()` when it may, else the primary."""
    return _reading.get()


def reader() -> BaseDatabaseWrapper:
    """The connection raw SQL reads with (never write through it: the replica refuses writes)."""
    return connections[read_alias()]


def _replica_allowed() -> bool:
    if REPLICA not in settings.DATABASES or _pinned.get():
        return False
    # the caller may have written in its open transaction: only the primary has that write
    return not connections[DEFAULT_DB_ALIAS].in_atomic_block


@contextmanager
def on_replica() -> Iterator[str]:
    """Run a read against the replica when one is configured and the read need not see its own writes."""
    token = _reading.set(REPLICA if _replica_allowed() else DEFAULT_DB_ALIAS)
    try:
        yield _reading.get()
    finally:
        _reading.reset(token)


def replica_stream[T](make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Iterate `make()` on the replica, each step in a context of its own: a streamed response is iterated after
    the view has returned, and routing set inside a generator would leak to whatever runs between its steps."""
    context = contextvars.copy_context()
    context.run(_reading.set, REPLICA if _replica_allowed() else DEFAULT_DB_ALIAS)
    iterator = context.run(make)
    try:
        while True:
            try:
                item = context.run(next, iterator)
            except StopIteration:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            context.run(close)


@contextmanager
def primary_only() -> Iterator[None]:
    """Keep every read in this block on the primary (a request that writes reads its own writes)."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


class ReplicaRouter:
    """ORM reads follow `on_replica()`; writes, relations and migrations belong to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        instance = hints.get("instance")  # a related read follows the object it starts from, as Django's default
        if instance is not None and instance._state.db:
            return instance._state.db
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: an object read on either relates to the other

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


class PrimaryForWrites:
    """A request that may write (any method but GET, HEAD, OPTIONS) reads everything from the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return self.get_response(request)
        with primary_only():
            return self.get_response(request)
