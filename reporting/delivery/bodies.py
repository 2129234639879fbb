"""What a delivery carries: its version's values restricted to the delivery's fields, with each value's origin.

PostgreSQL returns each delivery's stored documents as text, once per version in a batch, with the parts
that are not restricted (who, what, when) already rendered as JSON; Python keeps the delivered fields and
writes the body. Restricting the values in PostgreSQL (`jsonb_each` and aggregates per delivery) was most of
the sender's time (docs/benchmarks.md, issue 21, sending).

The body is byte for byte the JSON PostgreSQL wrote when it built it (`json_build_object(…)::text`, its
documents as `jsonb` prints them), so receivers and their signatures see no change:
tests/deliveries/test_bodies.py compares the two on random deliveries. That holds because each document is
re-encoded the way `jsonb` prints it: keys in the order read (jsonb's own), `", "` and `": "` between items,
the same string escapes as Python's with `ensure_ascii=False`; whole numbers are exact in Python; a number
with a fraction (the registry stores decimals as text, but a document may hold one) keeps its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg.adapt import Buffer, Loader

from reporting.filing.origins import Origin, origins

# The columns a body is built from, after the statement's own (d: the outbox row, v: its version, s: the
# submission, src: the supplying department). The version's document only on its first row of the statement
# (rows in id order): a version delivered twice in a batch is read and decoded once. The fields only where they
# differ from the row before's: a batch is mostly one subscription's, 150 codes sent and parsed once.
BODY_COLUMNS = """
d.version_id,
json_build_object(
    'id', 'dlv_' || d.id,
    'subscription', d.subscription_id,
    'unit', json_build_object('code', a.code, 'name', u.name),
    'sheet', sh.code,
    'period', s.period,
    'record_key', s.record_key,
    'record_date', s.record_date,
    'version', v.number,
    'supersedes', CASE WHEN d.supersedes_id IS NULL THEN NULL
                  ELSE json_build_object('delivery', 'dlv_' || d.supersedes_id, 'version', v.number - 1) END
)::text,
CASE WHEN d.fields IS DISTINCT FROM lag(d.fields) OVER (ORDER BY d.id) THEN d.fields END,
CASE WHEN d.id = min(d.id) OVER (PARTITION BY d.version_id) THEN v."values" END,
v.not_applicable::text,
v.disputed::text,
v.explanations::text,
s.source_id,
v.confirmed,
v.carried,
coalesce(to_json(src.code)::text, 'null'),
to_json(v.at)::text
"""
BODY_JOINS = """
JOIN reporting_submissionversion v ON v.id = d.version_id
JOIN reporting_submission s ON s.id = d.submission_id
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
JOIN reporting_sheet sh ON sh.id = s.sheet_id
LEFT JOIN core_department src ON src.id = s.source_id
"""

# jsonb's separators; a one-shot encoder keeps Python's C implementation
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False).encode


def _encode(value: dict[str, Any]) -> str:
    return _encoder(value) if value else "{}"


# A number with a fraction is decoded as its text between two NUL characters, which jsonb never holds in a
# string (it refuses \u0000), and put back as that text after encoding.
_RAW_NUMBER = re.compile(r'"\\u0000([-+.0-9eE]+)\\u0000"')


def _fraction(text: str) -> str:
    return f"\x00{text}\x00"


# msgspec decodes the UTF-8 PostgreSQL sends as it came, without making a str of it first, and faster than json
_decode = msgspec.json.Decoder(dict[str, Any], float_hook=_fraction).decode


class _JsonText(Loader):
    """A jsonb column as the bytes PostgreSQL printed, for `_decode`: not decoded to str first."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def reading_documents(cursor: psycopg.Cursor) -> psycopg.Cursor:
    """Have `cursor` return the version's document (BODY_COLUMNS' fourth) as bytes, as `build_bodies` takes it."""
    cursor.adapters.register_loader("jsonb", _JsonText)
    return cursor


def _restricted(text: str, fields: set[str]) -> dict[str, Any]:
    """The document's entries for the delivered fields, in the document's order."""
    if text == "{}":
        return {}
    return {key: value for key, value in _decode(text).items() if key in fields}


def _explained(value: Any, fields: set[str]) -> bool:
    """The Python twin of `(value -> 'fields') <@ to_jsonb(fields)`: the warning concerns delivered fields only."""
    if not isinstance(value, dict) or "fields" not in value:
        return False
    concerned = value["fields"]
    if isinstance(concerned, str):  # jsonb: a scalar is contained in an array that holds it
        return concerned in fields
    return isinstance(concerned, list) and all(isinstance(code, str) and code in fields for code in concerned)


class _Restriction:
    """Which of a document's keys a set of fields keeps, worked out once for every document with the same keys
    (a sheet's filings mostly answer the same fields): the kept keys, and their origins when every value has the
    same origin, already as JSON."""

    def __init__(self, delivered: set[str], keys: tuple[str, ...]) -> None:
        self.kept = [key for key in keys if key in delivered]
        self.uniform = {
            origin: _encode(dict.fromkeys(self.kept, origin)) for origin in (Origin.TYPED.value, Origin.REGISTER.value)
        }


def build_bodies(rows: Iterable[Sequence[Any]]) -> list[str]:
    """Each row's body (rows of BODY_COLUMNS, in the statement's order), as JSON text."""
    documents: dict[int, dict[str, Any]] = {}
    restrictions: dict[tuple[str, ...], _Restriction] = {}
    delivered: set[str] = set()
    bodies = []
    for version_id, head, fields, document_text, not_applicable, disputed, explanations, *rest in rows:
        source_id, confirmed, carried, source, filed_at = rest
        if fields is not None:  # the fields of the row before otherwise
            delivered, restrictions = set(fields), {}
        if document_text is not None:
            documents[version_id] = _decode(document_text)
        document = documents[version_id]
        keys = tuple(document)
        restriction = restrictions.get(keys) or restrictions.setdefault(keys, _Restriction(delivered, keys))
        values = {key: document[key] for key in restriction.kept}
        disputes = _decode(disputed) if disputed != "{}" else {}
        explained = (
            {}
            if explanations == "{}"
            else {key: value for key, value in _decode(explanations).items() if _explained(value, delivered)}
        )
        if source_id is not None or not (disputes or confirmed or carried):  # as `origins` decides
            origin = restriction.uniform[Origin.REGISTER.value if source_id is not None else Origin.TYPED.value]
        else:
            origin = _encode(
                origins(source_id=source_id, values=values, carried=carried, confirmed=confirmed, disputed=disputes)
            )
        body = "".join(
            (
                head[:-1],
                ', "values" : ',
                _encode(values),
                ', "not_applicable" : ',
                _encode(_restricted(not_applicable, delivered)),
                ', "source" : ',
                source,
                ', "origin" : ',
                origin,
                ', "disputed" : ',
                _encode({key: value for key, value in disputes.items() if key in delivered}),
                ', "explanations" : ',
                _encode(explained),
                ', "filed_at" : ',
                filed_at,
                "}",
            )
        )
        bodies.append(_RAW_NUMBER.sub(r"\1", body) if "\\u0000" in body else body)
    return bodies
