"""The README's run command, end to end: embedded servers, demo, web + a worker per queue + beat, clean Ctrl-C."""

import http.cookiejar
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from core.celery import QUEUES
from tests.waiting import wait_for
from tools.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class _Browser:
    """Just enough of a browser: cookies, and the CSRF token of the form it fetched first."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post_form(self, url: str, fields: dict[str, str]) -> str:
        page = self.opener.open(url, timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        return self.opener.open(request, timeout=10).read().decode()


def test_the_run_command_serves_the_site_and_ctrl_c_leaves_nothing_behind(tmp_path):
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    receiver_port = free_port()
    environment.update(ONETABLE_DATA_DIR=str(tmp_path / "data"), PORT=str(port), DEMO_RECEIVER_PORT=str(receiver_port))
    log = (tmp_path / "run.log").open("w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "tools.launcher", "run"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert launcher.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        assert status == 200 and '"healthy"' in body
        status, body = _get(f"http://127.0.0.1:{port}/login/")
        assert status == 200 and "一表通" in body
        output = (tmp_path / "run.log").read_text()
        assert "demo logins" in output and "village" in output
        family = psutil.Process(launcher.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "gunicorn" in names and "worker" in names and "beat" in names and "redis-server" in names
        assert "demo_receiver" in names and "demo_feed_reader" in names
        postgres = [
            p
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path) in " ".join(p.info["cmdline"] or []) and "postgres" in " ".join(p.info["cmdline"] or [])
        ]
        assert postgres, "embedded PostgreSQL is running under the data folder"

        # the demo county's own 2026Q3 filings were relayed and pushed to the departments that take them by webhook
        def pushed() -> list[str]:
            sections = _get(f"http://127.0.0.1:{receiver_port}/")[1].split("<h2>")[1:]
            return sorted(s.split("<")[0] for s in sections if "village_basics 2026Q3 v1" in s)

        assert wait_for(lambda: pushed() == ["culture", "propaganda"], 60, every=0.5), output
        # filing in the demo visibly reaches two departments within a few seconds
        base = f"http://127.0.0.1:{port}"
        browser = _Browser()
        browser.post_form(f"{base}/login/", {"username": "village", "password": "onetable-demo"})
        title = "演示活动-" + str(port)
        browser.post_form(
            f"{base}/ledger/cultural_activity/new/",
            {
                "v__activity_date": "2026-11-08",
                "v__activity_title": title,
                "v__activity_venue": "文化广场",
                "v__activity_category": "performance",
                "v__attendance": "88",
                "action": "submit",
            },
        )
        assert wait_for(lambda: _get(f"http://127.0.0.1:{receiver_port}/")[1].count(title) == 2, 15, every=0.2), (
            output  # one copy for propaganda, one for culture
        )
        # a worker per queue; a killed one (the senders) is restarted and the web server never stops: filings
        # are accepted meanwhile
        workers = {p.cmdline()[p.cmdline().index("-Q") + 1]: p for p in family if "-Q" in p.cmdline()}
        assert set(workers) == set(QUEUES)
        workers["send"].kill()
        assert _get(f"http://127.0.0.1:{port}/healthz/ready")[0] == 200
        assert wait_for(lambda: "send worker restarted" in (tmp_path / "run.log").read_text(), 30)
        title = "重启之后-" + str(port)
        browser.post_form(
            f"{base}/ledger/cultural_activity/new/",
            {
                "v__activity_date": "2026-11-09",
                "v__activity_title": title,
                "v__activity_venue": "文化广场",
                "v__activity_category": "performance",
                "v__attendance": "66",
                "action": "submit",
            },
        )
        assert wait_for(lambda: _get(f"http://127.0.0.1:{receiver_port}/")[1].count(title) == 2, 60)
        family = psutil.Process(launcher.pid).children(recursive=True)
        os.kill(launcher.pid, signal.SIGINT)  # what Ctrl-C sends
        assert launcher.wait(60) == 0

        def leftovers() -> list[psutil.Process]:
            return [p for p in family + postgres if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

        assert wait_for(lambda: leftovers() == [], 30), leftovers()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        log.close()
    # running it again reuses the data: the demo is not loaded twice
    assert (tmp_path / "data" / "postgres" / "pg" / "PG_VERSION").exists()


# `dev.py test` provisions Debian's Chromium for the browser tests, or says in one line what to install.


def test_it_refuses_in_one_line_before_starting_anything_when_chromium_is_missing_and_it_is_not_root(
    tmp_path, monkeypatch, capsys
):
    from tools import launcher

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no chromium, no apt-get
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("DATABASE_URL", raising=False)  # had it gone on, it would start servers under the folder
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ONETABLE_DATA_DIR", str(tmp_path / "data"))
    assert launcher.test(["-x"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert "apt-get install chromium" in lines[0]
    assert not (tmp_path / "data").exists()  # nothing started, no test run


def test_it_installs_debians_chromium_with_apt_get_update_first_when_it_is_root(tmp_path, monkeypatch):
    from tools import launcher

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # a stand-in apt-get, first on PATH: records its arguments; `install … chromium` puts a chromium there
    apt_get = bin_dir / "apt-get"
    apt_get.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'case "$*" in *install*chromium*) touch {bin_dir}/chromium; chmod +x {bin_dir}/chromium;; esac\n'
    )
    apt_get.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    found = launcher.ensure_chromium(root=True, which=lambda name: shutil.which(name, path=str(bin_dir)))
    assert found == str(bin_dir / "chromium")
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]


def test_it_finds_the_installed_chromium_and_installs_nothing():
    from tools import launcher

    def refuse(package):
        raise AssertionError("nothing should be installed when chromium is there")

    found = launcher.ensure_chromium(install=refuse)
    assert Path(found).resolve() == Path("/usr/bin/chromium").resolve()  # Debian's package, as the e2e tests use


# ... and Debian's PgBouncer for the run of the filing, delivery and feed tests through it.


def test_the_run_through_pgbouncer_refuses_in_one_line_before_starting_anything_when_it_is_missing_and_not_root(
    tmp_path, monkeypatch, capsys
):
    from tools import launcher, pgbouncer

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pgbouncer, no apt-get
    monkeypatch.setattr(pgbouncer, "PLACES", ())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ONETABLE_DATA_DIR", str(tmp_path / "data"))
    assert launcher.test(["--pgbouncer"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert "apt-get install pgbouncer" in lines[0]
    assert not (tmp_path / "data").exists()  # nothing started, no test run


def test_it_installs_debians_pgbouncer_with_apt_get_when_it_is_root(tmp_path, monkeypatch):
    from tools import launcher, pgbouncer

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    apt_get = bin_dir / "apt-get"
    apt_get.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'case "$*" in *install*pgbouncer*) touch {bin_dir}/pgbouncer; chmod +x {bin_dir}/pgbouncer;; esac\n'
    )
    apt_get.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(pgbouncer, "PLACES", ())
    found = launcher.ensure_pgbouncer(root=True, which=lambda name: shutil.which(name, path=str(bin_dir)))
    assert found == str(bin_dir / "pgbouncer")
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq pgbouncer"]


def test_it_finds_debians_pgbouncer_outside_path_and_installs_nothing(monkeypatch):
    from tools import launcher

    def refuse(package):
        raise AssertionError("nothing should be installed when pgbouncer is there")

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # an ordinary user's PATH: Debian puts it in /usr/sbin
    assert launcher.ensure_pgbouncer(install=refuse) == "/usr/sbin/pgbouncer"


SUPERVISED = """
import sys
from tools.launcher import Supervisor
sup = Supervisor()
for name in ("web", "worker"):
    sup.start(name, [sys.executable, "-c", "import time; time.sleep(600)"])
