"""Serializers that document the API's JSON for the OpenAPI schema (responses are built without them)."""

from rest_framework import serializers


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
