"""Every page in English, for every demo persona: no Chinese outside data values.

Data values are what people typed or named: areas, units, departments, the office, people's names,
subscriptions' and requests' purposes, values filed. What OneTable itself says (labels, periods, units
of measure, field and sheet names, which have English names, options, messages, punctuation) is English.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from core.demo_accounts import DEMO_PASSWORD
from core.models import Area, Department, Office, Unit, User
from reporting.models import DataRequest, DueException, Field, Sheet, SubmissionVersion, Subscription
from reporting.services.requests import RequestInput, save_request, submit_request

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
PERSONAS = ["village", "township", "propaganda", "culture", "civil", "stats", "office", None]
SKIPPED = ("/admin", "/api/", "/static/", "/logout", "/i18n/")
DOWNLOADS = (".xlsx", ".csv", "/download/")


class _Page(HTMLParser):
    """The page's links, and its text and attributes without the data it carries (form values, JSON)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.loads: list[str] = []  # what the browser fetches with the page
        self.said: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.loads.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.loads.append(attrs["href"])
        if tag in ("script", "textarea", "style"):  # JSON for charts, a typed text being edited
            self._skip += 1
        for name in ("title", "placeholder", "aria-label", "alt"):
            if attrs.get(name):
                self.said.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.said.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "textarea", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.said.append(data)


def _data_values() -> list[str]:
    """Names and typed text the pages may show as they are, longest first (a name inside a longer one)."""
    values: set[str] = set()
    values |= set(Area.objects.values_list("name", flat=True))
    values |= {str(unit) for unit in Unit.objects.select_related("area")}
    values |= set(Department.objects.values_list("name", flat=True))
    values |= set(Office.objects.values_list("name", flat=True))
    for user in User.objects.all():
        values |= {user.first_name, user.last_name, user.get_full_name()}
    for subscription in Subscription.objects.all():
        values |= {subscription.purpose, getattr(subscription, "legal_basis", "")}
    for request in DataRequest.objects.all():
        values |= {request.title, request.purpose, request.legal_basis}
    values |= set(DueException.objects.values_list("reason", flat=True))
    values |= _filed_texts()
    return sorted((v for v in values if v and CJK.search(v)), key=len, reverse=True)


def _filed_texts() -> set[str]:
    texts: set[str] = set()
    for filed in SubmissionVersion.objects.values_list("values", flat=True):
        texts |= {v for v in (filed or {}).values() if isinstance(v, str)}
    return texts


