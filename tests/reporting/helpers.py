"""Small builders shared by the reporting tests."""

from __future__ import annotations

import datetime as dt

from core.models import Area, Department
from reporting.models import Field, Submission, SubmissionVersion, Subscription

VILLAGE_BASICS_Q4 = {
    "registered_population": "2100",
    "resident_population": "1500",
    "households": "610",
    "elderly_over_60": "420",
    "culture_centre_area": "300.5",
    "culture_squares": "2",
    "library_books": "3000",
    "has_history_museum": "1",
    "is_tourism_village": "0",
    "arable_land": "2200",
    "volunteers": "48",
}


def subscribe(
    department_code: str,
    field_codes: list[str],
    *,
    scope: Area | None = None,
    starts_on: dt.date = dt.date(2025, 1, 1),
    expires_on: dt.date | None = None,
) -> Subscription:
    department = Department.objects.get(code=department_code)
    subscription = Subscription.objects.create(
        department=department,
        scope=scope or department.jurisdiction,
        purpose="test",
        starts_on=starts_on,
        expires_on=expires_on,
    )
    subscription.fields.set(Field.objects.filter(code__in=field_codes))
    return subscription


def store_version(submission: Submission, *, values: dict, not_applicable: dict | None = None) -> SubmissionVersion:
    """Make a version holding exactly `values` the submission's current one. Stored versions never change
    (PostgreSQL refuses), so a test that needs odd stored content appends a version, as a correction does."""
    current = submission.versions.get(number=submission.current_version)
    version = SubmissionVersion.objects.create(
        submission=submission,
        number=current.number + 1,
        values=values,
        not_applicable=not_applicable or {},
        by=current.by,
        reason="test",
    )
    Submission.objects.filter(pk=submission.pk).update(current_version=version.number)
    submission.current_version = version.number
    return version