sys.exit(sup.wait())
"""


def test_the_supervisor_restarts_a_process_that_died_and_says_so_while_the_others_go_on(tmp_path):
    log = tmp_path / "supervisor.log"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISED],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        parent = psutil.Process(supervisor.pid)
        assert wait_for(lambda: len(parent.children()) == 2)
        web, worker = sorted(parent.children(), key=lambda p: p.create_time())
        worker.kill()  # SIGKILL, as the fault run did
        assert wait_for(lambda: "worker restarted" in log.read_text())
        output = log.read_text()
        assert "worker exited with code -9; restarting it in 1 s" in output
        children = parent.children()
        assert len(children) == 2 and web in children and worker not in children  # web never stopped
        assert web.is_running() and supervisor.poll() is None
        for _ in range(2):  # dying again soon after: the wait doubles
            (again,) = [p for p in parent.children() if p != web]
            again.kill()
            assert wait_for(lambda a=again: a not in parent.children() and len(parent.children()) == 2, 30)
        assert "restarting it in 2 s" in log.read_text() and "restarting it in 4 s" in log.read_text()
        family = parent.children()
        os.kill(supervisor.pid, signal.SIGINT)  # only Ctrl-C stops all
        assert supervisor.wait(30) == 0
        assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_supervise_restarts_its_command_when_it_dies_and_killing_its_group_stops_both(tmp_path):
    log = tmp_path / "supervise.log"
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.launcher",
            "supervise",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(600)",
        ],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        parent = psutil.Process(supervisor.pid)
        assert wait_for(lambda: len(parent.children()) == 1)
        (first,) = parent.children()
        first.kill()
        assert wait_for(lambda: "restarted" in log.read_text() and len(parent.children()) == 1)
        (second,) = parent.children()
        assert second.pid != first.pid
        os.killpg(supervisor.pid, signal.SIGKILL)  # as the fault tests stop a process: its command goes with it
        supervisor.wait(30)
        assert wait_for(lambda: not second.is_running() or second.status() == psutil.STATUS_ZOMBIE)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_without_libfaketime_a_non_root_user_is_told_in_one_line_what_to_install(tmp_path):
    from tools import launcher

    with pytest.raises(launcher.Missing) as missing:
        launcher.ensure_libfaketime(library=tmp_path / "libfaketimeMT.so.1", root=False)
    assert str(missing.value).count("\n") == 0 and "apt-get install libfaketime" in str(missing.value)


def test_as_root_libfaketime_is_installed_with_apt_before_the_tests(tmp_path):
    from tools import launcher

    library = tmp_path / "libfaketimeMT.so.1"
    installed = []

    def install(package):
        installed.append(package)
        library.write_bytes(b"")

    found = launcher.ensure_libfaketime(library=library, root=True, which=lambda _: "/usr/bin/apt-get", install=install)
    assert found == library and installed == ["libfaketime"]
