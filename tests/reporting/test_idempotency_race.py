"""Two requests with one Idempotency-Key at the same moment: the second waits for the first and gets its answer.

The key is claimed inside the filing's transaction, so these run on committed data with two connections.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from core.models import User
from core.tokens import issue_token
from reporting.filing import idempotency
from reporting.models import IdempotencyKey, SubmissionVersion
from tests.reporting.helpers import VILLAGE_BASICS_Q4
from tests.waiting import someone_waits_for_my_lock, wait_for

URL = "/api/v1/unit/submissions"
BODY = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}


@pytest.fixture
def cadre(committed_demo) -> User:
    return User.objects.select_related("unit__area").get(username="village")


def _post_in_thread(cadre: User, key: str) -> tuple[threading.Thread, dict]:
    """POST the filing from another thread (its own database connection); the result lands in the dict."""
    _row, token = issue_token(user=cadre, name="race")
    result: dict = {}

    def run() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            result["response"] = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
        finally:
            connection.close()

    return threading.Thread(target=run), result


def _filed(cadre: User) -> int:
    return SubmissionVersion.objects.filter(submission__unit=cadre.unit, submission__period="2026Q4").count()


def test_a_repeat_arriving_mid_filing_waits_then_gets_the_first_answer(cadre):
    fingerprint = idempotency.request_hash(URL, BODY)
    thread, result = _post_in_thread(cadre, "k-race")
    with transaction.atomic():  # the first request, holding the key while it files
        claim = idempotency.claim_key(user=cadre, key="k-race", fingerprint=fingerprint)
        thread.start()
        assert wait_for(someone_waits_for_my_lock), "the repeat did not wait for the request holding its key"
        assert thread.is_alive()
        idempotency.finish_key(claim, status=201, body={"answer": "first"})
    thread.join(timeout=30)
    response = result["response"]
    assert response.status_code == 201
    assert response.json() == {"answer": "first"}
    assert response["Idempotent-Replayed"] == "true"
    assert _filed(cadre) == 0  # the repeat filed nothing of its own


def test_a_repeat_whose_first_request_failed_takes_the_key_and_files_once(cadre):
    fingerprint = idempotency.request_hash(URL, BODY)
    thread, result = _post_in_thread(cadre, "k-retry")
    with pytest.raises(RuntimeError), transaction.atomic():
        idempotency.claim_key(user=cadre, key="k-retry", fingerprint=fingerprint)
        thread.start()
        assert wait_for(someone_waits_for_my_lock)  # the repeat waits for the key this request holds
        assert thread.is_alive()
        raise RuntimeError("the first request's process failed mid-filing")  # everything it did rolls back
    thread.join(timeout=30)
    assert result["response"].status_code == 201
    assert "Idempotent-Replayed" not in result["response"]
    assert _filed(cadre) == 1
    assert IdempotencyKey.objects.get(user=cadre, key="k-retry").response_status == 201


def test_a_key_cannot_be_claimed_outside_the_transaction_that_does_the_work(cadre):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        idempotency.claim_key(user=cadre, key="k-loose", fingerprint="x")
    assert not IdempotencyKey.objects.filter(key="k-loose").exists()
