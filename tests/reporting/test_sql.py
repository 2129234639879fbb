"""The one builder of PostgreSQL array literals: what goes in comes back out of PostgreSQL unchanged."""

import pytest
from django.db import connection

from reporting.sql import array_literal

pytestmark = pytest.mark.django_db


def test_it_gives_postgresql_back_every_text_as_it_was():
    texts = ["a,b", 'he said "yes"', "back\\slash", "NULL", "{}", " spaced ", "", "常住人口", None]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [array_literal(texts)])
        assert cursor.fetchone()[0] == texts


def test_it_gives_postgresql_back_every_id_and_null():
    ids = [1, None, 10**18 - 1, 0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::bigint[]", [array_literal(ids)])
        assert cursor.fetchone()[0] == ids


def test_an_empty_list_is_an_empty_array():
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(%s::bigint[])", [array_literal([])])
        assert cursor.fetchone()[0] == 0
