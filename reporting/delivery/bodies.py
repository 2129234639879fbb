"""What a delivery carries: its version's values restricted to the delivery's fields, with each value's origin.

PostgreSQL returns each delivery's stored documents as the bytes `jsonb` prints, once per version in a batch
and not at all for a version this process holds decoded already (`Documents`), with the parts that are not
restricted (who, what, when) already rendered as JSON; Python keeps the delivered fields and writes the body as
bytes. Restricting the values in PostgreSQL (`jsonb_each` and aggregates per delivery) was most of the sender's
time (docs/benchmarks.md, issue 21, sending).

The body is byte for byte the JSON PostgreSQL wrote when it built it (`json_build_object(…)::text`, its
documents as `jsonb` prints them), so receivers and their signatures see no change:
tests/deliveries/test_bodies.py compares the two on random deliveries. That holds because every value is the
slice of the document `jsonb` printed (never decoded and encoded again: `1.50` stays `1.50`), keys are in
the order read (jsonb's own) and written with the same string escapes as Python's with `ensure_ascii=False`,
and `", "` and `": "` are between items.
"""

from __future__ import annotations

import functools
import json
import threading
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
CASE WHEN d.id = min(d.id) OVER (PARTITION BY d.version_id) AND NOT (d.version_id = ANY(%(held)s::bigint[]))
     THEN v."values" END,
v.not_applicable::text,
v.disputed::text,
v.explanations::text,
s.source_id,
v.confirmed,
v.carried,
coalesce(to_json(src.code)::text, 'null'),
to_json(v.at)::text
"""
# Each version by its whole key (`version_start`: its partition key, carried by the delivery), one probe of one year's
# partition a row (tests/deliveries/test_delivery_partitions.py). By id alone each row probed every year's; and as a
# plain join the generic plan may hash every year's versions whole: LIMIT 1 keeps it a probe, as in the relay.
BODY_JOINS = """
CROSS JOIN LATERAL (
    SELECT v.number, v."values", v.not_applicable, v.disputed, v.explanations, v.confirmed, v.carried, v.at
    FROM reporting_submissionversion v WHERE v.id = d.version_id AND v.period_start = d.version_start LIMIT 1) v
