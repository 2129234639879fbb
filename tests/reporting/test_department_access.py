"""Data minimisation, tried from the side of everyone who must not get through.

A village files its basics with canary values in fields only the culture bureau and
the statistics bureau subscribe to. Every department page and endpoint is then called
by each persona, and no canary may appear where its field is not subscribed.
"""

import csv
import datetime as dt
import io
import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core.models import Area, Department, Unit, User
from core.tokens import department_system_user, issue_token
from reporting.models import Subscription, SubscriptionStatus
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics, store_version, subscribe

CANARIES = {"library_books": "987654", "arable_land": "98765.4"}  # culture only; statistics only
PAGES = [
    "/department/",
    "/department/data/?sheet=village_basics",
    "/department/data.csv?sheet=village_basics",
    "/department/completeness/?sheet=village_basics&period=2026Q4",
    "/department/chart/?field=library_books",
    "/department/chart/?field=arable_land",
    "/department/tokens/",
    "/department/endpoints/",
    "/department/requests/",
]
APIS = [
    "/api/v1/data?sheet=village_basics",
    "/api/v1/data?sheet=village_basics&format=csv",
    "/api/v1/data?sheet=village_basics&fields=library_books&fields=arable_land",
    "/api/v1/feed?limit=1000",
    "/api/v1/subscriptions",
    "/api/v1/deliveries",
    "/api/v1/catalogue",
]


@pytest.fixture
def canaries(village_cadre):
    file_village_basics(village_cadre, **CANARIES)


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def token_client(user: User, **kwargs) -> APIClient:
    client = APIClient()
    _row, token = issue_token(user=user, name="t", **kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_culture_bureau_sees_its_own_canary_so_this_test_can_fail(client, culture_analyst, canaries):
    client.force_login(culture_analyst)
    assert CANARIES["library_books"] in body(client.get("/department/data/?sheet=village_basics&period_from=2026Q4"))
    api = token_client(department_system_user(department=culture_analyst.department))
    assert CANARIES["library_books"] in body(api.get("/api/v1/data?sheet=village_basics&format=csv"))


def test_a_value_under_a_code_the_sheet_no_longer_defines_reaches_no_department(client, culture_analyst, canaries):
    from reporting.models import Submission

    # a stored version holding a key that is no field of the sheet (a field since deleted): nobody holds it
    for submission in Submission.objects.filter(sheet__code="village_basics", period="2026Q4"):
        store_version(submission, values={**VILLAGE_BASICS_Q4, **CANARIES, "ghost_field": "55555"})
    client.force_login(culture_analyst)
    page = body(client.get("/department/data/?sheet=village_basics&period_from=2026Q4"))
    assert CANARIES["library_books"] in page and "55555" not in page  # the rest of the row is still there
    api = token_client(department_system_user(department=culture_analyst.department))
    for url in ["/api/v1/data?sheet=village_basics&period_from=2026Q4", "/api/v1/data?sheet=village_basics&format=csv"]:
        text = body(api.get(url))
        assert CANARIES["library_books"] in text and "55555" not in text and "ghost_field" not in text, url
    assert "55555" not in body(client.get("/department/data.csv?sheet=village_basics"))


@pytest.mark.parametrize("persona", ["civil_analyst", "propaganda_analyst"])
def test_an_analyst_of_another_department_sees_no_field_outside_its_subscriptions(client, request, persona, canaries):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    for url in PAGES:
        response = client.get(url)
        # a chart of a field the analyst does not subscribe to is refused by name (not another field's chart)
        assert response.status_code in ((400,) if url.startswith("/department/chart/?field=") else (200, 302)), url
        assert not any(value in body(response) for value in CANARIES.values()), url
    for url in APIS:
        response = client.get(url)
        assert response.status_code in (200, 400), url
        text = body(response)
        assert not any(value in text for value in CANARIES.values()), url
        if "/data" in url and "fields=" not in url:  # a refusal may quote the codes the analyst asked for
            assert "library_books" not in text and "arable_land" not in text, url
        elif "/data" in url:
            assert response.status_code == 400 and "fields.unknown" in text, url


def test_a_system_token_of_another_department_sees_no_field_outside_its_subscriptions(civil_analyst, canaries):
    api = token_client(department_system_user(department=civil_analyst.department))
    for url in APIS:
        text = body(api.get(url))
        assert not any(value in text for value in CANARIES.values()), url
    rows = list(csv.reader(io.StringIO(body(api.get("/api/v1/data?sheet=village_basics&format=csv")))))
    assert len(rows) > 1 and all("library_books" not in cell for cell in rows[0])


def test_a_cadre_gets_404_from_every_department_page_and_endpoint(client, village_cadre, canaries):
    client.force_login(village_cadre)
    for url in PAGES:
        assert client.get(url).status_code == 404, url
    api = token_client(village_cadre)
    for url in APIS:
        assert api.get(url).status_code == 404, url


def test_no_login_and_an_expired_token_get_nothing(client, culture_analyst, canaries):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    expired = token_client(
        department_system_user(department=culture_analyst.department), valid_for=dt.timedelta(seconds=-1)
    )
    anonymous = APIClient()
    for url in APIS:
        assert anonymous.get(url).status_code == 401, url
        response = expired.get(url)
        assert response.status_code == 401, url
        assert CANARIES["library_books"] not in body(response)


def test_data_outside_a_subscriptions_scope_or_window_is_absent(client, civil_analyst, village_cadre, canaries):
    other = Unit.objects.filter(area__parent__name="石门乡").first()
    file_village_basics(other.members.first(), households="4444")
    Subscription.objects.filter(department=civil_analyst.department).update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["households"], scope=Area.objects.get(name="石门乡"))
    api = token_client(department_system_user(department=civil_analyst.department))
    rows = api.get("/api/v1/data?sheet=village_basics&period_from=2026Q4").json()["rows"]
    assert {r["unit"]["code"] for r in rows} == {other.area.code}  # 东门村 lies outside the scope
    assert rows[0]["values"] == {"households": 4444}
    # a subscription that has expired gives no access at all
    Subscription.objects.filter(department=civil_analyst.department).update(expires_on=dt.date(2026, 1, 1))
    expired = api.get("/api/v1/data?sheet=village_basics")
    assert expired.status_code == 400 and expired.json()["code"] == "sheet.unknown"
    assert "4444" not in body(expired)


