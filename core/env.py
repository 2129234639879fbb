"""Read settings from the environment; a malformed value stops start-up naming the variable."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _bad(name: str, value: str, rule: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"environment variable {name}={value!r} is malformed: {rule}")


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value in (None, ""):
        if required:
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _bad(name, value, "expected one of 1/0, true/false, yes/no, on/off")


def env_choice(name: str, choices: list[str]) -> str:
    """One of `choices` (the first when unset)."""
    value = _raw(name)
    if value is None:
        return choices[0]
    if value.lower() not in choices:
        raise _bad(name, value, "expected one of " + ", ".join(repr(c) for c in choices))
    return value.lower()


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(name, value, "expected a whole number") from None
    if minimum is not None and number < minimum:
        raise _bad(name, value, f"must be at least {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise _bad(name, value, "expected a comma-separated list without empty items")
    return items


def env_database(name: str) -> dict[str, Any]:
    value = env_str(name, required=True)
    assert value is not None
    scheme = urlsplit(value).scheme
    if scheme not in ("postgres", "postgresql", "pgsql"):
        raise _bad(name, value, "OneTable runs on PostgreSQL only: expected postgres://user@host:port/dbname")
    try:
        config = dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise _bad(name, value, str(error)) from None
    if not config.get("NAME"):
        raise _bad(name, value, "the URL names no database")
    return dict(config)


def env_redis(name: str) -> str:
    """A Redis URL, `redis://host:port/db`, or sentinels in kombu's own form,
    `sentinel://[:password@]host:port/db;sentinel://host:port;…` (the master's name comes separately)."""
    value = env_str(name, required=True)
    assert value is not None
    if value.startswith("sentinel://"):
        for part in value.split(";"):
            _check_redis_part(name, value, part, ("sentinel",), "expected sentinel://host:port/db;sentinel://host:port")
        return value
    _check_redis_part(name, value, value, ("redis", "rediss"), "expected redis://host:port/db")
    return value


def _check_redis_part(name: str, value: str, part: str, schemes: tuple[str, ...], rule: str) -> None:
    parts = urlsplit(part.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise _bad(name, value, rule)
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise _bad(name, value, "the port is not a number") from None
