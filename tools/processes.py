"""How OneTable's own processes are started and its database server is reached from outside Django.

Shared by the launcher, the benchmarks and the tests that start their own web process, so that the
web command line and the maintenance connection have one home. Nothing here imports Django.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

BIN = Path(sys.executable).parent


def web_command(port: int | str, *options: str) -> list[str]:
    """Gunicorn serving core.wsgi on loopback `port` with two workers; `options` are added after."""
    return [str(BIN / "gunicorn"), "core.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", *options]


def server_connection(url: str) -> psycopg.Connection:
    """An autocommit connection to the `postgres` database of the server `url` names (to create or drop
    databases, which cannot run inside a transaction nor on the database they touch)."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    return psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
