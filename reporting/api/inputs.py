"""What each API operation takes, one serializer per operation: the OpenAPI schema documents these
(drf-spectacular reads them from `extend_schema`) and the views validate with them, so the schema and the checks
are one definition and cannot drift apart.

A wrong value is refused by name, with its rule in Chinese and English, like every Problem: `Input.parse`
raises Problems naming each wrong field at once (`limit`, `not_applicable.volunteers`, `ids[2]`). The fields are
strict where DRF's are lenient: text is a string (DRF's CharField takes numbers), a boolean is JSON's true or
false (DRF's BooleanField takes "false", 0 and "no"), a number is written in ASCII digits (DRF's IntegerField
takes '١٢'; `reporting.params` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from reporting.catalogue.periods import Period
from reporting.delivery.feed import CURSOR
from reporting.models import DisputeStatus
from reporting.params import repeated, whole_number
from reporting.rejections import Problem, Problems, listing, storable

# the DHIS2 notation, or as people type one (2026-12, 2026-Q4, 2026 Q4), read as the notation (`Period.parse`)
PERIOD_PATTERN = "^[0-9]{4}([- ]?[Qq][1-4]|-?(0[1-9]|1[0-2]))?$"


class _Rule:
    """A field's one rule: what a Problem about it says when its value is of the wrong type or out of range."""

    rule = "required"
    params: dict[str, Any] = {}

    def __init__(self, *args, rule: str | None = None, params: dict[str, Any] | None = None, **kwargs) -> None:
        self.rule = rule or self.rule
        self.params = params or self.params
        super().__init__(*args, **kwargs)

    def problem(self, raw: Any, where: str) -> Problem:
        return Problem(field=where, rule=self.rule, params=self.params)


class Text(_Rule, serializers.CharField):
    """Text and only text (a JSON number, boolean, list or object is refused), kept only if storable."""

    rule = "text.type"

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not storable(data):
            raise serializers.ValidationError("text.character", code="text.character")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": PERIOD_PATTERN, "example": "2026Q4"})
class PeriodText(Text):
    """A period in the DHIS2 notation (2026, 2026Q4, 202611) or as typed (2026-11, 2026-Q4), kept in the notation;
    refused with the reason `Period.parse` gives."""

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            return str(Period.parse(text, field=self.field_name or ""))
        except Problem:
            raise serializers.ValidationError("period", code="invalid") from None

    def problem(self, raw: Any, where: str) -> Problem:
        if not isinstance(raw, str):
            return super().problem(raw, where)
        try:
            Period.parse(raw, field=where)
        except Problem as problem:
            return problem
        return super().problem(raw, where)


class Boolean(_Rule, serializers.BooleanField):
    """JSON's true or false, nothing else: "false" read as true (a non-empty string) paused what it resumed."""

    rule = "boolean.json"

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("boolean.json", code="invalid")
        return data


class WholeNumber(_Rule, serializers.IntegerField):
    """A JSON integer, or (in a query string) ASCII digits; its range is part of its rule."""

    rule = "number.range"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not kwargs.get("params"):
            self.params = {"min": self.min_value, "max": self.max_value}

    def to_internal_value(self, data: Any) -> int:
        number = data if type(data) is int else whole_number(data)
        if number is None:
            raise serializers.ValidationError("number", code="invalid")
        return number


_ANY = type(serializers.DictField.child)  # DRF's child of a dict that takes any value: it returns each unchanged


class Object(_Rule, serializers.DictField):
    rule = "body.object"

    def problem(self, raw: Any, where: str) -> Problem:  # "须为 JSON 对象" alone does not say which key
        return super().problem(raw, where).labelled(where, where)

    def run_child_validation(self, data: Mapping[str, Any]) -> dict[str, Any]:
        # an object of any values (a filing's `values`: its service checks each by its field's type) is taken
        # as it is: DRF would pass each of a filing's 200 values through a field that returns it unchanged
        if type(self.child) is _ANY:
            return {str(key): value for key, value in data.items()}
        return super().run_child_validation(data)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class Reasons(Object):
    """Field code → why it does not apply: each reason is judged by the filing service, which names the field it
    belongs to (its code, and its name in Chinese and English) and the rule; a reason that is no text is that
    field's problem, not a key's."""


class TextList(_Rule, serializers.ListField):
    rule = "text.type"


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": "^(dlv_)?[0-9]{1,18}$", "example": "dlv_123"},
            {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
        ]
    }
)
class DeliveryId(_Rule, serializers.Field):
    """A delivery id as the API shows it (`dlv_123`), or its bare number."""

    rule = "ids.item"

    def to_internal_value(self, data: Any) -> int:
        if type(data) is int and 0 <= data < 10**18:
            return data
        number = whole_number(data.removeprefix("dlv_")) if isinstance(data, str) else None
        if number is None:
            raise serializers.ValidationError("ids.item", code="invalid")
        return number

    def to_representation(self, value: int) -> str:
        return f"dlv_{value}"


