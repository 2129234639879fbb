"""A department's own webhook endpoints: added with their URL checked, and their secret rotated.

The secret is returned to the caller once, to be shown once; nothing else keeps it in the clear but the row the
sender signs with (`deliveries.create_endpoint`, `deliveries.rotate_secret`: both audited, neither records it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.audit import audited, read_only
from core.models import Department, User
from reporting.delivery import webhooks
from reporting.models import AllowedNetwork, Endpoint
from reporting.rejections import Problem, Problems, Words, blank, storable, too_long, trimmed
from reporting.services import deliveries

# how a page names the two inputs (the API names them by their keys)
LABELS = {"name": ("名称", "Name"), "url": ("接收地址", "URL")}


@dataclass(frozen=True)
class Secret:
    """A secret as handed out once: the endpoint, the new secret, and until when the previous one still signs."""

    endpoint: Endpoint
    secret: str
    previous_valid_until: dt.datetime | None


@read_only
def url_refusal(url: str) -> Problem | None:
    """Why `url` may not be an endpoint's (the office's allowed networks, by `webhooks.resolve_allowed`), if so."""
    try:
        webhooks.resolve_allowed(url, list(AllowedNetwork.objects.values_list("cidr", flat=True)))
    except (webhooks.Refused, webhooks.Unresolved) as refused:  # a name that resolves nowhere is checked nowhere
        zh, _sep, en = str(refused).partition(" / ")  # the refusal is written "中文 / English"
        return Problem(field="url", rule="endpoint.url", params={"reason": Words(zh, en or zh)})
    return None


@read_only
def endpoint_problems(*, name: str, url: str) -> list[Problem]:
    """Every problem with a new endpoint's name and URL, each named by its field."""
    problems: list[Problem] = []
    for field, text, limit in (("name", name, 100), ("url", url, 500)):
        if blank(text):
            problems.append(Problem(field=field, rule="required"))
        elif not storable(text):
            problems.append(Problem(field=field, rule="text.character"))
        else:
            problems += too_long(text, limit, field=field, label_zh="", label_en="")
    if not any(p.field == "url" for p in problems):
        refusal = url_refusal(url)
        problems += [refusal] if refusal else []
    return problems


@audited("endpoint.created")
def add_endpoint(*, department: Department, name: str, url: str, by: User) -> Secret:
    """Check and create one of the department's endpoints; its secret is returned to be shown once."""
    name, url = trimmed(name or ""), trimmed(url or "")
    problems = endpoint_problems(name=name, url=url)
    if problems:
        raise Problems(problems)  # nothing stored
    endpoint = deliveries.create_endpoint(endpoint=Endpoint(department=department, name=name, url=url), by=by)
    return Secret(endpoint=endpoint, secret=endpoint.secret, previous_valid_until=None)


@audited("endpoint.secret_rotated")
def rotate_endpoint_secret(*, endpoint: Endpoint, by: User) -> Secret:
    """Give the endpoint a new secret (both sign for a day); the new one is returned to be shown once."""
    secret = deliveries.rotate_secret(endpoint=endpoint, by=by)
    endpoint.refresh_from_db()
    return Secret(endpoint=endpoint, secret=secret, previous_valid_until=endpoint.previous_secret_expires_at)


@read_only
def secret_hint(secret: str) -> str:
    """What may be shown of a secret after it was handed out: its prefix and last four characters."""
    return f"{webhooks.SECRET_PREFIX}…{secret[-4:]}" if secret else ""
