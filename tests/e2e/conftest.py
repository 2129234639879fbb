"""Headless Chromium (Debian's package) driven by Playwright against the live test server."""

import shutil
import socket
import struct
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# the same patience for assertions as for actions (page.set_default_timeout below): a loaded CI machine
# renders slower, and `expect` waits only 5 s by default
expect.set_options(timeout=15_000)


def _browser_page(live_server, settings, monkeypatch, viewport, mobile):
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (apt-get install chromium)"
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are ours, not async.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True  # cookies must not depend on the travelled clock
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2 if mobile else 1,
            is_mobile=mobile,
            has_touch=mobile,
            locale="zh-CN",
        )
        page = context.new_page()
        page.set_default_timeout(15000)
        # what a user would not see but a broken page shows: a script error, a file that did not load.
        # A page itself answered with 4xx is not one: a rejected form is answered 400 with its errors; nor is a
        # script's call to the API refused with an answer it shows (the phone's outbox, static/js/offline.js).
        pages: set[str] = set()
        errors: list[tuple[str, str]] = []
        page.on("response", lambda r: _answered(r) and pages.add(r.url))
        # a call to the API cut by the network is the phone's weak network, which the outbox waits out
        page.on("requestfailed", lambda r: r.resource_type == "fetch" and "/api/" in r.url and pages.add(r.url))
        page.on("pageerror", lambda error: errors.append(("", f"script error: {error}")))
        page.on("console", lambda m: m.type == "error" and errors.append((m.location.get("url", ""), m.text)))
        yield page
        browser.close()
        broken = [f"{url}: {text}" for url, text in errors if url not in pages]
        assert not broken, broken


def _answered(response) -> bool:
    """A page, or a refusal the API answered in JSON with its code (not a server error, not a broken script)."""
    if response.request.resource_type == "document":
        return True
    return response.request.resource_type == "fetch" and 400 <= response.status < 500 and "/api/" in response.url


@pytest.fixture
def browser_page(live_server, settings, monkeypatch):
    yield from _browser_page(live_server, settings, monkeypatch, PHONE, True)


@pytest.fixture
def desktop_page(live_server, settings, monkeypatch):
    yield from _browser_page(live_server, settings, monkeypatch, DESKTOP, False)


class Cable:
    """The phone's network between the browser and the live server, which a test can pull out: while it is out,
    every connection is cut, whoever makes it. Chromium's offline switch (`set_offline`) is not enough alone: a
    page being left gets `online` from it while the next one loads, and its requests then go out unrouted."""

    def __init__(self, live_server_url: str) -> None:
        self._server = ("127.0.0.1", urlsplit(live_server_url).port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://localhost:{self._listener.getsockname()[1]}"
        self._in = True
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def pull_out(self) -> None:
        with self._lock:
            self._in = False
            for sock in self._open:
                _reset(sock)

    def plug_in(self) -> None:
        with self._lock:
            self._in = True

    def close(self) -> None:
        self.pull_out()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                phone, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if not self._in:
                    _reset(phone)
                    continue
                server = socket.create_connection(self._server)
                self._open |= {phone, server}
            for a, b in ((phone, server), (server, phone)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # cut
        with self._lock:
            self._open.discard(source)
        source.close()


def _reset(sock: socket.socket) -> None:
    """Close with a reset, as a dropped network does (the browser sees ERR_CONNECTION_RESET, not an answer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked reading it, which a close alone would not
    except OSError:
        pass
    sock.close()


@pytest.fixture
def network(live_server):
    """The live server reached through a `Cable` (its `url`), for tests that take the network away."""
    cable = Cable(live_server.url)
    yield cable
    cable.close()
