"""Retention of access records: detach every month past the retention period, archive it if asked, drop it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reporting.services.partitions import detach_access_records, expired_months

MINIMUM = 6  # the Cybersecurity Law's floor for keeping network logs


class Command(BaseCommand):
    help = (
        "Detach, optionally archive (gzipped CSV, one file per month) and drop the months of access records older "
        "than the retention period (ONETABLE_ACCESS_RETENTION_MONTHS full months before the current one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, help="retention in full months (default: the setting)")
        parser.add_argument("--archive", type=Path, help="folder to write each month's rows to before dropping")
        parser.add_argument("--dry-run", action="store_true", help="list the months that would go, change nothing")

    def handle(self, *args, months: int | None, archive: Path | None, dry_run: bool, **options):
        months = settings.ONETABLE_ACCESS_RETENTION_MONTHS if months is None else months
        if months < MINIMUM:
            raise CommandError(f"保留期不得少于 {MINIMUM} 个月 / --months must be at least {MINIMUM}, not {months}")
        if dry_run:
            for name in expired_months(months=months, today=timezone.now().date()):
                self.stdout.write(name)
            return
        done = detach_access_records(months=months, archive=archive)
        self.stdout.write(f"移除的月份：{len(done)} / months removed: {len(done)}")
        for name, rows in done.items():
            self.stdout.write(f"{name}: {rows}")
