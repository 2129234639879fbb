"""Pages. Helpers shared by the page modules."""

from __future__ import annotations

from django.http import HttpRequest


def posted_id(request: HttpRequest, name: str) -> int | None:
    """The row id a form posts in `name` (a hidden input or a button's value), or None when it is not one:
    a forged or broken form is then answered like an id the user may not see, never with a server error."""
    return _as_id(request.POST.get(name, ""))


def posted_ids(request: HttpRequest, name: str) -> list[int]:
    """Every row id a form posts in `name` (checkboxes); what is not one is left out, as by posted_id."""
    return [pk for pk in map(_as_id, request.POST.getlist(name)) if pk is not None]


def _as_id(text: str) -> int | None:
    # ASCII digits only: str.isdigit() also accepts "²" and "١", which int() refuses or reads differently
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