JOIN reporting_submission s ON s.id = d.submission_id
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
JOIN reporting_sheet sh ON sh.id = s.sheet_id
LEFT JOIN core_department src ON src.id = s.source_id
"""

# jsonb's separators; a one-shot encoder keeps Python's C implementation
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False).encode

# Each value is kept as the bytes `jsonb` printed it (msgspec.Raw: a slice of the document PostgreSQL sent, never
# decoded or encoded again), so every number, string and nested object is passed on exactly as stored; only
# the keys are written again, once per key.
_decode = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_value = msgspec.json.decode


@functools.lru_cache(maxsize=8192)
def _key(key: str) -> bytes:
    """`"key": ` as jsonb prints an object's key (its string escapes are Python's with ensure_ascii=False)."""
    return (_encoder(key) + ": ").encode()


def _object(pairs: Iterable[tuple[str, Any]]) -> bytes:
    """A JSON object of (key, value's bytes) pairs, printed as jsonb prints one."""
    items = [_key(key) + value for key, value in pairs]
    return b"{" + b", ".join(items) + b"}" if items else b"{}"


class _JsonText(Loader):
    """A json, jsonb or text column as the bytes PostgreSQL printed, for `_decode` and for the body as it is."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def reading_documents(cursor: psycopg.Cursor) -> psycopg.Cursor:
    """Have `cursor` return the body's columns (BODY_COLUMNS) as the bytes PostgreSQL printed, as `build_bodies`
    takes them: its jsonb and text columns (the field codes, `varchar`, stay text)."""
    for name in ("jsonb", "text"):
        cursor.adapters.register_loader(name, _JsonText)
    return cursor


def _restricted(text: bytes, fields: set[str]) -> bytes:
    """The document's entries for the delivered fields, in the document's order."""
    if text == b"{}":
        return text
    return _object((key, value) for key, value in _decode(text).items() if key in fields)


def _explained(value: Any, fields: set[str]) -> bool:
    """The Python twin of `(value -> 'fields') <@ to_jsonb(fields)`: the warning concerns delivered fields only."""
    value = _decode_value(value)
    if not isinstance(value, dict) or "fields" not in value:
        return False
    concerned = value["fields"]
    if isinstance(concerned, str):  # jsonb: a scalar is contained in an array that holds it
        return concerned in fields
    return isinstance(concerned, list) and all(isinstance(code, str) and code in fields for code in concerned)


class _Restriction:
    """Which of a document's keys a set of fields keeps, worked out once for every document with the same keys
    (a sheet's filings mostly answer the same fields): the kept keys with their printed prefixes, and their
    origins when every value has the same origin, already as JSON."""

    def __init__(self, delivered: set[str], keys: tuple[str, ...]) -> None:
        self.kept = [key for key in keys if key in delivered]
        self.pairs = [(_key(key), key) for key in self.kept]
        self.uniform = {
            origin: _object((key, _encoder(origin).encode()) for key in self.kept)
            for origin in (Origin.TYPED.value, Origin.REGISTER.value)
        }


class Documents:
    """Versions' documents decoded, kept across statements in one process (a filing goes to some 30 departments,
    each its own batch): the claim tells PostgreSQL which versions it holds, and their documents are neither
    printed, sent nor decoded again. A version's stored documents never change."""

    # A filing's departments are sent its version within a second or so: a few dozen versions at 20 filings/s. The
    # claim compares each first row of a version with every version held (an array scan), so few are kept.
    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.kept: dict[int, dict[str, Any]] = {}

    def held(self) -> dict[int, dict[str, Any]]:
        """The documents held now (a copy: another thread may drop one while a statement runs)."""
        with self.lock:
            return dict(self.kept)

    def add(self, documents: dict[int, dict[str, Any]]) -> None:
        with self.lock:
            self.kept.update(documents)
            while len(self.kept) > self.size:  # the oldest first (dicts keep their insertion order)
                del self.kept[next(iter(self.kept))]


def build_bodies(rows: Iterable[Sequence[Any]], held: dict[int, dict[str, Any]] | None = None) -> list[bytes]:
    """Each row's body (rows of BODY_COLUMNS, in the statement's order), as JSON bytes. `held`: the documents of
    the versions whose rows carry none (the statement was told they were held); the documents read are added."""
    documents: dict[int, dict[str, Any]] = held if held is not None else {}
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
        values = b"{" + b", ".join([prefix + document[key] for prefix, key in restriction.pairs]) + b"}"
        disputes = _decode(disputed) if disputed != b"{}" else {}
        if source_id is not None or not (disputes or confirmed or carried):  # as `origins` decides
            origin = restriction.uniform[Origin.REGISTER.value if source_id is not None else Origin.TYPED.value]
        else:
            found = origins(
                source_id=source_id, values=restriction.kept, carried=carried, confirmed=confirmed, disputed=disputes
            )
            origin = _object((key, _encoder(word).encode()) for key, word in found.items())
        bodies.append(
            b"".join(
                (
                    head[:-1],
                    b', "values" : ',
                    values if restriction.kept else b"{}",
                    b', "not_applicable" : ',
                    _restricted(not_applicable, delivered),
                    b', "source" : ',
                    source,
                    b', "origin" : ',
                    origin,
                    b', "disputed" : ',
                    _object((key, value) for key, value in disputes.items() if key in delivered),
                    b', "explanations" : ',
                    b"{}"
                    if explanations == b"{}"
                    else _object(
                        (key, value) for key, value in _decode(explanations).items() if _explained(value, delivered)
                    ),
                    b', "filed_at" : ',
                    filed_at,
                    b"}",
                )
            )
        )
    return bodies
