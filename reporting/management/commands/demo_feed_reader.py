"""The demo departments that pull: the civil affairs and statistics bureaus' systems read their feed.

`manage.py demo_feed_reader` issues each of them a token (revoking the previous demo reader's), then,
every few seconds, reads `GET /api/v1/feed` over HTTP as a department system would, following `next`
while `has_more`, and prints what arrived. The cursor is kept under the data folder, so a restart
reads on from where it stopped instead of reading (and recording as read) everything again.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from core.models import ApiToken, Department
from core.tokens import department_system_user, issue_token, revoke_token

PULLED = ("civil", "stats")
TOKEN_NAME = "演示读取系统 / demo feed reader"
PAGE = 500


def demo_reader_tokens() -> dict[str, str]:
    """A fresh token for each pulling department's system; the previous demo reader tokens are revoked."""
    tokens = {}
    for code in PULLED:
        department = Department.objects.filter(code=code).first()
        if department is None:
            continue
        user = department_system_user(department=department)
        for old in ApiToken.objects.filter(user=user, name=TOKEN_NAME, revoked_at__isnull=True):
            revoke_token(token=old)
        _, tokens[code] = issue_token(user=user, name=TOKEN_NAME, valid_for=dt.timedelta(days=30))
    return tokens


class FeedReader:
    """One department's system: reads its feed from the cursor it saved, page after page."""

    def __init__(self, *, base_url: str, code: str, token: str, folder: Path) -> None:
        self.base_url, self.code, self.token = base_url.rstrip("/"), code, token
        self.cursor_file = folder / f"demo_feed_cursor_{code}"
        self.cursor = self.cursor_file.read_text().strip() if self.cursor_file.exists() else ""

    def read(self) -> list[dict]:
        """Every item after the saved cursor; the cursor moves on and is saved."""
        items: list[dict] = []
        while True:
            query = urllib.parse.urlencode({"after": self.cursor, "limit": PAGE} if self.cursor else {"limit": PAGE})
            request = urllib.request.Request(
                f"{self.base_url}/api/v1/feed?{query}", headers={"Authorization": f"Bearer {self.token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                page = json.load(response)
            items += page["items"]
            self.cursor = page["next"]
            self.cursor_file.parent.mkdir(parents=True, exist_ok=True)
            self.cursor_file.write_text(self.cursor)
            if not page["has_more"]:
                return items


def describe(item: dict) -> str:
    return f"{item['id']} {item['unit']['name']} {item['sheet']} {item['period'] or ''} v{item['version']}".strip()


class Command(BaseCommand):
    help = "Read the civil affairs and statistics bureaus' feeds as their systems would (started by `dev.py run`)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where OneTable is served")
        parser.add_argument("--interval", type=float, default=3.0, help="seconds between two reads")
        parser.add_argument("--once", action="store_true", help="read what is there and stop")

    def handle(self, *args, base_url: str, interval: float, once: bool, **options):
        folder = Path(settings.DATA_DIR).resolve()
        readers = [
            FeedReader(base_url=base_url, code=code, token=token, folder=folder)
            for code, token in demo_reader_tokens().items()
        ]
        self.stdout.write(f"demo feed reader for {', '.join(r.code for r in readers)} reading {base_url}/api/v1/feed")
        try:
            while True:
                for reader in readers:
                    self._read(reader)
                if once:
                    return
                time.sleep(interval)  # a department system polls; the feed holds nothing back meanwhile
        except KeyboardInterrupt:
            self.stdout.write("demo feed reader stopped")

    def _read(self, reader: FeedReader) -> None:
        try:
            items = reader.read()
        except (OSError, urllib.error.URLError, ValueError) as error:  # the web server starting or restarting
            self.stdout.write(f"{reader.code}: feed not readable yet ({error}); trying again")
            return
        for item in items:
            self.stdout.write(f"{reader.code} read {describe(item)}: {json.dumps(item['values'], ensure_ascii=False)}")
