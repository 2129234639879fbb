"""A delivery's body, restricted in Python (reporting/delivery/bodies.py), is byte for byte the body PostgreSQL built
before (the statement below, as reporting/services/deliveries.py ran it): receivers, their signatures and every
department's minimised view see no change."""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection

from core.models import Department, User
from reporting.filing.origins import origin_sql
from reporting.models import Delivery, SubmissionVersion, Subscription
from reporting.services import deliveries
from reporting.services.deliveries import delivery_bodies, send_batch
from reporting.services.relay import relay_versions
from tests.deliveries.conftest import file_activity, wire
from tests.reporting.helpers import file_village_basics

# The body as PostgreSQL built it (jsonb_each of the stored documents joined with the delivery's fields).
_REFERENCE_SQL = """
SELECT json_build_object(
    'id', 'dlv_' || d.id,
    'subscription', d.subscription_id,
    'unit', json_build_object('code', a.code, 'name', u.name),
    'sheet', sh.code,
    'period', s.period,
    'record_key', s.record_key,
    'record_date', s.record_date,
    'version', v.number,
    'supersedes', CASE WHEN d.supersedes_id IS NULL THEN NULL
                  ELSE json_build_object('delivery', 'dlv_' || d.supersedes_id, 'version', v.number - 1) END,
    'values', delivered."values",
    'not_applicable', (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb)
                       FROM jsonb_each(v.not_applicable) kv JOIN unnest(d.fields) f ON f = kv.key),
    'source', src.code,
    'origin', delivered.origin,
    'disputed', (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb)
                 FROM jsonb_each(v.disputed) kv JOIN unnest(d.fields) f ON f = kv.key),
    'explanations', (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb)
                     FROM jsonb_each(v.explanations) kv WHERE (kv.value -> 'fields') <@ to_jsonb(d.fields)),
    'filed_at', v.at
)::text
FROM reporting_delivery d
JOIN reporting_submissionversion v ON v.id = d.version_id
JOIN reporting_submission s ON s.id = d.submission_id
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
JOIN reporting_sheet sh ON sh.id = s.sheet_id
LEFT JOIN core_department src ON src.id = s.source_id
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb) AS "values",
           coalesce(jsonb_object_agg(kv.key, {ORIGIN}), '{}'::jsonb) AS origin
    FROM jsonb_each(v."values") kv JOIN unnest(d.fields) f ON f = kv.key
) delivered
WHERE d.id = ANY(%s) ORDER BY d.id
""".replace("{ORIGIN}", origin_sql(code="kv.key", source="s.source_id", version="v"))

# field codes of every length jsonb orders by (length, then bytes), some outside ASCII
CODES = [
    "a",
    "b",
    "ab",
    "ba",
    "Z",
    "households",
    "registered_population",
    "library_books",
    "x_1",
    "x_10",
    "x_2",
    "人口",
    "é",
    "zz_" + "q" * 30,
    *[f"f{i:03d}" for i in range(40)],
]
# numbers with a fraction as a document can hold them (jsonb keeps their scale: 1.50 stays 1.50)
FRACTIONS = ["1.50", "-0.001", "0.0000001", "1e-7", "1E+3", "2.5e2", "12345678901234567890.123456789", "0.0", "-0"]
TEXTS = ["", "村委会", 'say "hi"', "back\\slash", "tab\tnew\nline\r", "\x01\x1f\x7f", "😀 emoji", "a/b", "\u2028", "é"]


