"""Property-based: schemathesis generates requests from OneTable's own OpenAPI schema (valid and invalid
ones) and calls the API in-process, on the real database; every answer must be documented (status, body,
content type) and none may be a server error. A fixed seed keeps CI deterministic; the CLI run that found
the bugs fixed alongside this test (see the README's API section) went through 4,286 cases."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import department_system_user, issue_token
from core.wsgi import application

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(demo, settings):
    settings.ALLOWED_HOSTS = ["localhost"]  # the host schemathesis's in-process client names
    # as Django's own test client does: a request's end must not close the test's connection (and transaction)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(village_cadre, culture_analyst) -> dict[str, str]:
    return {
        "unit": issue_token(user=village_cadre, name="fuzz")[1],
        "department": issue_token(user=department_system_user(department=culture_analyst.department), name="fuzz")[1],
    }


def _fuzz(operation, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    def call(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    call()


def test_every_answer_of_the_api_is_documented_and_none_is_a_server_error(api_schema, tokens):
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        _fuzz(operation, tokens["unit"] if operation.path.startswith("/api/v1/unit") else tokens["department"])
        checked.append(operation.label)
    assert len(checked) == 30, checked  # every operation of /api/v1/
