"""Whole exports read ahead: a thread on a connection of its own fetches the next chunk of rows, inside
one transaction, while the caller formats this one. On committed data (autocommit), as in production.

What must hold: the same rows in the same order as reading in line; the reader's connection closed and
its thread gone when the export ends, fails or is abandoned; its errors raised to the caller; memory
bounded (the reader waits while READ_AHEAD chunks are ready).
"""

from __future__ import annotations

import csv
import threading

import pytest
from django.db import DataError, connection, transaction

from core.models import Area, User
from reporting.models import ExportJob, ExportStatus, Sheet
from reporting.reads import exports
from reporting.reads.data import Query, rows
from reporting.reads.exports import read_ahead, run_export
from tests.waiting import this_runs_sessions_sql, wait_for


@pytest.fixture
def culture(committed_demo) -> User:
    return User.objects.select_related("department").get(username="culture")


@pytest.fixture
def small_chunks(monkeypatch):
    """Pieces of 7 rows and one ready at a time: the demo's 150 filings cross many hand-overs and make
    the reader wait for the caller."""
    monkeypatch.setattr(exports, "PIECE", 7)
    monkeypatch.setattr(exports, "READ_AHEAD", 1)


def _query(user: User, **kwargs) -> Query:
    return Query(department=user.department, sheet=Sheet.objects.get(code="village_basics"), **kwargs)


def _connections() -> int:
    """This run's sessions on the server. A closed connection's backend leaves a moment after the client
    hangs up: wait for the count (`wait_for`) rather than read it once."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM pg_stat_activity WHERE {this_runs_sessions_sql()}")
        return cursor.fetchone()[0]


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("export-reader-")]


def read_in_line(user: User) -> list:
    """The rows read in line, without the reader thread (in one transaction, as every read of them is)."""
    with transaction.atomic():
        return list(rows(_query(user)))


def test_read_ahead_gives_the_rows_read_in_line_in_the_same_order(culture, small_chunks):
    assert connection.get_autocommit()
    expected = [(r.submission_id, r.values) for r in read_in_line(culture)]
    before = _connections()
    got = [(r.submission_id, r.values) for r in read_ahead(_query(culture))]
    assert len(expected) == 150 and got == expected
    assert _readers() == [] and wait_for(lambda: _connections() == before)  # the reader's connection is closed


def test_an_export_job_written_through_the_reader_matches_the_rows(culture, small_chunks):
    job = ExportJob.objects.create(
        department=culture.department, by=culture, format="csv", params={"sheet": "village_basics"}
    )
    job = run_export(job.pk)
    assert job.status == ExportStatus.DONE and job.rows_done == 150
    with (exports.export_dir() / job.file).open(encoding="utf-8-sig", newline="") as saved:
        written = [line[0] for line in csv.reader(saved)][1:]
    assert written == [r.unit_code for r in read_in_line(culture)]


def test_an_abandoned_export_stops_the_reader_and_closes_its_connection(culture, small_chunks):
    before = _connections()
    stream = read_ahead(_query(culture))
    next(stream)
    assert len(_readers()) == 1 and _connections() == before + 1  # reading, on a connection of its own
    stream.close()  # e.g. the client of a streamed CSV went away
    assert _readers() == [] and wait_for(lambda: _connections() == before)


def test_the_readers_error_is_raised_to_the_caller_and_nothing_is_left_open(culture, small_chunks):
    before = _connections()
    # PostgreSQL text cannot hold NUL: the reader's statement fails (a period filter is checked before any
    # statement now, so the NUL comes in through an area no page would let through)
    with pytest.raises(DataError, match="NUL"):
        list(read_ahead(_query(culture, area=Area(code="x", path="360799\x00"))))
    assert _readers() == [] and wait_for(lambda: _connections() == before)


def test_a_caller_inside_a_transaction_is_read_in_it(culture):
    """Another connection would not see what the caller has not committed."""
    with transaction.atomic():
        sheet = Sheet.objects.get(code="village_basics")
        fresh = next(rows(_query(culture)))
        sheet.submissions.filter(pk=fresh.submission_id).update(period="1999")  # uncommitted
        first = next(read_ahead(_query(culture)))
        assert _readers() == [] and first.period == "1999"
        transaction.set_rollback(True)


def test_the_streamed_csv_download_reads_ahead_and_a_client_that_goes_away_stops_it(
    client, culture, small_chunks, monkeypatch
):
    monkeypatch.setattr(exports, "CSV_FLUSH", 10)  # a chunk every 10 rows: the download is under way after one
    client.force_login(culture)
    before = _connections()
    response = client.get("/department/data.csv?sheet=village_basics")
    chunks = iter(response.streaming_content)
    first = next(chunks).decode("utf-8-sig")
    assert first.startswith("单位代码") and len(_readers()) == 1  # the download reads on a thread of its own
    response.close()  # what the server does when the client disconnects
    assert _readers() == [] and wait_for(lambda: _connections() == before)

    whole = b"".join(client.get("/department/data.csv?sheet=village_basics").streaming_content)
    codes = [line[0] for line in csv.reader(whole.decode("utf-8-sig").splitlines())][1:]
    assert codes == [r.unit_code for r in read_in_line(culture)]
