import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from core.models import Department
from core.tokens import department_system_user, issue_token


class Command(BaseCommand):
    help = "Issue an API token for a department's system (the office's way); the token is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--department", required=True, help="department code, e.g. culture")
        parser.add_argument("--name", required=True, help="what the token is for")
        parser.add_argument("--days", type=int, default=365)

    def handle(self, *args, department: str, name: str, days: int, **options):
        found = Department.objects.filter(code=department).first()
        if found is None:
            raise CommandError(f"部门编码不存在 / no department with code {department!r}")
        if not 1 <= days <= 730:
            raise CommandError("有效期须为 1–730 天 / --days must be from 1 to 730")
        row, token = issue_token(
            user=department_system_user(department=found), name=name, valid_for=dt.timedelta(days=days)
        )
        self.stdout.write(f"{token}\n(expires {row.expires_at:%Y-%m-%d}; shown once, only its digest is stored)")
