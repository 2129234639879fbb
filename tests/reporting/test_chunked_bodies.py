"""A body sent with `Transfer-Encoding: chunked` (no Content-Length) over real HTTP: Django reads such a body as
empty, so a filing was refused as `{}` and `{"active": true}` paused an endpoint. Under gunicorn, which decodes
the chunks, the body is read; under a server that cannot (Django's own), the answer is 411 naming the header."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from core.models import User
from core.tokens import department_system_user, issue_token
from reporting.models import Endpoint, Submission
from tests.waiting import wait_for
from tools.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
RECORD = {
    "activity_date": "2026-11-08",
    "activity_title": "分块传输的村晚",
    "activity_venue": "文化广场",
    "activity_category": "performance",
    "attendance": 120,
}


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{quote(db['HOST'] or '127.0.0.1', safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status in (200, 503)
    except OSError:
        return False


@pytest.fixture
def gunicorn(committed_demo, tmp_path):
    """OneTable's production web server, as the launcher and docker-compose run it, on the test database."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "HTTPS": "0", "ALLOWED_HOSTS": "127.0.0.1"}
    # one worker with threads, as production runs (docker-compose: --threads 4): that worker keeps connections alive
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        "core.wsgi",
        *("--bind", f"127.0.0.1:{port}", "-w", "1", "--threads", "4"),
    ]
    with (tmp_path / "gunicorn.log").open("w") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: _up(port), timeout=60), (tmp_path / "gunicorn.log").read_text()
        yield port
    finally:
        process.kill()
        process.wait()
        with connection.cursor() as cursor:  # its connection, which a killed process does not close
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def chunked(port: int, path: str, body: dict, token: str, **headers) -> tuple[int, dict]:
    """POST `body` in several chunks, with no Content-Length, as streaming HTTP clients send it. The request is
    written whole before the answer is read: a server that answers without reading the body may close at once."""
    data = json.dumps(body).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + 7]), data[i : i + 7]) for i in range(0, len(data), 7))
    head = {
        "Host": "127.0.0.1",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Connection": "close",
        **headers,
    }
    request = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.encode() + chunks + b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read() or b"{}")


def test_gunicorn_reads_a_chunked_filing_and_a_chunked_pause(gunicorn):
    cadre = User.objects.select_related("unit").get(username="village")
    token = issue_token(user=cadre, name="chunked")[1]
    body = {"sheet": "cultural_activity", "values": RECORD}
    status, answer = chunked(gunicorn, "/api/v1/unit/submissions", body, token, **{"Idempotency-Key": "c-1"})
    assert status == 201, answer
    assert Submission.objects.get(pk=answer["id"]).versions.get().values["activity_title"] == "分块传输的村晚"

    culture = User.objects.get(username="culture").department
    endpoint = Endpoint.objects.create(department=culture, name="system", url="https://example.org/h", secret="s")
    token = issue_token(user=department_system_user(department=culture), name="chunked")[1]
    status, answer = chunked(gunicorn, f"/api/v1/endpoints/{endpoint.pk}/active", {"active": False}, token)
    assert (status, answer) == (200, {"active": False})
    endpoint.refresh_from_db()
    assert not endpoint.active


def test_a_server_that_cannot_read_a_chunked_body_answers_411_by_name(live_server, village_cadre):
    port = int(live_server.url.rsplit(":", 1)[1])
    token = issue_token(user=village_cadre, name="chunked")[1]
    body = {"sheet": "cultural_activity", "values": RECORD}
    status, answer = chunked(port, "/api/v1/unit/submissions", body, token, **{"Idempotency-Key": "c-2"})
    assert status == 411
    assert answer["errors"][0]["field"] == "Content-Length" and answer["code"] == "body.length_required"
    assert "chunked" in answer["message_en"] and "分块" in answer["message_zh"]
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()


def test_a_body_refused_413_is_answered_connection_close_so_the_next_request_goes_on_a_new_connection(gunicorn):
    cadre = User.objects.select_related("unit").get(username="village")
    token = issue_token(user=cadre, name="large")[1]
    size = 3 * 1024 * 1024  # past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    head = (
        f"POST /api/v1/unit/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: big-1\r\nContent-Length: {size}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=30) as sock:
        # the start of the body: the server answers without reading the rest, and will not read it
        sock.sendall(head.encode() + b'{"sheet": "' + b"x" * 200_000)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = json.loads(response.read())
        assert response.status == 413 and answer["code"] == "body.too_large"
        assert response.getheader("Connection") == "close"  # it said keep-alive, then dropped the connection
    # a client that follows the header opens a new connection for its next request, which is answered
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)
    conn.request("GET", "/api/v1/unit/one-table?period=2026Q4", headers={"Authorization": f"Bearer {token}"})
    assert conn.getresponse().status == 200
