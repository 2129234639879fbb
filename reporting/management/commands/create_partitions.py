"""Make the partitions of the coming months now, as Celery beat does every night."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from reporting.services.partitions import create_partitions


class Command(BaseCommand):
    help = "Make the partitions of the partitioned tables from the current range through the ranges ahead."

    def handle(self, *args, **options):
        made = create_partitions()  # the same service the beat task calls
        self.stdout.write(f"新建分区：{len(made)} / partitions made: {len(made)}")
        for name in made:
            self.stdout.write(name)
