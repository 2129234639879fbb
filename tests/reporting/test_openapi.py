"""The OpenAPI schema validates, and every documented GET endpoint answers as documented."""

import json

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from core.models import Department
from core.tokens import department_system_user, issue_token
from tests.reporting.helpers import assert_documented, file_village_basics

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


def _component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def _ref(schema: dict, node: dict) -> dict:
    """The component a property refers to, directly or as the one choice besides null."""
    ref = node.get("$ref") or next(c["$ref"] for c in node["oneOf"] if "$ref" in c)
    return _component(schema, ref.rsplit("/", 1)[1])


def _delivered(village_cadre) -> tuple[dict, dict]:
    """The propaganda department's feed items of a filing and of its correction, read through the API."""
    from reporting.models import Submission
    from reporting.services.relay import relay_versions
    from reporting.services.submissions import correct_submission
    from tests.reporting.helpers import VILLAGE_BASICS_Q4

    first = file_village_basics(village_cadre)
    correct_submission(
        submission=Submission.objects.get(pk=first.submission_id),
        raw={**VILLAGE_BASICS_Q4, "volunteers": "49"},
        not_applicable={},
        reason="志愿者人数填错",
        by=village_cadre,
        expected_version=1,
    )
    relay_versions()
    propaganda = department_system_user(department=Department.objects.get(code="propaganda"))
    page = _client(propaganda).get("/api/v1/feed").json()
    filed, corrected = page["items"]
    return filed, corrected


def test_a_feed_item_has_exactly_the_keys_the_schema_documents_and_matches_its_types(schema, village_cadre):
    filed, corrected = _delivered(village_cadre)
    feed = schema["paths"]["/api/v1/feed"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    items = _component(schema, feed["$ref"].rsplit("/", 1)[1])["properties"]["items"]
    assert items["items"]["$ref"] == "#/components/schemas/DeliveryOut"  # typed, not a free-form object
    delivery = _component(schema, "DeliveryOut")
    # the body the code builds (reporting/delivery/bodies.py) and the component name the same keys, both ways
    assert set(filed) == set(delivery["properties"]) == set(delivery["required"])
    assert set(filed["unit"]) == set(_ref(schema, delivery["properties"]["unit"])["properties"])
    assert filed["supersedes"] is None
    assert set(corrected["supersedes"]) == set(_ref(schema, delivery["properties"]["supersedes"])["properties"])
    assert corrected["supersedes"]["delivery"] == filed["id"]
    for item in (filed, corrected):
        jsonschema.validate(item, {"$ref": "#/components/schemas/DeliveryOut", "components": schema["components"]})


def test_the_webhook_batch_is_documented_with_the_keys_a_receiver_is_posted(schema, village_cadre):
    from reporting.models import Delivery
    from reporting.services.deliveries import batch_body, delivery_bodies

    filed, corrected = _delivered(village_cadre)
    webhook = schema["webhooks"]["deliveries"]["post"]  # OpenAPI 3.1 `webhooks`
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DeliveryBatchOut"
    }
    assert "webhook-signature" in webhook["description"] and "2XX" in webhook["responses"]
    # the batch as the sender posts it (batch_body over the bodies the sender builds)
    ids = sorted(Delivery.objects.filter(department__code="propaganda").values_list("pk", flat=True))
    posted = json.loads(batch_body("propaganda", delivery_bodies(ids)))
    batch = _component(schema, "DeliveryBatchOut")
    assert set(posted) == set(batch["properties"])
    assert posted["type"] in batch["properties"]["type"]["enum"]
    assert batch["properties"]["deliveries"]["items"]["$ref"] == "#/components/schemas/DeliveryOut"
    assert_documented(posted, "DeliveryBatchOut")  # each delivery, its unit and what it supersedes too
    assert posted["deliveries"] == [filed, corrected]  # a feed item and a posted delivery are one body
