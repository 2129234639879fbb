"""Every list operation of the API runs a fixed number of statements, however many rows it lists.

Each endpoint is read with few rows and with ten times as many; both reads must send the same, fixed number
of statements to PostgreSQL. The count is taken from libpq's protocol trace (tests/statements.py), so the
outbox's raw psycopg cursors and server-side cursors' fetches count as much as the ORM's queries. A read
comes first to warm what a process keeps between requests (prepared statements, caches), as in production.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.models import Department, Role, Unit, User
from core.tokens import issue_token
from reporting.models import DataRequest, Delivery, DeliveryStatus, Endpoint, Field, Sheet
from reporting.services.deliveries import delivery_bodies
from reporting.services.relay import relay_versions
from reporting.services.submissions import add_record, correct_submission
from tests.deliveries.conftest import ACTIVITY
from tests.reporting.helpers import VILLAGE_BASICS_Q4, subscribe
from tests.statements import Statements, count_statements

FEW, MANY = 3, 30


def token_client(user: User) -> APIClient:
    _row, token = issue_token(user=user, name="system")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def department_system(code: str) -> APIClient:
    user, _ = User.objects.get_or_create(
        username=f"{code}-system",
        defaults={"role": Role.DEPARTMENT_SYSTEM, "department": Department.objects.get(code=code)},
    )
    return token_client(user)


def statements_to_read(client: APIClient, url: str, params: dict | None = None, *, rows) -> tuple[Statements, int]:
    """(statements sent, rows listed) for one read of `url`; a streamed answer is read to its end."""
    with count_statements() as sent:
        response = client.get(url, params or {})
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, body[:500]
    return sent, rows(response, body)


def assert_fixed(client, url, params, *, grow, rows, expected: int) -> None:
    """Read with FEW rows, grow them to MANY, read again: the same `expected` number of statements. Each count
    is of a second read: the first after a change reloads what a process keeps until the catalogue changes."""
    grow(FEW)
    statements_to_read(client, url, params, rows=rows)
    few, listed_few = statements_to_read(client, url, params, rows=rows)
    grow(MANY)
    statements_to_read(client, url, params, rows=rows)
    many, listed_many = statements_to_read(client, url, params, rows=rows)
    assert (listed_few, listed_many) == (FEW, MANY), "the rows grown are the rows listed"
    assert len(few) == len(many) == expected, f"{FEW} rows:\n{few}\n\n{MANY} rows:\n{many}"


def record_activities(cadre: User, total: int) -> None:
    sheet = Sheet.objects.get(code="cultural_activity")
    have = cadre.unit.submissions.filter(sheet=sheet).count()
    for i in range(have, total):
        add_record(
            unit=cadre.unit, sheet=sheet, raw={**ACTIVITY, "activity_title": f"村晚{i}"}, not_applicable={}, by=cadre
        )
    relay_versions()  # the relay makes their deliveries (a worker does it after commit)


def test_the_helper_counts_raw_psycopg_cursors_and_fetches_that_djangos_capture_misses(demo):
    ids = list(Delivery.objects.values_list("pk", flat=True)[:2]) or [0]
    with CaptureQueriesContext(connection) as django_saw, count_statements() as sent:
        delivery_bodies(ids)  # a raw psycopg cursor: set_config, then the bodies
        assert len(list(Sheet.objects.all().iterator(chunk_size=2))) > 2  # a server-side cursor, fetched in pieces
    seen_by_django = " ".join(q["sql"] for q in django_saw.captured_queries)
    assert "plan_cache_mode" not in seen_by_django and "FETCH" not in seen_by_django
    assert any("set_config('plan_cache_mode'" in s for s in sent.sent), str(sent)
    assert any("FROM reporting_delivery" in s for s in sent.sent), str(sent)
    fetches = [s for s in sent.sent if s.startswith("FETCH FORWARD 2 FROM")]
    assert len(fetches) >= 2, str(sent)
    assert len(sent) > len(django_saw) + len(fetches) + 1, str(sent)


def test_the_data_endpoint_reads_a_page_in_a_fixed_number_of_statements(village_cadre):
    client = department_system("culture")
    params = {"sheet": "cultural_activity", "limit": 100}
    assert_fixed(
        client,
        "/api/v1/data",
        params,
        grow=lambda n: record_activities(village_cadre, n),
        rows=lambda response, body: len(response.json()["rows"]),
        expected=17,
    )


def test_the_data_endpoint_streams_csv_in_a_fixed_number_of_statements(village_cadre):
    client = department_system("culture")
    params = {"sheet": "cultural_activity", "format": "csv"}
    assert_fixed(
        client,
        "/api/v1/data",
        params,
        grow=lambda n: record_activities(village_cadre, n),
        rows=lambda response, body: body.decode("utf-8-sig").count("\n") - 1,
        expected=16,
    )


def test_the_unit_submissions_list_reads_in_a_fixed_number_of_statements(village_cadre):
    assert_fixed(
        token_client(village_cadre),
        "/api/v1/unit/submissions",
        {"sheet": "cultural_activity"},
        grow=lambda n: record_activities(village_cadre, n),
        rows=lambda response, body: len(response.json()["results"]),
        expected=3,  # the token, the submissions listed, their versions (read in those submissions' years only)
    )


def test_a_submissions_history_reads_in_a_fixed_number_of_statements(village_cadre):
    record_activities(village_cadre, 1)
    submission = village_cadre.unit.submissions.get(sheet__code="cultural_activity")

    def correct(total: int) -> None:
        for i in range(submission.versions.count(), total):
            submission.refresh_from_db()
            correct_submission(
                submission=submission,
                raw={**ACTIVITY, "attendance": str(231 + i)},
                not_applicable={},
                reason="核对",
                by=village_cadre,
                expected_version=submission.current_version,
            )

    assert_fixed(
        token_client(village_cadre),
        f"/api/v1/unit/submissions/{submission.pk}",
        None,
        grow=correct,
        rows=lambda response, body: len(response.json()["versions"]),
        expected=3,
    )


def test_the_unit_one_table_reads_in_a_fixed_number_of_statements_however_many_departments_subscribe(
    village_cadre,
):
    """The one table lists each field's subscribing departments: more subscriptions, the same statements."""
    codes = list(Field.objects.filter(sheet__code="village_basics").values_list("code", flat=True)[:3])
    departments = Department.objects.order_by("pk")
    made: list[int] = []

    def grow(total: int) -> None:
        while len(made) < total:
            made.append(subscribe(departments[len(made) % departments.count()].code, codes).pk)

    assert_fixed(
        token_client(village_cadre),
        "/api/v1/unit/one-table",
        {"period": "2026Q4"},
        grow=grow,
        rows=lambda response, body: len(made),
        # token, subscriptions, sheets, calendar (2), then per sheet (2): catalogue generation, carry-forward and
        # the unit's own history for plausibility hints (issue 22)
        expected=11,
    )