def _scalar(rng: random.Random) -> str:
    """A JSON value's text, as a filing, a supply or an import might have stored it."""
    pick = rng.randrange(9)
    if pick == 0:
        return str(rng.choice([0, 1, -7, 610, 2**31, -(10**30), 10**25]))
    if pick == 1:
        return rng.choice(FRACTIONS)
    if pick == 2:
        return json.dumps(f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}")  # the registry's decimal text
    if pick == 3:
        return json.dumps(rng.choice(TEXTS), ensure_ascii=rng.random() < 0.5)
    if pick == 4:
        return rng.choice(["true", "false", "null"])
    if pick == 5:
        return json.dumps(rng.sample(["a", "b", "村", 'q"'], rng.randint(0, 3)), ensure_ascii=False)
    if pick == 6:
        return "[" + ", ".join(_scalar_plain(rng) for _ in range(rng.randint(0, 3))) + "]"
    if pick == 7:
        return '{"register": ' + _scalar_plain(rng) + ', "reason": ' + json.dumps(rng.choice(TEXTS)) + "}"
    return json.dumps(rng.choice(["2026-11-05", "1"]))


def _scalar_plain(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(-5, 5)), rng.choice(FRACTIONS), json.dumps(rng.choice(TEXTS))])


def _document(rng: random.Random, codes: list[str], value) -> str:
    return "{" + ", ".join(f"{json.dumps(code)}: {value(rng)}" for code in codes) + "}"


def _explanations(rng: random.Random, codes: list[str]) -> str:
    entries = []
    for i in range(rng.choice([0, 0, 1, 2, 4])):
        concerned = rng.sample(codes, rng.randint(0, 3))
        shape = rng.randrange(6)
        if shape == 0:
            value = "{" + f'"kind": "rule", "text": "", "fields": {json.dumps(concerned)}' + "}"
        elif shape == 1:
            value = json.dumps({"kind": "plausibility", "fields": concerned[0] if concerned else "a", "text": "去年"})
        elif shape == 2:
            value = json.dumps({"kind": "rule", "text": "no fields"})
        elif shape == 3:
            value = json.dumps({"fields": [*concerned, 1]})
        elif shape == 4:
            value = json.dumps("just text")
        else:
            value = json.dumps({"fields": concerned, "message_zh": "人口", "high": 1.5, "text": "x"})
        entries.append(f'"rule:r{i}": {value}')
    return "{" + ", ".join(entries) + "}"


def _make_deliveries(rng: random.Random, count: int, cadre: User, *, supplied: bool = False) -> list[int]:
    """`count` versions of random documents, delivered to one or two subscriptions each, with random fields."""
    file_village_basics(cadre)
    relay_versions()
    template = Delivery.objects.select_related("version").order_by("id").first()
    assert template is not None
    version = template.version
    subscriptions = list(Subscription.objects.order_by("id").values_list("id", flat=True)[:2])
    with connection.cursor() as cursor:
        # some filings are a department's supply: every value's origin is then the register
        cursor.execute(
            "UPDATE reporting_submission SET source_id = %s WHERE id = %s",
            [Department.objects.get(code="stats").pk if supplied else None, template.submission_id],
        )
    ids: list[int] = []
    fields: list[str] = []
    codes: list[str] = []
    for n in range(count):
        if not codes or rng.random() < 0.5:  # else the same fields answered as before (other values)
            codes = rng.sample(CODES, rng.randint(0, len(CODES)))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO reporting_submissionversion (submission_id, number, period_start, by_id, at, reason,"
                " values, not_applicable, disputed, explanations, carried, confirmed, gaps, typed_count, carried_count,"
                " na_count, department_count, refills_spared, asked_count, confirmed_count, disputed_count)"
                " VALUES (%s, %s, %s, %s, now() - make_interval(secs => %s), '', %s::jsonb, %s::jsonb, %s::jsonb,"
                " %s::jsonb, %s, %s, '{}', 0, 0, 0, 0, 0, 0, 0, 0) RETURNING id",
                [
                    version.submission_id,
                    1000 + n,
                    version.period_start,
                    version.by_id,
                    rng.random() * 1e6,
                    _document(rng, codes, _scalar),
                    _document(rng, rng.sample(CODES, rng.choice([0, 0, 2, 5])), lambda r: json.dumps(r.choice(TEXTS))),
                    _document(rng, rng.sample(codes, min(len(codes), rng.choice([0, 0, 1, 3]))), _scalar),
                    _explanations(rng, CODES),
                    rng.sample(CODES, rng.choice([0, 0, 2, 6])),
                    rng.sample(CODES, rng.choice([0, 0, 2, 6])),
                ],
            )
            (version_id,) = cursor.fetchone()
            for subscription_id in subscriptions[: rng.randint(1, 2)]:
                if not fields or rng.random() < 0.6:  # else the row before's, as in a batch of one subscription
                    fields = rng.sample(CODES, rng.randint(0, len(CODES))) + rng.sample(CODES, rng.choice([0, 2]))
                cursor.execute(
                    "INSERT INTO reporting_delivery (department_id, subscription_id, submission_id, version_id,"
                    " supersedes_id, fields, position, status, attempts, last_error, created_at, version_month,"
                    " version_start) VALUES (%s, %s, %s, %s, %s, %s, 0, 'delivered', 0, '', now(), %s,"
                    " (SELECT period_start FROM reporting_submissionversion WHERE id = %s)) RETURNING id",
                    [
                        template.department_id,
                        subscription_id,
                        template.submission_id,
                        version_id,
                        template.pk if rng.random() < 0.3 else None,
                        fields,
                        template.version_month,
                        version_id,
                    ],
                )
                ids.append(cursor.fetchone()[0])
    return ids


