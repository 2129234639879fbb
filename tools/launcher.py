"""Run OneTable and its tests on the real stack, embedded or given.

`python -m tools.launcher run` serves web + a Celery worker per queue + Celery beat;
`python -m tools.launcher test [pytest args]` runs the suite;
`python -m tools.launcher supervise -- COMMAND…` keeps one command running (restarted when it dies). Without
DATABASE_URL / REDIS_URL both start private PostgreSQL and Redis servers under
the data folder (ONETABLE_DATA_DIR, default ./var) and stop them on exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from core.demo_accounts import DEMO_ACCOUNTS, DEMO_PASSWORD
from tools.embedded import EmbeddedPostgres, EmbeddedRedis, data_dir
from tools.pgbouncer import INSTALL as INSTALL_PGBOUNCER
from tools.pgbouncer import PgBouncer, find_pgbouncer
from tools.processes import server_connection, web_command

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def say(message: str) -> None:
    print(f"[onetable] {message}", flush=True)


@contextlib.contextmanager
def servers(folder: Path) -> Iterator[None]:
    """Make DATABASE_URL and REDIS_URL point somewhere, starting private servers if unset."""
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(folder / "postgres")
            started.append(pg)
            os.environ["DATABASE_URL"] = pg.start()
            say(f"embedded PostgreSQL running, data in {folder / 'postgres'}")
        if not os.environ.get("REDIS_URL"):
            redis = EmbeddedRedis(folder / "redis")
            started.append(redis)
            os.environ["REDIS_URL"] = redis.start()
            say(f"embedded Redis running at {os.environ['REDIS_URL']}")
        yield
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            say("embedded servers stopped")


def persistent_secret(folder: Path) -> str:
    path = folder / "secret_key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def manage(*args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


class Supervisor:
    """Start child processes and keep them running: one that dies is restarted after a backoff (said on the
    console), the others go on; only Ctrl-C / SIGTERM stops them all.

    Written here rather than taken from supervisord or honcho: those stop everything (honcho) or need a
    daemon and a config file (supervisord), and the run command must stay one Python process."""

    FIRST_BACKOFF = 1.0  # seconds before the first restart
    LONGEST_BACKOFF = 30.0
    STABLE_AFTER = 60.0  # a child that ran this long before dying starts its backoff afresh

    def __init__(self, *, own_groups: bool = True) -> None:
        # own_groups=False keeps the children in the supervisor's process group: whoever kills that group kills
        # them too (`supervise`, run by the fault tests, which stop their processes so)
        self.own_groups = own_groups
        self.children: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}
        self.started_at: dict[str, float] = {}
        self.crashes: dict[str, int] = {}
        self.restart_at: dict[str, float] = {}
        self.stopping = False

    def start(self, name: str, argv: list[str]) -> None:
        # Own process group: Ctrl-C goes to the supervisor, which stops children in order.
        self.argv[name] = argv
        self.children[name] = subprocess.Popen(argv, cwd=ROOT, start_new_session=self.own_groups)
        self.started_at[name] = time.monotonic()

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def wait(self) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        while not self.stopping:
            self.tend()
            time.sleep(0.3)
        self.stop_all()
        return 0

    def tend(self) -> None:
        """Schedule a restart for each child that died, and restart those whose backoff has passed."""
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if name in self.restart_at:
                if now >= self.restart_at[name]:
                    del self.restart_at[name]
                    self.start(name, self.argv[name])
                    say(f"{name} restarted (pid {self.children[name].pid})")
            elif child.poll() is not None:
                stable = now - self.started_at[name] >= self.STABLE_AFTER
                self.crashes[name] = 1 if stable else self.crashes.get(name, 0) + 1
                delay = min(self.LONGEST_BACKOFF, self.FIRST_BACKOFF * 2 ** (self.crashes[name] - 1))
                self.restart_at[name] = now + delay
                say(f"{name} exited with code {child.returncode}; restarting it in {delay:g} s, the others go on")

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()


# One worker process per queue, as production runs them (docker-compose.yml): on one machine too, an export
# or the outbox sweep never waits behind a deadline burst of sends, and a crashed kind is restarted alone.
# Four small processes cost some memory; one process taking every queue would let sends fill all its threads.
WORKERS = (("relay", "2"), ("send", "8"), ("export", "2"), ("housekeeping", "2"))


def worker_command(queue: str, threads: str) -> list[str]:
    """A Celery worker taking one queue, named after it (so two on one host do not share a node name)."""
    celery = str(BIN / "celery")
    return [
        celery,
        "-A",
        "core",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "-l",
        "info",
        "-P",
        "threads",
        "-c",
        threads,
    ]


def run() -> int:
    folder = data_dir()
    os.environ.setdefault("SECRET_KEY", persistent_secret(folder))
    # The local run serves plain HTTP on loopback; production sets HTTPS=1 (docker-compose does).
    os.environ.setdefault("HTTPS", "0")
    os.environ.setdefault("ONETABLE_DATA_DIR", str(folder))
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    with servers(folder):
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        manage("load_demo")
        receiver_port = os.environ.get("DEMO_RECEIVER_PORT", "8099")
        if receiver_port != "0":
            # the pushed departments' endpoints exist before a worker relays the demo's filings and supplies: a
            # delivery made for a subscription without an endpoint stays in the feed and is never pushed
            manage("demo_receiver", "--port", receiver_port, "--endpoints-only")
        sup = Supervisor()
        sup.start(
            "web",
            web_command(port, "--threads", "4", "--access-logfile", "-"),
        )
        if receiver_port != "0":  # started before the senders, so the first pushes seldom wait for a retry
            sup.start("receiver", [PYTHON, str(ROOT / "manage.py"), "demo_receiver", "--port", receiver_port])
        for queue, threads in WORKERS:
            sup.start(f"{queue} worker", worker_command(queue, threads))
        sup.start(
            "beat", [str(BIN / "celery"), "-A", "core", "beat", "-l", "info", "-s", str(folder / "celerybeat-schedule")]
        )
        if receiver_port != "0":
            # the demo's pulling departments (civil affairs, statistics) read their feed through the API
            reader = [PYTHON, str(ROOT / "manage.py"), "demo_feed_reader", "--base-url", f"http://127.0.0.1:{port}"]
            sup.start("feed reader", reader)
        banner(port)
        if receiver_port != "0":
            say(f"the demo departments' webhook receiver shows what reached them: http://127.0.0.1:{receiver_port}/")
            say("the civil affairs and statistics bureaus' systems read their feed: their lines start with civil/stats")
        return sup.wait()


def banner(port: str) -> None:
    say(f"OneTable is running at http://127.0.0.1:{port}/   (Ctrl-C stops everything)")
    say(f"demo logins (password for all: {DEMO_PASSWORD}):")
    for username, who in DEMO_ACCOUNTS:
        say(f"  {username:<16} {who}")


class Missing(Exception):
    """Something the test suite needs is not installed and cannot be installed from here; one line says what."""


CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_CHROMIUM = "apt-get install chromium"


def find_chromium(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """Return the path of Debian's Chromium (the end-to-end tests drive it through Playwright), or None."""
    for name in CHROMIUM_NAMES:
        if found := which(name):
            return found
    return None