def test_the_catalogue_reads_in_a_fixed_number_of_statements_however_many_sheets_and_fields(demo):
    client = department_system("culture")
    model = Sheet.objects.get(code="village_basics")
    made: list[Sheet] = []

    def grow(total: int) -> None:
        while len(made) < total:
            n = len(made)
            sheet = Sheet.objects.create(
                code=f"counted_{n}",
                name_zh=f"计数{n}",
                name_en=f"Counted {n}",
                topic_zh="计数",
                topic_en="Counted",
                cadence=model.cadence,
                unit_levels=model.unit_levels,
                owner=model.owner,
                order=1000 + n,
            )
            for k in range(2):
                Field.objects.create(sheet=sheet, code=f"counted_{n}_{k}", name_zh="数", name_en="n", type="integer")
            made.append(sheet)

    assert_fixed(
        client,
        "/api/v1/catalogue",
        None,
        grow=grow,
        rows=lambda response, body: sum(s["code"].startswith("counted_") for s in response.json()["sheets"]),
        expected=6,  # token, department, sheets, their fields, their revisions (in force, scheduled), indicators
    )


def test_the_subscriptions_list_reads_in_a_fixed_number_of_statements(demo):
    client = department_system("culture")
    department = Department.objects.get(code="culture")
    codes = list(Field.objects.filter(sheet__code="village_basics").values_list("code", flat=True)[:2])
    author = User.objects.get(username="culture")
    made: list[int] = []

    def grow(total: int) -> None:
        while len(made) < total:
            subscription = subscribe("culture", codes)
            DataRequest.objects.create(
                department=department,
                title=f"请求{len(made)}",
                purpose="test",
                legal_basis="test",
                scope=department.jurisdiction,
                first_period="2026Q4",
                created_by=author,
                subscription=subscription,
            )
            made.append(subscription.pk)

    def listed(response, body) -> int:
        data = response.json()
        mine = [s for s in data["subscriptions"] if s["id"] in made]
        assert len([r for r in data["requests"] if r["subscription"] in made]) == len(mine)
        return len(mine)

    # the token, the department, the subscriptions, their fields, their indicators (issue 20), the requests
    assert_fixed(client, "/api/v1/subscriptions", None, grow=grow, rows=listed, expected=6)


