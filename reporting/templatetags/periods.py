"""`{{ code|period_label }}`: a period code as people read it (2026年第4季度, 2026 Q4); a range of two likewise."""

from __future__ import annotations

from django import template

from reporting.catalogue.periods import Period, PeriodError

register = template.Library()


@register.filter
def period_label(code: object) -> str:
    """The label of a period code or of a range "A–B"; anything else as it is (a page never fails on a label)."""
    text = str(code or "")
    try:
        return "–".join(Period.parse(part).label() for part in text.split("–"))
    except PeriodError:
        return text