def _reference(ids: list[int]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_REFERENCE_SQL, [ids])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("supplied", [False, True], ids=["filed", "supplied"])
def test_it_builds_every_body_byte_for_byte_as_postgresql_did(demo, village_cadre, supplied):
    rng = random.Random(21)
    ids = _make_deliveries(rng, 400, village_cadre, supplied=supplied)
    ids += list(Delivery.objects.exclude(id__in=ids).values_list("id", flat=True))  # the demo's own too
    rng.shuffle(ids)  # a batch in id order whatever the order asked for, versions delivered twice among them
    built, expected = delivery_bodies(ids), _reference(ids)
    assert len(built) == len(expected) == len(ids)
    for mine, theirs in zip(built, expected, strict=True):
        assert mine == theirs


def test_a_body_keeps_only_the_delivered_fields(demo, village_cadre):
    rng = random.Random(7)
    ids = _make_deliveries(rng, 60, village_cadre)
    for delivery, body in zip(Delivery.objects.filter(id__in=ids).order_by("id"), delivery_bodies(ids), strict=True):
        carried = json.loads(body)
        stored = SubmissionVersion.objects.get(pk=delivery.version_id)
        assert set(carried["values"]) == set(stored.values) & set(delivery.fields)
        assert set(carried["origin"]) == set(carried["values"])
        assert set(carried["not_applicable"]) <= set(delivery.fields)
        assert set(carried["disputed"]) <= set(delivery.fields)


def test_a_version_sent_to_several_endpoints_carries_the_same_bodies_from_the_document_one_batch_read(
    cadre, loopback_allowed, receivers
):
    """The second endpoint's claim is told the versions this process holds decoded and reads no document: what it
    posts is still each delivery's body, as the feed serves it."""
    propaganda, culture = receivers(), receivers()
    endpoints = [wire("propaganda", propaganda), wire("culture", culture)]
    versions = {file_activity(cadre, activity_title=f"共享{i}").pk for i in range(3)}
    while send_batch(endpoints[0].pk):
        continue
    assert versions <= set(deliveries._documents.held())  # the first batch's documents, kept for the next
    while send_batch(endpoints[1].pk):
        continue
    for receiver, endpoint in zip((propaganda, culture), endpoints, strict=True):
        ids = sorted(Delivery.objects.filter(endpoint=endpoint).values_list("id", flat=True))
        assert len(ids) == len(versions)
        served = zip(ids, delivery_bodies(ids), strict=True)
        assert receiver.applied() == {f"dlv_{pk}": json.loads(body) for pk, body in served}
