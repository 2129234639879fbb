"""The OpenAPI schema validates, and every documented GET endpoint answers as documented."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from core.tokens import department_system_user, issue_token
from tests.reporting.helpers import file_village_basics

QUERY = {"period": "2026Q4", "sheet": "village_basics"}


@pytest.fixture
def schema(db):
    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    return generated


def _client(user) -> APIClient:
    client = APIClient()
    _row, token = issue_token(user=user, name="schema")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_every_documented_get_endpoint_answers_with_a_documented_status_and_body(
    schema, village_cadre, culture_analyst
):
    submission = file_village_basics(village_cadre).submission
    cadre = _client(village_cadre)
    department = _client(department_system_user(department=culture_analyst.department))
    checked = 0
    for path, operations in schema["paths"].items():
        operation = operations.get("get")
        if operation is None or path == "/api/schema/":
            continue
        url = path.replace("{id}", str(submission.pk)).replace("{number}", "1")
        params = {
            p["name"]: QUERY.get(p["name"], "")
            for p in operation.get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        }
        client = cadre if path.startswith("/api/v1/unit") else department
        response = client.get(url, params)
        assert str(response.status_code) in operation["responses"], (path, response.status_code)
        documented = operation["responses"][str(response.status_code)].get("content", {}).get("application/json")
        if documented:
            document = _json_schema({**documented["schema"], "components": schema["components"]})
            jsonschema.validate(response.json(), document)
        checked += 1
    # one-table, submissions, submission, version, catalogue, subscriptions, data, feed, deliveries, disputes,
    # dispute, supply job, aggregates, report templates, report job, report download, questions (the unit's, the
    # department's list and one)
    assert checked == 19


def test_the_interactive_docs_are_served_without_any_cdn(client, culture_analyst):
    client.force_login(culture_analyst)
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html.lower()
    assert "cdn" not in html.lower() and "unpkg" not in html and "jsdelivr" not in html


def _json_schema(node):
    """OpenAPI 3.0 says `nullable: true`; JSON Schema says the type may also be null."""
    if isinstance(node, dict):
        node = {key: _json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    return node


def test_every_operation_documents_what_a_caller_who_must_not_get_through_is_answered(
    schema, village_cadre, culture_analyst
):
    """No token: 401. The other kind of token (a cadre's on a department's operation, a department's
    system on a unit's): 404, as for what does not exist. Both answers are documented, with their body."""
    cadre = _client(village_cadre)
    department = _client(department_system_user(department=culture_analyst.department))
    error = {"$ref": "#/components/schemas/ErrorOut", "components": schema["components"]}
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        url = path.replace("{id}", "1").replace("{number}", "1")
        wrong = department if path.startswith("/api/v1/unit") else cadre
        for method, operation in operations.items():
            assert {"401", "404", "429"} <= set(operation["responses"]), (method, path)
            for client, expected in ((APIClient(), 401), (wrong, 404)):
                response = getattr(client, method)(url, {}, format="json")
                assert response.status_code == expected, (method, path, response.status_code)
                jsonschema.validate(response.json(), _json_schema(error))
            checked += 1
    # with the disputes (list, one, answer), supplies (supply, job), aggregates and the report templates (list,
    # generate, job, download) and the questions (the unit's list and answer, the department's list, ask and one)
    # and the endpoints (add, rotate)
    assert checked == 30
