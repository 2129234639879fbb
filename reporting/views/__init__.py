"""Pages. Helpers shared by the page modules."""

from __future__ import annotations

from django.http import HttpRequest

from reporting.params import whole_number


def posted_id(request: HttpRequest, name: str) -> int | None:
    """The row id a form posts in `name` (a hidden input or a button's value), or None when it is not one:
    a forged or broken form is then answered like an id the user may not see, never with a server error."""
    return whole_number(request.POST.get(name, ""))


def posted_ids(request: HttpRequest, name: str) -> list[int]:
    """Every row id a form posts in `name` (checkboxes). What is not an id becomes 0, which no row has, so
    the service names it as unknown instead of the form silently dropping it."""
    return [whole_number(text) or 0 for text in request.POST.getlist(name)]