def apt_install(package: str) -> None:
    # Playwright's own browser download cannot reach its server from an offline intranet; Debian's mirror can.
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        if subprocess.run(argv, env=quiet, stdout=subprocess.DEVNULL).returncode != 0:
            raise Missing(f"`{' '.join(argv)}` failed: run `apt-get install {package}` by hand, then try again")


def ensure_chromium(
    *,
    which: Callable[[str], str | None] = shutil.which,
    root: bool | None = None,
    install: Callable[[str], None] = apt_install,
) -> str:
    """Return Chromium's path, installing Debian's package first when running as root."""
    if found := find_chromium(which):
        return found
    if not (os.geteuid() == 0 if root is None else root) or not which("apt-get"):
        raise Missing(f"the browser tests need Chromium, which is not installed: run `sudo {INSTALL_CHROMIUM}` first")
    say("installing Debian's chromium for the browser tests (apt-get)")
    install("chromium")
    if found := find_chromium(which):
        return found
    raise Missing(f"{INSTALL_CHROMIUM} left no chromium on PATH: install it by hand and try again")


def ensure_pgbouncer(
    *,
    which: Callable[[str], str | None] = shutil.which,
    root: bool | None = None,
    install: Callable[[str], None] = apt_install,
) -> str:
    """Return PgBouncer's path, installing Debian's package first when running as root."""
    if found := find_pgbouncer(which):
        return found
    if not (os.geteuid() == 0 if root is None else root) or not which("apt-get"):
        raise Missing(
            f"the tests through PgBouncer need pgbouncer, which is not installed: run `sudo {INSTALL_PGBOUNCER}`"
        )
    say("installing Debian's pgbouncer for the tests through PgBouncer (apt-get)")
    install("pgbouncer")
    if found := find_pgbouncer(which):
        return found
    raise Missing(f"{INSTALL_PGBOUNCER} left no pgbouncer binary: install it by hand and try again")


# Debian's libfaketime: tests/deliveries/test_clock_skew.py preloads it into worker processes to skew their clocks.
FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
INSTALL_FAKETIME = "apt-get install libfaketime"