def test_an_export_matches_a_direct_sql_query(client, culture_analyst, canaries):
    client.force_login(culture_analyst)
    exported = list(
        csv.reader(io.StringIO(body(client.get("/department/data.csv?sheet=village_basics")).lstrip("\ufeff")))
    )
    header, data = exported[0], exported[1:]
    codes = [h.split(" ")[1].split("（")[0] for h in header[5:]]
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT a.code, s.period, v."values" FROM reporting_submission s
            JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
            JOIN core_unit u ON u.id = s.unit_id JOIN core_area a ON a.id = u.area_id
            JOIN reporting_sheet sh ON sh.id = s.sheet_id WHERE sh.code = 'village_basics'""")
        expected = {
            (code, period, tuple(_cell(json.loads(values).get(c)) for c in codes))
            for code, period, values in cursor.fetchall()
        }
    got = {(row[0], row[2], tuple(row[5:])) for row in data}
    assert got == expected and len(data) == 151
    assert set(codes) == {
        "resident_population",
        "culture_centre_area",
        "culture_squares",
        "library_books",
        "has_history_museum",
        "is_tourism_village",
    }


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def test_api_data_pages_with_a_keyset_cursor_and_names_bad_parameters(culture_analyst, canaries):
    api = token_client(department_system_user(department=culture_analyst.department))
    first = api.get("/api/v1/data?sheet=village_basics&limit=100").json()
    second = api.get(f"/api/v1/data?sheet=village_basics&limit=100&after={first['next']}").json()
    assert len(first["rows"]) == 100 and len(second["rows"]) == 51 and second["next"] is None
    units = [r["unit"]["code"] + r["period"] for r in first["rows"] + second["rows"]]
    assert len(set(units)) == 151
    bad = api.get("/api/v1/data?sheet=nope&limit=0&period_from=2026-1&area=110000000000")
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"sheet", "limit", "period_from", "area"}


def test_each_token_is_throttled_on_its_own(culture_analyst, civil_analyst, demo, monkeypatch):
    from django.core.cache import cache

    from core.tokens import TokenRateThrottle

    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    cache.clear()
    noisy = token_client(department_system_user(department=culture_analyst.department))
    quiet = token_client(department_system_user(department=civil_analyst.department))
    statuses = [noisy.get("/api/v1/subscriptions").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert noisy.get("/api/v1/subscriptions").json()["code"] == "throttled"
    assert quiet.get("/api/v1/subscriptions").status_code == 200


def test_a_department_creates_shows_once_and_revokes_its_own_tokens(client, culture_analyst, civil_analyst, demo):
    client.force_login(culture_analyst)
    assert "尚无令牌" in client.get("/department/tokens/").content.decode()  # the empty list says what a token is for
    html = client.post("/department/tokens/", {"name": "文旅数据平台", "days": "30"}).content.decode()
    assert "尚无令牌" not in html
    token = html.split('<code id="new-token">')[1].split("</code>")[0]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/subscriptions").status_code == 200
    assert token not in client.get("/department/tokens/").content.decode()  # shown once
    from core.models import ApiToken

    row = ApiToken.objects.get(name="文旅数据平台")
    client.force_login(civil_analyst)
    assert client.post("/department/tokens/", {"revoke": row.pk}).status_code == 404  # not theirs
    client.force_login(culture_analyst)
    client.post("/department/tokens/", {"revoke": row.pk})
    assert api.get("/api/v1/subscriptions").status_code == 401
    assert Department.objects.get(code="culture").members.filter(username="culture-system").exists()
