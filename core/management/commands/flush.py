"""`flush` as Django's, run as the schema owner's maintenance: it empties the append-only tables too.

The test runner flushes the database after each transactional test through this command."""

from django.core.management.commands import flush

from core.appendonly import maintenance


class Command(flush.Command):
    def handle(self, **options):
        with maintenance(options["database"]):
            super().handle(**options)
