"""A page of a department's data is read by a cursor that streams, on committed data (autocommit).

Outside a transaction Django declares its server-side cursors WITH HOLD, and PostgreSQL then computes
the whole rest of the result when the statement commits: at province scale a page of 100 rows took
70 s. The pages read in one transaction instead, and fetch about a page.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from core.models import User
from core.tokens import department_system_user, issue_token
from reporting.models import Sheet
from reporting.reads.data import Query, rows
from reporting.reads.exports import read_page


@pytest.fixture
def culture(committed_demo) -> User:
    return User.objects.select_related("department").get(username="culture")


def _cursors_seen_by_the_data_statement() -> tuple[list[bool], object]:
    """An execute wrapper noting, right after the data statement ran, whether its cursor outlives commit."""
    holdable: list[bool] = []

    def spy(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "reporting_submissionversion" in sql and not holdable:
            with connection.cursor() as cursor:
                cursor.execute("SELECT is_holdable FROM pg_cursors")
                holdable.extend(row[0] for row in cursor.fetchall())
        return result

    return holdable, spy


def test_a_page_is_read_by_a_cursor_closed_with_its_transaction(culture):
    assert connection.get_autocommit()  # committed data, as in production: no test transaction around it
    query = Query(department=culture.department, sheet=Sheet.objects.get(code="village_basics"), limit=5)
    holdable, spy = _cursors_seen_by_the_data_statement()
    with connection.execute_wrapper(spy):
        page = read_page(query)
    assert len(page) == 5
    assert holdable == [False]


def test_the_data_api_pages_through_the_same_reads(culture):
    client = APIClient()
    _row, token = issue_token(user=department_system_user(department=culture.department), name="t")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    holdable, spy = _cursors_seen_by_the_data_statement()
    with connection.execute_wrapper(spy):
        first = client.get("/api/v1/data?sheet=village_basics&limit=3").json()
    assert len(first["rows"]) == 3 and holdable == [False]
    second = client.get(f"/api/v1/data?sheet=village_basics&limit=3&after={first['next']}").json()
    assert second["rows"] and second["rows"][0] != first["rows"][0]


@pytest.mark.parametrize("period_from", [None, "2026Q3"])
def test_a_page_holds_the_first_rows_of_the_whole_read(culture, period_from):
    """Pages look each current version up where whole reads join them: the same rows and values."""
    sheet = Sheet.objects.get(code="village_basics")
    with transaction.atomic():  # a whole read streams inside one transaction, as an export's does
        whole = list(rows(Query(department=culture.department, sheet=sheet, period_from=period_from)))
    page = read_page(Query(department=culture.department, sheet=sheet, period_from=period_from, limit=7))
    assert len(whole) == 150 and [vars(r) for r in page] == [vars(r) for r in whole[:7]]
    after = read_page(
        Query(
            department=culture.department, sheet=sheet, period_from=period_from, after=page[-1].submission_id, limit=7
        )
    )
    assert [vars(r) for r in after] == [vars(r) for r in whole[7:14]]