class DeliveryIds(_Rule, serializers.ListField):
    rule = "ids.list"


class Choice(_Rule, serializers.ChoiceField):
    rule = "choice.invalid"

    def __init__(self, choices: list[str], **kwargs) -> None:
        super().__init__(choices, params={"choices": listing(choices)}, **kwargs)


class Input(serializers.Serializer):
    """An operation's input (a query string or a JSON body); `parse` returns its valid values or raises Problems."""

    @classmethod
    def parse(cls, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise Problems([Problem(field="body", rule="body.object")])
        serializer = cls(data=data)
        twice = cls.repeated(data, serializer.fields) if isinstance(data, QueryDict) else []
        valid = serializer.is_valid()
        unknown = _unknown_keys(serializer.fields, data)
        if valid and not twice and not unknown:
            return dict(serializer.validated_data)
        named = {p.field for p in twice}
        errors = {name: details for name, details in (serializer.errors or {}).items() if name not in named}
        raise Problems(twice + _problems(serializer.fields, errors, data) + unknown)

    @classmethod
    def repeated(cls, data: Mapping[str, Any], fields: Mapping[str, serializers.Field]) -> list[Problem]:
        """The parameters of a query string given more than once that take one value (a list field takes many).
        `fields`: the serializer's own (each `cls().fields` deep-copies every declared field again)."""
        many = [name for name, field in fields.items() if isinstance(field, serializers.ListField)]
        return repeated(data, many=many)

    @classmethod
    def parse_each(cls, data: Any) -> tuple[dict[str, Any], list[Problem]]:
        """The valid values and the problems with the others: a view that checks more than the input's types
        knows what was given when something else was wrong, and names only what is."""
        try:
            return cls.parse(data), []
        except Problems as error:
            problems = list(error.problems)
        if not isinstance(data, Mapping):
            return {}, problems
        serializer = cls(data=data)
        serializer.is_valid()
        named = {p.field for p in problems}
        valid: dict[str, Any] = {}
        for name, field in serializer.fields.items():
            if name in serializer.errors or name in named:
                continue
            try:
                valid[name] = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, SkipField):  # absent without a default, or wrong
                continue
        return valid, problems


def _unknown_keys(fields, data: Mapping) -> list[Problem]:
    """A JSON body's keys the operation does not take, each named: a misspelt key ignored would change what is
    done (`{"idz": [...]}` on replay would send every dead letter again). A query string is not checked: clients
    and proxies add parameters of their own (a cache buster) to a GET."""
    if isinstance(data, QueryDict):
        return []
    known = listing(fields)
    return [
        Problem(field=str(key), rule="body.unknown_key", params={"key": key, "known": known})
        for key in data
        if key not in fields
    ]


def _problems(fields, errors: Mapping, data: Any, prefix: str = "") -> list[Problem]:
    found = []
    for name, details in errors.items():
        raw = data.get(name) if isinstance(data, Mapping) else None
        found += _field_problems(fields[name], details, raw, f"{prefix}.{name}" if prefix else name)
    return found


def _field_problems(field, details, raw: Any, where: str) -> list[Problem]:
    if isinstance(details, Mapping):  # a dict's or a list's items: {key or index: their errors}
        found = []
        for key, inner in details.items():
            item = raw.get(key) if isinstance(raw, Mapping) else raw[key] if isinstance(raw, list) else None
            name = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"
            found += _field_problems(field.child, inner, item, name)
        return found
    found = []
    for detail in details:
        code = getattr(detail, "code", "")
        if code in ("required", "blank"):
            found.append(Problem(field=where, rule="required"))
        elif code == "text.character":
            found.append(Problem(field=where, rule="text.character"))
        elif code == "max_length":
            found.append(Problem(field=where, rule="text.max_length", params={"max_length": field.max_length}))
        elif isinstance(field, _Rule):
            found.append(field.problem(raw, where))
        else:
            found.append(Problem(field=where, rule="body.object"))
    return found


# --- the operations ---------------------------------------------------------------------------------------------


class OneTableQuery(Input):
    period = PeriodText(help_text="2026, 2026Q4 or 202611")


class SubmissionsQuery(Input):
    sheet = Text(required=False)
    period = PeriodText(required=False)


class SubmissionIn(Input):
    sheet = Text()
    period = PeriodText(required=False, help_text="for a periodic sheet: 2026, 2026Q4 or 202611")
    values = Object(help_text="field code → value, in the field's JSON type")
    not_applicable = Reasons(required=False, help_text="field code → the reason it does not apply (text)")
    explanations = Object(
        required=False,
        help_text="why a warning is fine: rule code, `plausibility:<field>` or field code → one line of text",
    )
    disputes = Object(
        required=False,
        help_text="field code → the reason the register value is wrong (with your own value in `values`)",
    )
    form = Text(
        required=False,
        help_text="the version of the form the values were filled on (`form` of the one table): refused with 409 "
        "form.changed when the sheet's form has changed since (a phone that filled it offline)",
    )