def test_the_delivery_status_reads_in_a_fixed_number_of_statements_however_many_endpoints_and_dead_letters(
    village_cadre,
):
    client = department_system("culture")
    department = Department.objects.get(code="culture")

    def grow(total: int) -> None:
        while department.endpoints.count() < total:
            n = department.endpoints.count()
            Endpoint.objects.create(department=department, name=f"system {n}", url=f"https://{n}.example/", secret="x")
        endpoint = department.endpoints.order_by("pk").first()
        department.subscriptions.update(endpoint=endpoint)
        record_activities(village_cadre, total)
        Delivery.objects.filter(department=department).update(
            endpoint=endpoint, status=DeliveryStatus.DEAD, attempts=5, last_error="HTTP 500"
        )

    def listed(response, body) -> int:
        data = response.json()
        assert len(data["endpoints"]) == len(data["dead"])
        return len(data["dead"])

    assert_fixed(client, "/api/v1/deliveries", None, grow=grow, rows=listed, expected=7)


@pytest.fixture
def committed_cadre(committed_demo) -> User:
    """The feed shows only committed deliveries older than every running transaction: no test transaction."""
    return User.objects.select_related("unit__area").get(username="village")


def test_the_feed_reads_a_page_in_a_fixed_number_of_statements(committed_cadre):
    client = department_system("culture")

    def grow(total: int) -> None:
        record_activities(committed_cadre, total)

    def listed(response, body) -> int:
        return len(response.json()["items"])

    # the relay's rows are in the feed once it committed: nothing elsewhere on the server holds them back
    assert_fixed(client, "/api/v1/feed", {"limit": 100}, grow=grow, rows=listed, expected=8)


def test_a_filing_through_the_unit_api_sends_a_fixed_number_of_statements(demo):
    """The filing path (issue 21): what a process keeps per catalogue generation (the sheet, its claims, fields,
    rules and calendar) is not read again, and nothing the filing just wrote is read back."""
    cadres = [
        unit.members.get()
        for unit in Unit.objects.filter(area__parent__name="石门乡", area__level="village")
        .select_related("area")
        .order_by("area__code")[:2]
    ]
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}
    token_client(cadres[0]).post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="warm")
    client = token_client(cadres[1])
    with count_statements() as sent:
        response = client.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201, response.content[:500]
    # token; BEGIN, the key claimed; the catalogue's generation and snapshot; the filing's savepoint, the
    # carried and register values, the unit's plausibility baseline (one row and whether markers wait,
    # reporting/filing/baselines.py); the submission with the draft dropped, the version, its relay marker, its
    # baseline marker (issue 22: one INSERT where the row was locked, then rewritten: 16 statements before; the
    # relay task folds it), the audit event; the savepoint released, the key's answer, COMMIT
    assert len(sent) == 15, str(sent)
