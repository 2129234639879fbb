"""Serializers that document the API's JSON for the OpenAPI schema (responses are built without them)."""

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from reporting.filing.origins import Origin


class ProblemOut(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message_zh = serializers.CharField()
    message_en = serializers.CharField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message_zh = serializers.CharField()
    message_en = serializers.CharField()
    errors = ProblemOut(many=True)  # type: ignore[assignment]  # the body's field, not Serializer.errors: schema only


class CountsOut(serializers.Serializer):
    typed = serializers.IntegerField()
    carried = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
    confirmed = serializers.IntegerField(help_text="register values confirmed, not typed")
    disputed = serializers.IntegerField()
    departments = serializers.IntegerField()
    refills_spared = serializers.IntegerField()


class SubmissionOut(serializers.Serializer):
    id = serializers.IntegerField()
    sheet = serializers.CharField()
    period = serializers.CharField()
    record_key = serializers.UUIDField(allow_null=True)
    record_date = serializers.DateField(allow_null=True)
    version = serializers.IntegerField()
    current_version = serializers.IntegerField()
    values = serializers.DictField()
    not_applicable = serializers.DictField(child=serializers.CharField())
    carried = serializers.ListField(child=serializers.CharField())
    confirmed = serializers.ListField(child=serializers.CharField(), help_text="register values the unit confirmed")
    disputed = serializers.DictField(help_text="field code → {reason, register}: register values the unit disputes")
    gaps = serializers.ListField(child=serializers.CharField(), help_text="typed because the register had no value")
    origins = serializers.DictField(
        child=serializers.CharField(), help_text="field code → typed, carried, register, confirmed or disputed"
    )
    reason = serializers.CharField()
    warnings = serializers.DictField(
        help_text="`rule:<code>` or `plausibility:<field>` → {kind, fields, message_zh, message_en, text}: the "
        'warnings filing raised and the unit\'s explanation of each (text "" where none was given yet)'
    )
    unexplained = serializers.ListField(
        child=serializers.CharField(),
        help_text="the keys of `warnings` stored without an explanation: explain them with `explanations` in a "
        "correction (an explanation stored before is kept by a correction that gives none)",
    )
    at = serializers.DateTimeField()
    counts = CountsOut()


class VersionSummaryOut(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    reason = serializers.CharField()


class SubmissionDetailOut(SubmissionOut):
    versions = VersionSummaryOut(many=True)


class SubmissionListOut(serializers.Serializer):
    results = SubmissionOut(many=True)


# What a delivery carries: a pull feed's item and a webhook batch's element are the same body, built by
# reporting/delivery/bodies.py (`BODY_COLUMNS`, `build_bodies`); tests/reporting/test_openapi.py compares a real
# delivery's keys with these properties, so a key added there and not here fails.
class UnitRefOut(serializers.Serializer):
    code = serializers.CharField(help_text="the unit's statutory area code")
    name = serializers.CharField()


class SupersedesOut(serializers.Serializer):
    delivery = serializers.CharField(help_text="the id of the delivery of the version this one corrects")
    version = serializers.IntegerField(help_text="that version's number")


class DisputedValueOut(serializers.Serializer):
    reason = serializers.CharField(help_text="the unit's reason")
    register = serializers.JSONField(help_text="the register's value, which stays the field's value")


class ExplainedWarningOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["rule", "plausibility"])
    # the body's key, not Serializer.fields (the metaclass takes declared fields off the class): schema only
    fields = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="the field codes the warning concerns"
    )
    message_zh = serializers.CharField()
    message_en = serializers.CharField()
    text = serializers.CharField(help_text='the unit\'s explanation ("" where none was given)')


class DeliveryOut(serializers.Serializer):
    id = serializers.CharField(
        help_text="`dlv_<n>`, stable: the same delivery always has the same id, so a receiver can ignore a repeat"
    )
    subscription = serializers.IntegerField(help_text="the subscription it is delivered under")
    unit = UnitRefOut()
    sheet = serializers.CharField(help_text="the sheet's code")
    period = serializers.CharField(help_text="`2026`, `2026Q4`, `202611`; a ledger record's period")
    record_key = serializers.UUIDField(allow_null=True, help_text="a ledger record's key; null for a periodic sheet")
    record_date = serializers.DateField(allow_null=True, help_text="a ledger record's date")
    version = serializers.IntegerField(help_text="the version's number: 1, then one more for each correction")
    supersedes = SupersedesOut(
        allow_null=True, help_text="the delivery of the earlier version a correction replaces; null for version 1"
    )
    values = serializers.DictField(
        child=serializers.JSONField(), help_text="field code → value, for the subscription's fields only"
    )
    not_applicable = serializers.DictField(
        child=serializers.CharField(), help_text="field code → the unit's reason why the field does not apply"
    )
    source = serializers.CharField(  # type: ignore[assignment]  # the body's key, not Field.source: schema only
        allow_null=True, help_text="the code of the department whose register supplied it; null for a unit's filing"
    )
    origin = serializers.DictField(
        child=serializers.ChoiceField(choices=[o.value for o in Origin]),
        help_text="field code → where its value came from",
    )
    disputed = serializers.DictField(
        child=DisputedValueOut(), help_text="field code → the unit's dispute of the register's value"
    )
    explanations = serializers.DictField(
        child=ExplainedWarningOut(),
        help_text="`rule:<code>` or `plausibility:<field>` → a warning on delivered fields and the unit's explanation",
    )
    filed_at = serializers.DateTimeField(help_text="when the version was stored")


class DeliveryBatchOut(serializers.Serializer):
    type = serializers.ChoiceField(choices=["onetable.deliveries"])
    department = serializers.CharField(help_text="the receiving department's code")
    deliveries = DeliveryOut(many=True)