class CorrectionIn(Input):
    values = Object(help_text="field code → value, in the field's JSON type")
    not_applicable = Reasons(required=False, help_text="field code → the reason it does not apply (text)")
    explanations = Object(
        required=False,
        help_text="why a warning is fine: rule code, `plausibility:<field>` or field code → one line of text",
    )
    disputes = Object(
        required=False,
        help_text="field code → the reason the register value is wrong (with your own value in `values`)",
    )
    reason = Text(allow_blank=True, help_text="why the submission is corrected")
    form = Text(
        required=False,
        help_text="the version of the form the correction was filled on (`form` of the one table): refused with 409 "
        "form.changed when the sheet's form has changed since (a phone that corrected it offline)",
    )


class FeedQuery(Input):
    after = Text(
        required=False,
        rule="feed.cursor",
        help_text="the `next` cursor of the previous page: the last feed position read, in decimal (`0` or absent: "
        "from the start); a cursor of the old form `<txid>-<id>` is still accepted; one the feed never gave out (past "
        "the department's last position, an old pair naming none of its deliveries) is 400 feed.cursor",
    )
    limit = WholeNumber(required=False, min_value=1, max_value=1000, rule="feed.limit", params={"max": 1000})

    def validate_after(self, value: str) -> str:
        if value and not CURSOR.fullmatch(value):
            raise serializers.ValidationError("feed.cursor", code="invalid")
        return value


class DataQuery(Input):
    sheet = Text()
    fields = TextList(child=Text(), required=False)  # type: ignore[assignment]  # the API's parameter is `fields`
    period_from = PeriodText(required=False)
    period_to = PeriodText(required=False)
    area = Text(required=False, help_text="statutory code of an area inside the jurisdiction")
    after = WholeNumber(required=False, min_value=0, max_value=10**18 - 1, rule="feed.cursor", default=0)
    limit = WholeNumber(
        required=False, min_value=1, max_value=1000, rule="feed.limit", params={"max": 1000}, default=100
    )
    format = Choice(["json", "csv"], required=False, default="json")


class ReplayIn(Input):
    ids = DeliveryIds(child=DeliveryId(), required=False, allow_empty=False)


class EndpointActiveIn(Input):
    active = Boolean(help_text="false pauses the endpoint, true resumes it")


class EndpointIn(Input):
    name = Text(help_text="what the department calls its receiver (at most 100 characters)")
    url = Text(help_text="http(s) URL whose address lies in a network the office allowed (at most 500 characters)")


class DisputesQuery(Input):
    status = Choice([s.value for s in DisputeStatus], required=False, help_text="open, corrected, stands or withdrawn")
    field = Text(required=False, help_text="a field's code")
    after = WholeNumber(required=False, min_value=0, max_value=10**18 - 1, rule="feed.cursor", default=0)
    limit = WholeNumber(
        required=False, min_value=1, max_value=1000, rule="feed.limit", params={"max": 1000}, default=100
    )


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]})
class AnyValue(_Rule, serializers.JSONField):
    """A field's value in its JSON type; the field's type judges it."""

    rule = "body.object"


class DisputeAnswerIn(Input):
    value = AnyValue(required=False, allow_null=True, help_text="the corrected value (the register was wrong)")
    answer = Text(required=False, allow_blank=True, help_text="why the register value stands")


class AggregatesQuery(Input):
    field = Text(required=False, help_text="the code of a field the department subscribes to (or `indicator`)")
    indicator = Text(required=False, help_text="the code of an indicator the department subscribes to (or `field`)")
    period = PeriodText()
    area = Text(help_text="statutory code of an area inside the jurisdiction")
    level = Choice(["province", "city", "county", "township", "village"], required=False)


class ReportGenerateIn(Input):
    period = PeriodText()
    area = Text(help_text="statutory code of an area inside the jurisdiction")


class QuestionsQuery(Input):
    after = WholeNumber(required=False, min_value=0, max_value=10**18 - 1, rule="feed.cursor", default=0)
    limit = WholeNumber(
        required=False, min_value=1, max_value=1000, rule="feed.limit", params={"max": 1000}, default=100
    )


class QuestionAskIn(Input):
    submission = WholeNumber(min_value=1, max_value=10**18 - 1, help_text="the filing's id, as the data and feed show")
    field = Text(help_text="the code of the field asked about (one the department receives)")
    version = WholeNumber(required=False, min_value=1, max_value=10**6, help_text="the version seen (default: current)")
    text = Text(help_text="the question, up to 1000 characters")


class QuestionAnswerIn(Input):
    value = AnyValue(required=False, allow_null=True, help_text="the corrected value (a new version of the filing)")
    explanation = Text(required=False, allow_blank=True, help_text="why the value is right, or why it was corrected")
