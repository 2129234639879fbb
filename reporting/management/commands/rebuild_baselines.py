"""Make the units' plausibility baselines again from the stored versions (after a load that stored versions
without the filing services, or to check the kept rows: `--check` changes nothing and says which differ)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reporting.filing.baselines import baselines_differing, rebuild_baselines
from reporting.models import Sheet


class Command(BaseCommand):
    help = "Rebuild the plausibility baselines (each unit's last periods of each sheet) from the versions."

    def add_arguments(self, parser):
        parser.add_argument("--sheet", help="only this sheet's code")
        parser.add_argument("--check", action="store_true", help="change nothing; list the rows that differ")

    def handle(self, *args, **options):
        sheet_id = None
        if options["sheet"]:
            sheet = Sheet.objects.filter(code=options["sheet"]).first()
            if sheet is None:
                raise CommandError(f"没有这张表 / no such sheet: {options['sheet']}")
            sheet_id = sheet.pk
        if options["check"]:
            differing = baselines_differing(sheet_id=sheet_id)
            for unit_id, sheet_pk in differing:
                self.stdout.write(f"unit {unit_id} sheet {sheet_pk}")
            self.stdout.write(f"不一致：{len(differing)} / differing: {len(differing)}")
            if differing:
                raise CommandError("baselines differ from the versions")
            return
        written = rebuild_baselines(sheet_id=sheet_id)
        self.stdout.write(f"已重建：{written} / rebuilt: {written}")
