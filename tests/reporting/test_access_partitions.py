"""Access records live in monthly partitions of `at`: made ahead by housekeeping, a DEFAULT partition for what
nobody made, retention by detaching whole months (archived when asked), the append-only guard on every partition,
and the migration that turned the plain table into a partitioned one without losing a row."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import threading
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core.appendonly import maintenance
from core.models import AuditEvent, Unit
from reporting.models import AccessRecord, Sheet, Subscription
from reporting.services.partitions import create_partitions, detach_access_records
from tests.core.test_append_only import refused
from tests.waiting import someone_waits_for_my_lock, wait_for

TODAY = dt.date(2026, 11, 22)


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T08:00:00+00:00")


def write_record(unit_id: int, when: dt.datetime, period: str = "2026Q3") -> tuple[int, str]:
    """One access record read at `when`, as the COPY path writes it; returns its id and the partition it is in."""
    culture = Subscription.objects.get(department__code="culture")
    sheet = Sheet.objects.get(code="village_basics")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period, fields,"
            " kind, at) VALUES (%s, %s, %s, %s, %s, '{library_books}', 'queried', %s)"
            " RETURNING id, tableoid::regclass::text",
            [unit_id, culture.department_id, culture.pk, sheet.pk, period, when],
        )
        return cursor.fetchone()


def partition_of(record_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM reporting_accessrecord WHERE id = %s", [record_id])
        return cursor.fetchone()[0]


def test_housekeeping_makes_the_coming_months_and_each_record_lands_in_its_month(village_cadre):
    made = create_partitions(today=dt.date(2027, 5, 3))
    assert {"reporting_accessrecord_p202705", "reporting_accessrecord_p202708"} <= set(made)
    assert create_partitions(today=dt.date(2027, 5, 3)) == []  # a second run makes nothing
    assert write_record(village_cadre.unit_id, at("2027-06-30"))[1] == "reporting_accessrecord_p202706"
    assert write_record(village_cadre.unit_id, at("2027-07-01"))[1] == "reporting_accessrecord_p202707"


def test_a_record_of_a_month_nobody_made_is_kept_and_moves_into_its_month_when_it_is_made(village_cadre):
    # beat stopped for years: the write is not refused, the DEFAULT partition takes it
    record_id, partition = write_record(village_cadre.unit_id, at("2031-02-10"))
    assert partition == "reporting_accessrecord_default"
    create_partitions(today=dt.date(2031, 1, 15))
    assert partition_of(record_id) == "reporting_accessrecord_p203102"
    assert AccessRecord.objects.get(pk=record_id).at == at("2031-02-10")  # the same row, id and time
    # a row of a past month nobody made (history loaded after the migration) gets its month at the next run too
    past_id, partition = write_record(village_cadre.unit_id, at("2025-04-09"))
    assert partition == "reporting_accessrecord_default"
    create_partitions(today=TODAY)
    assert partition_of(past_id) == "reporting_accessrecord_p202504"


def test_the_management_command_makes_the_partitions_as_beat_does(village_cadre):
    out = io.StringIO()
    call_command("create_partitions", stdout=out)
    assert "partitions made" in out.getvalue()
    ahead = create_partitions()  # today's and the three next exist already
    assert ahead == []


def test_every_partition_keeps_the_append_only_guard(village_cadre):
    record_id, partition = write_record(village_cadre.unit_id, at("2026-11-05"))
    assert partition == "reporting_accessrecord_p202611"
    for table in ("reporting_accessrecord", partition):
        assert refused(f"UPDATE {table} SET kind = 'pushed' WHERE id = %s", [record_id])
        assert refused(f"DELETE FROM {table} WHERE id = %s", [record_id])
        assert refused(f"TRUNCATE {table}")
    assert refused("TRUNCATE reporting_accessrecord_default")
    with maintenance():
        assert refused(f"UPDATE {partition} SET kind = 'pushed' WHERE id = %s", [record_id])
    assert AccessRecord.objects.get(pk=record_id).kind == "queried"


def test_retention_detaches_archives_and_drops_the_months_past_it_and_keeps_the_rest(village_cadre, tmp_path):
    create_partitions(today=dt.date(2024, 1, 10))
    old, _ = write_record(village_cadre.unit_id, at("2024-01-31"), period="2023Q4")
    kept, _ = write_record(village_cadre.unit_id, at("2026-05-01"))  # the first day of the oldest month kept
    done = detach_access_records(months=6, today=TODAY, archive=tmp_path)
    assert "reporting_accessrecord_p202401" in done and done["reporting_accessrecord_p202401"] == 1
    assert "reporting_accessrecord_p202605" not in done
    assert not AccessRecord.objects.filter(pk=old).exists()
    assert AccessRecord.objects.filter(pk=kept).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('reporting_accessrecord_p202401')")
        assert cursor.fetchone()[0] is None  # dropped, not left detached
    with gzip.open(tmp_path / "reporting_accessrecord_p202401.csv.gz", "rt") as archived:
        rows = list(csv.DictReader(archived))
    assert [(int(r["id"]), r["period"], r["unit_id"]) for r in rows] == [(old, "2023Q4", str(village_cadre.unit_id))]
    event = AuditEvent.objects.get(action="access_records.detached", target_id="reporting_accessrecord_p202401")
    assert event.detail == {"rule": "retention", "rows": 1, "retention_months": 6, "archived": True}


def test_retention_finishes_a_month_a_stopped_run_detached_but_did_not_drop(village_cadre):
    create_partitions(today=dt.date(2024, 3, 10))
    write_record(village_cadre.unit_id, at("2024-03-03"))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE reporting_accessrecord DETACH PARTITION reporting_accessrecord_p202403")
    assert detach_access_records(months=6, today=TODAY)["reporting_accessrecord_p202403"] == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('reporting_accessrecord_p202403')")
        assert cursor.fetchone()[0] is None


def test_the_retention_command_refuses_less_than_six_months_and_lists_before_it_removes(village_cadre, settings):
    with pytest.raises(CommandError, match="--months must be at least 6"):
        call_command("detach_access_records", "--months", "5")
    create_partitions(today=dt.date(2020, 2, 1))
    record_id, _ = write_record(village_cadre.unit_id, at("2020-02-02"))
    out = io.StringIO()
    call_command("detach_access_records", "--dry-run", stdout=out)  # the setting's 36 months
    assert "reporting_accessrecord_p202002" in out.getvalue().split()
    assert AccessRecord.objects.filter(pk=record_id).exists()
    settings.ONETABLE_ACCESS_RETENTION_MONTHS = 40
    call_command("detach_access_records", stdout=io.StringIO())
    assert not AccessRecord.objects.filter(pk=record_id).exists()


def test_a_read_of_one_unit_over_recent_months_touches_only_those_months(village_cadre):
    create_partitions(today=dt.date(2026, 9, 5))
    query = (
        "EXPLAIN (FORMAT JSON) SELECT * FROM reporting_accessrecord WHERE unit_id = %s"
        " AND at >= '2026-10-01 00:00+00' AND at < '2026-12-01 00:00+00'"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [village_cadre.unit_id])
        plan = json.dumps(cursor.fetchone()[0])
    assert "reporting_accessrecord_p202610" in plan and "reporting_accessrecord_p202611" in plan
    assert "reporting_accessrecord_p202609" not in plan and "reporting_accessrecord_default" not in plan


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_the_migration_moves_every_record_into_its_month_with_its_id_and_ids_go_on(village_cadre):
    _migrate([("reporting", "0033_relay")])
    try:
        written = {write_record(village_cadre.unit_id, at(day))[0]: day for day in ("2019-03-04", "2026-11-02")}
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'reporting_accessrecord'")
            assert cursor.fetchone()[0] == "r"  # the plain table of before
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    for record_id, day in written.items():
        assert partition_of(record_id) == f"reporting_accessrecord_p{day[:4]}{day[5:7]}"
        assert AccessRecord.objects.get(pk=record_id).at == at(day)
    newer, _ = write_record(village_cadre.unit_id, at("2026-11-03"))
    assert newer > max(written)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'reporting_accessrecord'::regclass")
        assert cursor.fetchone()[0] >= 12 * 7  # every month from March 2019 on, and the DEFAULT partition
    assert refused("DELETE FROM reporting_accessrecord WHERE id = %s", [newer])  # the guard made again


def test_two_aggregate_reads_at_once_record_each_unit_once(committed_demo):
    # the unique index that did this cannot include the partition key: the advisory lock does, on committed data
    from reporting.reads.rollups import Aggregate, record_used

    culture = Subscription.objects.get(department__code="culture")
    sheet = Sheet.objects.get(code="village_basics")
    units = list(Unit.objects.values_list("pk", flat=True)[:3])
    item = Aggregate(
        area="x", name="", level="village", period="2026Q3", value=Decimal(1), reported=3, asked=3, units=units
    )
    kwargs = {
        "department_id": culture.department_id,
        "subscription_id": culture.pk,
        "sheet_id": sheet.pk,
        "period": "2026Q3",
        "fields": ["library_books"],
        "items": [item],
    }

    def second_read() -> None:
        try:
            record_used(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=second_read)
    with transaction.atomic():  # the first read, its records not yet committed
        record_used(**kwargs)
        thread.start()
        assert wait_for(someone_waits_for_my_lock), "the second read did not wait for the first"
    thread.join(timeout=30)
    recorded = AccessRecord.objects.filter(department_id=culture.department_id, kind="aggregated", period="2026Q3")
    assert sorted(recorded.values_list("unit_id", flat=True)) == sorted(units)
