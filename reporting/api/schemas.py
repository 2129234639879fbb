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
    errors = ProblemOut(many=True)


class CountsOut(serializers.Serializer):
    typed = serializers.IntegerField()
    carried = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
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
    reason = serializers.CharField()
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
