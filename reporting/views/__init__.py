"""Pages. Helpers shared by the page modules."""

from __future__ import annotations

from django.http import HttpRequest

from reporting.params import whole_number


def posted_id(request: HttpRequest, name: str) -> int | None:
    """The row id a form posts in `name` (a hidden input or a button's value), or None when it is not one:
    a forged or broken form is then answered like an id the user may not see, never with a server error."""
    return whole_number(request.POST.get(name, ""))