def ensure_libfaketime(
    *,
    library: Path = FAKETIME_LIBRARY,
    which: Callable[[str], str | None] = shutil.which,
    root: bool | None = None,
    install: Callable[[str], None] = apt_install,
) -> Path:
    """Return libfaketime's path, installing Debian's package first when running as root."""
    if library.exists():
        return library
    if not (os.geteuid() == 0 if root is None else root) or not which("apt-get"):
        raise Missing(f"the clock-skew test needs libfaketime, which is missing: run `sudo {INSTALL_FAKETIME}` first")
    say("installing Debian's libfaketime for the clock-skew test (apt-get)")
    install("libfaketime")
    if library.exists():
        return library
    raise Missing(f"{INSTALL_FAKETIME} left no {library}: install it by hand and try again")


# Run a second time through PgBouncer in transaction mode (README, "Behind PgBouncer"): what files, delivers
# and serves the feed, and what keeps state across transactions (locks, maintenance, the supply jobs' worker).
POOLED_TESTS = [
    "tests/deliveries",
    "tests/reporting/test_submissions.py",
    "tests/reporting/test_idempotency_race.py",
    "tests/sources/test_supply_jobs.py",
    "tests/core/test_append_only.py",
    "tests/core/test_pooler.py",
]


def test(args: list[str]) -> int:
    """`test [pytest args]`: the suite, then (without arguments) the pooled tests again through PgBouncer.
    `test --pgbouncer [pytest args]`: only the run through PgBouncer (of POOLED_TESTS without arguments)."""
    pooled_only = args[:1] == ["--pgbouncer"]
    try:
        if not pooled_only:
            ensure_chromium()
            ensure_libfaketime()
        pgbouncer = ensure_pgbouncer() if pooled_only or not args else None
    except Missing as missing:  # before starting anything: one line, nothing run
        say(str(missing))
        return 1
    folder = data_dir() / "test"
    os.environ.setdefault("SECRET_KEY", "test-" + secrets.token_urlsafe(40))
    os.environ.setdefault("HTTPS", "0")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # CI's timeout: PgBouncer and the servers are stopped too
    codes = []
    with servers(folder):
        if not pooled_only:
            codes.append(_pytest(args))
        if pgbouncer:
            codes.append(_pytest_through_pgbouncer(pgbouncer, folder, args[1:] or POOLED_TESTS))
    return next((code for code in codes if code), 0)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks that stop what this command started


def _pytest(args: list[str], env: dict[str, str] | None = None) -> int:
    code = subprocess.run([PYTHON, "-m", "pytest", *args], cwd=ROOT, env=env).returncode
    if code == 5:
        say("pytest collected no tests: that is a failure, not a pass")
        return 1
    return code


def _pytest_through_pgbouncer(binary: str, folder: Path, args: list[str]) -> int:
    """pytest with the test database reached through a PgBouncer in transaction mode started for it (stopped at
    the end, however pytest ends); the test run creates and drops its database directly (tests/conftest.py)."""
    with PgBouncer(os.environ["DATABASE_URL"], folder / "pgbouncer", binary=binary) as bouncer:
        say(f"again through PgBouncer in transaction mode (127.0.0.1:{bouncer.port}): {' '.join(args)}")
        env = {**os.environ, "DATABASE_POOLER": "pgbouncer", "ONETABLE_TEST_PGBOUNCER": f"127.0.0.1:{bouncer.port}"}
        return _pytest(args, env)


def bench(args: list[str]) -> int:
    """Benchmarks on a database of their own: the configured one, or the embedded server, with `_bench` appended."""
    folder = data_dir() / "bench"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault("HTTPS", "0")
    os.environ.setdefault("ONETABLE_DATA_DIR", str(folder))
    with servers(folder):
        os.environ["DATABASE_URL"] = _bench_database(os.environ["DATABASE_URL"])
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}  # production's, and the anchor's views
        return subprocess.run([PYTHON, "-m", "bench.run", *args], cwd=ROOT, env=env).returncode


def _bench_database(url: str) -> str:
    import dj_database_url

    name = dj_database_url.parse(url)["NAME"] + "_bench"
    with server_connection(url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def supervise(argv: list[str]) -> int:
    """`supervise -- COMMAND…`: run one command and restart it whenever it dies, as `run` does for each kind and
    docker-compose's restart policy does (the fault tests run a worker so where a worker may exit by itself)."""
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("supervise needs a command: supervise -- COMMAND [ARGS]", file=sys.stderr)
        return 2
    supervisor = Supervisor(own_groups=False)
    supervisor.start(Path(argv[0]).name, argv)
    return supervisor.wait()


def main(argv: list[str]) -> int:
    commands = {
        "run": lambda: run(),
        "test": lambda: test(argv[1:]),
        "bench": lambda: bench(argv[1:]),
        "supervise": lambda: supervise(argv[1:]),
    }
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
