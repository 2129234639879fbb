"""Check the audit chain: the first event changed, removed or inserted out of order, and events left unsealed."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.audit import read_seal_log, verify_chain
from core.models import AuditEvent

LATEST = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain against itself and against the seals written out (the seal file, "
        "and --latest from the log); exit 1 naming the first event that was changed, removed or inserted out "
        "of order, and events left unsealed for more than a minute."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seal-log", default=settings.ONETABLE_AUDIT_SEAL_LOG, help="the seal file")
        parser.add_argument(
            "--latest",
            action="append",
            default=[],
            metavar="POSITION:HASH",
            help="a seal taken from the log (`audit chain sealed through position N: HASH`); repeatable",
        )

    def handle(self, *args, seal_log, latest, **options):
        written = self._written(seal_log, latest)
        findings = verify_chain(written=written)
        for finding in findings:
            self.stdout.write(f"{finding.kind}: {finding.message}")
        sealed = AuditEvent.objects.filter(seq__isnull=False).count()
        if findings:
            raise CommandError(f"audit chain: {len(findings)} problem(s) found in {sealed} sealed events")
        against = f"{len(written)} seal(s) written out" if written else "no seal written out"
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {sealed} sealed events, checked against {against}"))

    def _written(self, seal_log: str, latest: list[str]) -> dict[int, str]:
        written: dict[int, str] = {}
        path = Path(seal_log) if seal_log else None
        if path is not None and path.exists():
            try:
                written.update(read_seal_log(path))
            except ValueError as error:
                raise CommandError(str(error)) from None
        elif path is not None:
            self.stdout.write(f"no seal file at {path}: removal of the newest events is checked only against --latest")
        for value in latest:
            match = LATEST.match(value.strip())
            if not match:
                raise CommandError(f"--latest {value!r}: expected POSITION:HASH (64 hex digits)")
            written[int(match.group(1))] = match.group(2)
        return written
