"""Reads for pages and the API: versions, differences, display values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from reporting.models import Field, Submission, SubmissionVersion


@dataclass
class Change:
    field: Field | None
    code: str
    before: str
    after: str


def display(field: Field | None, value: Any, na_reason: str | None = None) -> str:
    if na_reason is not None:  # an answer, in the reader's language: 不适用（原因） / Not applicable (reason)
        return gettext("Not applicable (%(reason)s)") % {"reason": na_reason}
    if value is None:
        return "—"
    if field is None:
        return str(value)
    return field.field_type.display(value, field.constraints)


def diff_versions(before: SubmissionVersion, after: SubmissionVersion, fields: dict[str, Field]) -> list[Change]:
    """What changed from one version to the next, field by field, in catalogue order."""
    codes = set(before.values) | set(after.values) | set(before.not_applicable) | set(after.not_applicable)
    changes = []
    for code in codes:
        old = (before.values.get(code), before.not_applicable.get(code))
        new = (after.values.get(code), after.not_applicable.get(code))
        if old != new:
            f = fields.get(code)
            changes.append(Change(f, code, display(f, *old), display(f, *new)))
    order = {code: index for index, code in enumerate(fields)}
    return sorted(changes, key=lambda c: order.get(c.code, len(order)))


def current_versions(submissions: list[Submission]) -> list[SubmissionVersion]:
    """Each submission's current version, in the submissions' order, read in the years of their keys only (a list
    of a unit's whole history picks its submissions first, so it reads the years of those it shows)."""
    found = {v.submission_id: v for v in SubmissionVersion.objects.current_of_each(submissions).order_by()}
    out = []
    for submission in submissions:
        version = found.get(submission.pk)
        if version is not None:  # every submission has its current version
            version.submission = submission
            out.append(version)
    return out


def changed_meanwhile(submission: Submission, base: int | None, current: SubmissionVersion) -> list[Change]:
    """What the versions after `base` (the one a refused correction was typed on) changed, up to `current`."""
    if base is None or base >= current.number:
        return []
    before = SubmissionVersion.objects.of(submission).filter(number=base).first()
    if before is None:
        return []
    fields = {f.code: f for f in Field.objects.filter(sheet_id=submission.sheet_id).order_by("order", "code")}
    return diff_versions(before, current, fields)


def versions_with_changes(submission: Submission) -> list[tuple[SubmissionVersion, list[Change]]]:
    """Every version, newest first, each with what it changed from the one before (2 queries)."""
    versions = list(SubmissionVersion.objects.of(submission).select_related("by").order_by("number"))
    fields = {f.code: f for f in Field.objects.filter(sheet_id=submission.sheet_id).order_by("order", "code")}
    out = []
    for index, version in enumerate(versions):
        changes = diff_versions(versions[index - 1], version, fields) if index else []
        out.append((version, changes))
    return list(reversed(out))
