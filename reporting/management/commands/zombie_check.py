"""Run the zombie check now, as Celery beat does every day at 02:00."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from reporting.services.catalogue import zombie_check

LABELS = {
    "expired": ("到期终止的订阅", "expired subscriptions ended"),
    "ended_after_grace": ("宽限期满终止的订阅", "subscriptions ended after their grace period"),
    "idle": ("新标记的闲置订阅", "idle subscriptions flagged"),
    "unused_fields": ("新标记的无人使用字段", "unused fields flagged"),
    "empty_sheets": ("新标记的空表", "empty sheets flagged"),
}


class Command(BaseCommand):
    help = "Run the zombie check now: end expired and overdue subscriptions, flag idle subscriptions and unused items."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="check as of this day (YYYY-MM-DD); default today")

    def handle(self, *args, date: str | None, **options):
        try:
            today = dt.date.fromisoformat(date) if date else None
        except ValueError:
            raise CommandError(f"日期格式应为 YYYY-MM-DD / --date must be YYYY-MM-DD, not {date!r}") from None
        counts = zombie_check(today=today)  # the same service the beat task calls
        for key, count in counts.items():
            zh, en = LABELS.get(key, (key, key))
            self.stdout.write(f"{zh}：{count} / {en}: {count}")