def _chinese_left(html: str, data: list[str]) -> list[str]:
    page = _Page()
    page.feed(html)
    text = "\n".join(page.said)
    for value in data:
        text = text.replace(value, " ")
    text = text.replace("中文", " ")  # the switch back to Chinese, named in Chinese
    return [text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ") for m in CJK.finditer(text)]


def _outside(html: str) -> list[str]:
    page = _Page()
    page.feed(html)
    return [src for src in page.loads if re.match(r"^(https?:)?//", src)]


def _seeds(username: str | None) -> list[str]:
    """Pages no link on a home page leads to directly, with the parameters a user would choose."""
    first_sheet = Sheet.objects.filter(cadence__in=["monthly", "quarterly", "yearly"]).order_by("order").first()
    seeds = ["/", "/login/", "/burden/", "/closures/", "/no-such-page/"]
    if username in ("propaganda", "culture", "civil", "stats"):
        department = Department.objects.get(members__username=username)
        codes = Field.objects.filter(subscriptions__department=department, type__in=["integer", "decimal"])
        sheets = Sheet.objects.filter(fields__subscriptions__department=department).distinct()
        seeds += [f"/department/data/?sheet={s.code}" for s in sheets]
        seeds += [f"/department/completeness/?sheet={s.code}&period=2026Q3" for s in sheets]
        seeds += [f"/department/chart/?field={f.code}" for f in codes.distinct()[:2]]
        seeds += [f"/department/requests/{r.pk}/" for r in DataRequest.objects.filter(department=department)]
        seeds += [f"/department/requests/{r.pk}/edit/" for r in DataRequest.objects.filter(department=department)]
    if username in ("village", "township") and first_sheet is not None:
        seeds += ["/fill/2026Q4/upload/"]
    return seeds


def _crawl(client: Client, seeds: list[str], limit: int = 60) -> dict[str, str]:
    pages: dict[str, str] = {}
    todo = list(seeds)
    while todo and len(pages) < limit:
        url = todo.pop(0)
        if url in pages:
            continue
        response = client.get(url, follow=True)
        if "text/html" not in response.get("Content-Type", ""):
            pages[url] = ""
            continue
        html = response.content.decode()
        pages[url] = html
        parser = _Page()
        parser.feed(html)
        for link in parser.links:
            link = link.split("#")[0]
            if link.startswith("?"):
                link = url.split("?")[0] + link
            if link.startswith("/") and not link.startswith(SKIPPED) and not link.endswith(DOWNLOADS):
                todo.append(link)
    return pages


@pytest.fixture
def data_requests(demo):
    """A department's request in review, so the request and review pages exist."""
    stats = User.objects.get(username="stats")
    request = save_request(
        department=stats.department,
        by=stats,
        data=RequestInput(
            title="人口监测",
            purpose="人口年报",
            legal_basis="《统计法》",
            scope=stats.department.jurisdiction,
            first_period="2027",
            field_ids=list(Field.objects.filter(code="households").values_list("pk", flat=True)),
            proposed=[
                {
                    "code": "hukou_count",
                    "name_zh": "户籍人口数",
                    "name_en": "Registered people",
                    "type": "integer",
                    "unit_of_measure": "人",
                    "sheet": "village_basics",
                    "constraints": {"min": 0},
                }
            ],
        ),
    )
    submit_request(request=request, by=stats)


@pytest.mark.parametrize("username", PERSONAS, ids=lambda u: u or "anonymous")
def test_every_page_in_english_shows_no_chinese_outside_data_values(data_requests, username):
    client = Client()
    client.cookies["django_language"] = "en"
    if username:
        assert client.login(username=username, password=DEMO_PASSWORD)
    pages = _crawl(client, _seeds(username))
    data = _data_values()
    found = {url: left for url, html in pages.items() if html and (left := _chinese_left(html, data))}
    assert not found, found
    # and no page loads anything from another host (intranets are offline)
    outside = {url: _outside(html) for url, html in pages.items() if html and _outside(html)}
    assert not outside, outside
    assert len([html for html in pages.values() if html]) >= 3  # the crawl saw the persona's pages


def test_a_rejected_form_in_english_names_the_field_and_the_rule_in_english_only(demo):
    client = Client()
    client.cookies["django_language"] = "en"
    assert client.login(username="village", password=DEMO_PASSWORD)
    response = client.post(
        "/ledger/cultural_activity/new/",
        {"v__activity_date": "2026-11-08", "v__activity_title": "x" * 500, "v__attendance": "-5", "action": "submit"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Attendance: must be at least 0" in html
    assert not _chinese_left(html, _data_values())


HALF_WIDTH_IN_CHINESE = re.compile(r"[\u4e00-\u9fff）][:;,!?]|[:;,!?] *(?=[\u4e00-\u9fff])")


@pytest.mark.parametrize("username", PERSONAS, ids=lambda u: u or "anonymous")
def test_every_page_in_chinese_uses_full_width_punctuation(data_requests, username):
    client = Client()
    client.cookies["django_language"] = "zh-hans"
    if username:
        assert client.login(username=username, password=DEMO_PASSWORD)
    found = {}
    for url, html in _crawl(client, _seeds(username)).items():
        page = _Page()
        page.feed(html)
        text = "\n".join(page.said)
        if hits := [text[max(0, m.start() - 15) : m.end() + 15] for m in HALF_WIDTH_IN_CHINESE.finditer(text)]:
            found[url] = hits
    assert not found, found
