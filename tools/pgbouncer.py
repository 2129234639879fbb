"""A private PgBouncer in transaction mode in front of a PostgreSQL server: the test command runs the filing,
delivery and feed tests a second time through one (README, "Behind PgBouncer").

Debian's `pgbouncer` package is the binary (`apt-get install pgbouncer`; the launcher installs it when it runs as
root). It listens on a free loopback port and serves every database name of the server (`*`), so the test
database pytest-django creates is reached through it without naming it beforehand. It hands idle server
connections out in turn (`server_round_robin`) instead of the last one used, so that a client's next transaction
usually lands on another server connection: whatever code keeps on a session, across transactions, breaks in
the tests as it would in production. Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tools.embedded import free_port

INSTALL = "apt-get install pgbouncer"
PLACES = ("/usr/sbin/pgbouncer",)  # Debian installs it outside an ordinary user's PATH
READY_WITHIN = 20.0  # seconds


def find_pgbouncer(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The path of the pgbouncer binary, or None."""
    if found := which("pgbouncer"):
        return found
    return next((place for place in PLACES if os.access(place, os.X_OK)), None)


def _value(text: str) -> str:
    # a libpq-style value in PgBouncer's [databases] section: quoted when it holds a space or a quote
    return text if text and not any(c in text for c in " '\\") else "'" + text.replace("'", "''") + "'"


class PgBouncer:
    """`with PgBouncer(url, folder) as bouncer:` PgBouncer runs on 127.0.0.1:`bouncer.port` in front of the
    server `url` names, and is stopped (killed if it must be) when the block ends, however it ends."""

    def __init__(self, database_url: str, folder: Path, *, binary: str | None = None, pool_size: int = 20) -> None:
        import dj_database_url

        self.config = dj_database_url.parse(database_url)
        self.folder = folder
        self.binary = binary or find_pgbouncer() or "pgbouncer"
        self.pool_size = pool_size
        self.port = 0
        self.process: subprocess.Popen | None = None

    def ini(self) -> str:
        db = self.config
        server = [f"host={_value(db['HOST'] or '127.0.0.1')}", f"port={db['PORT'] or 5432}"]
        server.append(f"user={_value(db['USER'] or 'postgres')}")
        if db["PASSWORD"]:
            server.append(f"password={_value(db['PASSWORD'])}")
        return "\n".join(
            [
                "[databases]",
                "* = " + " ".join(server),
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                # loopback only, for one test run: clients are not asked for a password (PgBouncer logs in to
                # the server as the URL's user)
                "auth_type = any",
                "pool_mode = transaction",
                "server_round_robin = 1",
                f"default_pool_size = {self.pool_size}",
                "max_client_conn = 1000",
                "ignore_startup_parameters = extra_float_digits",
                f"admin_users = {db['USER'] or 'postgres'}",  # SHOW STATS: the test run checks it was used
                "logfile =",
                "pidfile =",
                "",
            ]
        )

    def start(self) -> int:
        """Start PgBouncer, wait until a client reaches the server through it, return its port."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        ini = self.folder / "pgbouncer.ini"
        ini.write_text(self.ini())
        argv = [self.binary]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: it drops to the server's system user
            user = _unprivileged_user()
            argv += ["-u", user]
            os.chown(ini, pwd.getpwnam(user).pw_uid, -1)
        ini.chmod(0o600)  # it may hold the server's password
        self.log = self.folder / "pgbouncer.log"
        with self.log.open("wb") as log:
            # own session: Ctrl-C reaches the launcher, which stops PgBouncer itself
            self.process = subprocess.Popen(
                [*argv, str(ini)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()
        return self.port

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + READY_WITHIN
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"PgBouncer exited at start: {self.log.read_text()[-2000:]}")
            try:
                with psycopg.connect(**self.connect_args(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def connect_args(self, dbname: str = "postgres") -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.config["USER"] or "postgres", "dbname": dbname}

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)  # PgBouncer 1.18: shut down now, closing every connection
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("PgBouncer will not run as root, and there is no `postgres` or `nobody` user to run it as")