class DisputedValueEventOut(serializers.Serializer):
    id = serializers.CharField(help_text="the dispute's public id")
    status = serializers.CharField(help_text="`open` when announced")
    unit = UnitRefOut()
    field = serializers.CharField(help_text="the disputed field's code")
    sheet = serializers.CharField()
    period = serializers.CharField()
    register_value = serializers.JSONField(help_text="the value the source's register supplied")
    unit_value = serializers.JSONField(help_text="the value the unit says is right")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class DisputeEventOut(serializers.Serializer):
    """reporting/services/disputes.py `dispute_event`."""

    type = serializers.ChoiceField(choices=["dispute.opened"])
    department = serializers.CharField(help_text="the source department's code")
    dispute = DisputedValueEventOut()


class AreaRefOut(serializers.Serializer):
    code = serializers.CharField(help_text="the area's statutory code")
    name = serializers.CharField()
    level = serializers.CharField(help_text="province, city, county, township or village")


class CoverageOut(serializers.Serializer):
    reported = serializers.IntegerField(help_text="units inside the area that answered")
    asked = serializers.IntegerField(help_text="units inside the area that were asked")


class AggregatePushOut(serializers.Serializer):
    """reporting/services/aggregate_pushes.py: a push's stored body, with its id in front."""

    id = serializers.CharField(help_text="stable: the same push always has the same id")
    type = serializers.ChoiceField(choices=["aggregate"])
    department = serializers.CharField()
    subscription = serializers.IntegerField(help_text="the aggregate subscription it is pushed under")
    code = serializers.CharField(help_text="the field's or indicator's code")
    area = AreaRefOut()
    period = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="null when suppressed or without a value")
    suppressed = serializers.BooleanField(help_text="too few units to show the figure without revealing one")
    reason = serializers.CharField(help_text='why an indicator has no value ("" otherwise)')
    coverage = CoverageOut()
    not_reported = serializers.ListField(
        child=serializers.CharField(), help_text="the area codes of the units asked that have not answered"
    )


WEBHOOK_HEADERS = (
    "Signed as [Standard Webhooks](https://www.standardwebhooks.com/) sign: headers `webhook-id`, "
    "`webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the "
    "endpoint's `whsec_` secret; two signatures while a secret is rotated)."
)

# The batches posted to a department's endpoint (reporting/services/deliveries.py `batch_body`), listed in the
# schema's OpenAPI 3.1 `webhooks` (SPECTACULAR_SETTINGS["WEBHOOKS"]).
DELIVERIES_WEBHOOK = OpenApiWebhook(
    name="deliveries",
    decorator=extend_schema(
        summary="Deliveries posted to a department's endpoint, up to 200 in one batch",
        description=WEBHOOK_HEADERS + " Each delivery is the body its feed item has. A delivery's `id` is the same "
        "on every retry, and the `webhook-id` is derived from the batch's ordered delivery ids: drop what you "
        "already have. Only a complete 2xx answer counts as delivered; a timeout, a connection error, 429 or a "
        "5xx is retried with backoff for at least three days, any other 4xx is a dead letter at once.",
        request=DeliveryBatchOut,
        responses={
            "2XX": OpenApiResponse(description="received: the batch counts as delivered"),
            "429": OpenApiResponse(description="retried later"),
            "5XX": OpenApiResponse(description="retried later"),
        },
    ),
)

# A source department's endpoint is posted each dispute of its register values (reporting/services/disputes.py).
DISPUTE_WEBHOOK = OpenApiWebhook(
    name="dispute.opened",
    decorator=extend_schema(
        summary="A unit disputes a value the source department's register supplied",
        description=WEBHOOK_HEADERS + " `webhook-id` is `msg_<dispute id>_v<n>`, the same on a retry. Answer the "
        "dispute through `/api/v1/department/disputes/{id}/answer`; a 2xx answer only says the event arrived, and an "
        "event that gets none is sent again with backoff.",
        request=DisputeEventOut,
        responses={"2XX": OpenApiResponse(description="received")},
    ),
)

# An aggregate subscription's endpoint is posted each figure once its coverage passes the subscription's level,
# and again only when the figure changes (reporting/services/aggregate_pushes.py).
AGGREGATE_WEBHOOK = OpenApiWebhook(
    name="aggregate",
    decorator=extend_schema(
        summary="A roll-up figure of an area, pushed to an aggregate subscription",
        description=WEBHOOK_HEADERS + " `webhook-id` is `msg_<push id>`; a later push of the same figure "
        "replaces it. Never a unit's value: small cells are suppressed.",
        request=AggregatePushOut,
        responses={"2XX": OpenApiResponse(description="received")},
    ),
)


# What any operation of the API may answer besides its own responses, all with the error body above.
COMMON_ERRORS = {
    "400": "bad input: each problem names the field and the rule (zh and en)",
    "401": "no token, or a token that is unknown, revoked or expired",
    "404": "not found, or not yours: the two look the same",
    "411": "a chunked body on a server that cannot read one (gunicorn can): send Content-Length",
    "413": "the body is larger than the server takes (DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "415": "the body is not JSON",
    "429": "too many requests for this token; retry later",
    "503": "the database is unavailable: nothing was stored; retry after the Retry-After header's seconds",
}


def add_common_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: document, on every operation of the API, the errors its
    authentication, throttling, parameters and body can give (401, 429, 404, 400, 411, 413, 415), and 503 while
    the database is away, with the error body."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in COMMON_ERRORS.items():
                if code == "400" and not (operation.get("parameters") or operation.get("requestBody")):
                    continue  # nothing to get wrong
                if code in ("411", "413", "415") and "requestBody" not in operation:
                    continue
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                    },
                )
    return result
