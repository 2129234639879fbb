"""Who may reach which reporting object. Anything a user may not reach is a 404, never a hint that it exists.

The unit, the department and the office a user works for come from `core.access`; these helpers take one
of them and answer one of its own rows."""

from __future__ import annotations

from django.http import Http404

from core.models import Unit
from reporting.models import Sheet, Submission
from reporting.onetable import active_sheet


def _found[T](row: T | None) -> T:
    if row is None:
        raise Http404
    return row


def access_unit_sheet(unit: Unit, code: str) -> Sheet:
    """An active sheet this unit's level fills."""
    sheet = active_sheet(code)
    if sheet is None or unit.area.level not in sheet.unit_levels:
        raise Http404
    return sheet


def access_unit_submission(unit: Unit, pk: int | None) -> Submission:
    """One of this unit's own submissions or ledger records."""
    return _found(Submission.objects.select_related("sheet", "unit__area").filter(pk=pk or 0, unit=unit).first())
