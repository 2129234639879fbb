"""Memory benchmark: resident memory of OneTable's processes against a bare `django.setup()` process."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from bench.submit import Server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BARE = "import django, os, psutil; django.setup(); print(psutil.Process().memory_info().rss)"


def bare_mb() -> float:
    out = subprocess.run([sys.executable, "-c", BARE], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 2**20


def web_idle_mb() -> float:
    server = Server(workers=1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/login/", timeout=10).read()
        return max(server.rss_mb())
    finally:
        server.stop()


def celery_idle_mb() -> float:
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "core", "worker", "-P", "threads", "-c", "8", "-l", "warning"],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        time.sleep(8)  # connected to the broker and idle
        process = psutil.Process(worker.pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20
    finally:
        worker.terminate()
        worker.wait(30)


def main() -> dict:
    return {"bare_mb": bare_mb(), "web_idle_mb": web_idle_mb(), "celery_idle_mb": celery_idle_mb()}
