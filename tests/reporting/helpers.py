"""Small builders shared by the reporting tests."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from html.parser import HTMLParser

from rest_framework.test import APIClient

from core.models import Area, Department, User
from core.tokens import issue_token
from reporting.catalogue.periods import Period
from reporting.filing.baselines import rebuild_baselines
from reporting.models import Field, Sheet, Submission, SubmissionVersion, Subscription
from reporting.services.submissions import submit_sheet

# one cultural activity for the ledger, held on 2026-11-08
ACTIVITY = {
    "activity_date": "2026-11-08",
    "activity_title": "村晚",
    "activity_venue": "村文化广场",
    "activity_category": "performance",
    "attendance": "230",
}

# a data request for one new integer field, as the department's request form posts it
REQUEST_FORM = {
    "title": "乡村宽带普及监测",
    "purpose": "数字乡村建设统计",
    "legal_basis": "《统计法》",
    "scope": "360799000000",
    "first_period": "2027Q1",
    "p0_code": "broadband_households",
    "p0_name_zh": "宽带入户户数",
    "p0_name_en": "Broadband households",
    "p0_type": "integer",
    "p0_unit": "户",
    "p0_sheet": "village_basics",
    "p0_integer_min": "0",
}

# one cultural activity as a system posts it to the API (JSON, attendance a number)
API_RECORD = {
    "activity_date": "2026-11-08",
    "activity_title": "广场舞展演",
    "activity_venue": "文化广场",
    "activity_category": "performance",
    "attendance": 120,
}

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


def file_village_basics(cadre: User, *, period: str = "2026Q4", **changes: str) -> SubmissionVersion:
    """The cadre's unit files the village basics for `period` through the filing service: VILLAGE_BASICS_Q4,
    with `changes` (field code -> raw value) on top."""
    return submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse(period),
        raw={**VILLAGE_BASICS_Q4, **changes},
        not_applicable={},
        by=cadre,
    )


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
    rebuild_baselines(unit_ids=[submission.unit_id])  # as a correction would keep it
    return version


class _FormReader(HTMLParser):
    """What a browser would post for each form of a page, the submit buttons aside."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: dict | None = None
        self._textarea: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append([])
        elif not self.forms or "disabled" in a:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.forms[-1].append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self.forms[-1].append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = (a["name"], [])
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "selected": "selected" in a, "text": ""}
            self._select[1].append(self._option)  # type: ignore[arg-type]
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [o for o in options if o["selected"]] or options[:1]  # type: ignore[index]
            self.forms[-1] += [(name, o["value"] if o["value"] is not None else o["text"]) for o in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.forms[-1].append((name, text.removeprefix("\n")))
            self._textarea = None


def form_of(html: str, containing: str) -> dict[str, list[str]]:
    """The values the first form posting an input named `containing` would send as the page shows it,
    untouched: name -> every value (a dict of lists, as the test client posts it)."""
    reader = _FormReader()
    reader.feed(html)
    for form in reader.forms:
        if any(name == containing for name, _ in form):
            values: dict[str, list[str]] = {}
            for name, value in form:
                values.setdefault(name, []).append(value)
            return values
    raise AssertionError(f"no form with an input named {containing}")


def text_of(html: str, start: str = "", end: str = "") -> str:
    """The text a reader sees (tags dropped, entities read), between the first `start` and the next `end`."""
    if start:
        html = html[html.index(start) :]
    if end:
        html = html[: html.index(end)]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]*>", " ", html))).strip()


def token_client(user: User, name: str = "test") -> APIClient:
    """An API client that sends a fresh bearer token of `user` (named `name`) with every request."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, name=name)[1]}")
    return client


_HAN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def one_language_each(body: dict) -> tuple[str, str]:
    """The Chinese and English messages of a refusal, checked to be each in its own language and, where the
    refusal has a combined `message`, that it is the two once each."""
    zh, en = body["message_zh"], body["message_en"]
    assert _HAN.search(zh), zh
    assert not _HAN.search(en), en  # no Chinese words nor Chinese punctuation (、，：) in the English
    if "message" in body:
        assert body["message"] == f"{zh} / {en}", body["message"]
    return zh, en


def assert_documented(body: dict, component: str) -> None:
    """`body` (a JSON object the code built) is valid against the OpenAPI schema's `component`, and it and each
    object inside it have exactly the keys their component documents: a key added on one side only fails."""
    import jsonschema
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def check(value, node: dict, where: str) -> None:
        if value is None:
            return
        if node.get("type") == "array" and isinstance(value, list):
            for i, item in enumerate(value):
                check(item, node["items"], f"{where}[{i}]")
            return
        inner = node.get("additionalProperties")
        if node.get("type") == "object" and isinstance(inner, dict) and isinstance(value, dict):  # a map: each entry
            for key, item in value.items():
                check(item, inner, f"{where}.{key}")
            return
        ref = node.get("$ref") or next((c["$ref"] for c in node.get("oneOf", []) if "$ref" in c), None)
        if ref is None:
            return
        properties = components[ref.rsplit("/", 1)[1]]["properties"]
        assert set(value) == set(properties), (where, sorted(set(value) ^ set(properties)))
        for key, sub in properties.items():
            check(value[key], sub, f"{where}.{key}")

    check(body, {"$ref": f"#/components/schemas/{component}"}, component)
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{component}", "components": schema["components"]})
