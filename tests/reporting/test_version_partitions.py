"""Submission versions live in yearly partitions of their `period_start`: each version in its period's year, a
version of a year nobody made kept by the DEFAULT partition and moved into its year without a single row deleted,
the append-only guard on every partition, the hot reads looking in one year only, and the migration that turned the
plain table into a partitioned one without losing a version."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core.appendonly import maintenance
from core.models import Department, User
from reporting import demo_sources
from reporting.access import access_dispute
from reporting.api import unit as unit_api
from reporting.catalogue.periods import Period
from reporting.filing.onetable import build_one_table
from reporting.models import (
    Delivery,
    Dispute,
    Field,
    Question,
    RelayPending,
    Sheet,
    Submission,
    SubmissionVersion,
)
from reporting.partitions import VERSIONS, create_ahead
from reporting.reads import data
from reporting.reads.burden import burden_filters, burden_report
from reporting.reads.indicators import unit_values
from reporting.reads.questions import department_questions, unit_questions
from reporting.reads.selectors import versions_with_changes
from reporting.reads.sources import source_figures
from reporting.services import relay
from reporting.services.disputes import answer_dispute
from reporting.services.partitions import create_partitions
from reporting.services.questions import answer_question, ask_question
from reporting.services.submissions import add_record, correct_submission
from reporting.services.supplies import SupplyRow, supply_values
from reporting.views import township
from tests.core.test_append_only import refused
from tests.reporting.helpers import ACTIVITY, file_village_basics, token_client
from tests.sources.test_disputes import FIELD, open_dispute

TABLE = "reporting_submissionversion"


def partition_of(version_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [version_id])
        return cursor.fetchone()[0]


def version_partitions_read(sql: str, params) -> set[str]:
    """The versions' partitions PostgreSQL plans to read for the statement (EXPLAIN, pruning when planning)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = json.dumps(cursor.fetchone()[0])
    return set(re.findall(rf'"Relation Name": "({TABLE}_[a-z0-9]+)"', plan))


def statements_of(work: Callable[[], object]) -> list[tuple[str, object]]:
    """The statements `work` sends that read versions, with their parameters, as it sends them."""
    seen: list[tuple[str, object]] = []

    def spy(execute, sql, params, many, context):
        if TABLE in sql or "submissionversion" in sql:
            seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        work()
    return seen


def years(*names: int) -> set[str]:
    return {f"{TABLE}_p{year}" for year in names}


def test_a_version_lands_in_its_periods_year_and_every_partition_keeps_the_guard(village_cadre):
    version = file_village_basics(village_cadre, period="2026Q4")
    assert version.period_start == dt.date(2026, 10, 1)
    partition = partition_of(version.pk)
    assert partition == f"{TABLE}_p2026"
    for table in (TABLE, partition):
        assert refused(f"UPDATE {table} SET reason = 'x' WHERE id = %s", [version.pk])
        assert refused(f"DELETE FROM {table} WHERE id = %s", [version.pk])
        assert refused(f"TRUNCATE {table}")
    assert refused(f"TRUNCATE {TABLE}_default")
    with maintenance():  # versions allow maintenance no DELETE, whatever the partition
        assert refused(f"DELETE FROM {partition} WHERE id = %s", [version.pk])
    made = create_partitions(today=dt.date(2029, 6, 1))  # a year made later has the guard too
    assert f"{TABLE}_p2029" in made and refused(f"TRUNCATE {TABLE}_p2029")
    assert SubmissionVersion.objects.get(pk=version.pk).values == version.values


def test_a_version_of_a_year_nobody_made_is_kept_and_moves_into_its_year_without_a_delete(village_cadre):
    # history loaded for 2019, long before any partition: the DEFAULT partition takes it
    sheet = Sheet.objects.get(code="village_basics")
    submission = Submission.objects.create(
        unit=village_cadre.unit, sheet=sheet, period="2019Q2", period_start=dt.date(2019, 4, 1)
    )
    old = SubmissionVersion.objects.create(
        submission=submission, number=1, values={"households": 580}, by=village_cadre
    )
    assert old.period_start == dt.date(2019, 4, 1) and partition_of(old.pk) == f"{TABLE}_default"
    beside = file_village_basics(village_cadre, period="2026Q4")  # in its year, untouched by the move
    # the move deletes no row (the guard refuses every DELETE of a version, maintenance or not): were it tried,
    # create_partitions would fail here
    made = create_partitions(today=dt.date(2026, 11, 30))
    assert f"{TABLE}_p2019" in made
    assert partition_of(old.pk) == f"{TABLE}_p2019"
    moved = SubmissionVersion.objects.get(pk=old.pk)
    assert (moved.submission_id, moved.number, moved.values, moved.at) == (
        submission.pk,
        1,
        {"households": 580},
        old.at,
    )
    assert partition_of(beside.pk) == f"{TABLE}_p2026"
    assert refused(f"TRUNCATE {TABLE}_default")  # the new DEFAULT partition has its guard
    assert refused(f"DELETE FROM {TABLE}_p2019 WHERE id = %s", [old.pk])
    assert create_partitions(today=dt.date(2026, 11, 30)) == []


def test_the_current_value_of_a_units_field_for_a_period_is_read_in_that_years_partition_only(village_cadre):
    with connection.cursor() as cursor:  # several years, so that pruning has something to leave out
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    file_village_basics(village_cadre, period="2026Q4", households="611")
    period = Period.parse("2026Q4")
    assert unit_values(village_cadre.unit, period, {"households"}) == {"households": 611}
    [(sql, params)] = statements_of(lambda: unit_values(village_cadre.unit, period, {"households"}))
    assert version_partitions_read(sql, params) == years(2026)


def test_a_data_page_of_some_periods_reads_only_their_years(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    file_village_basics(village_cadre, period="2026Q4")
    query = data.Query(
        department=Department.objects.get(code="culture"),
        sheet=Sheet.objects.get(code="village_basics"),
        period_from="2026Q1",
        period_to="2026Q4",
        limit=50,
    )
    sql, params, _allowed = data._statement(query)
    assert version_partitions_read(sql, params) == years(2026)
    whole, params, _allowed = data._statement(data.Query(**{**query.__dict__, "limit": None}))
    assert version_partitions_read(whole, params) == years(2026)
    counted, params, _allowed = data._statement(query, count=True)
    assert version_partitions_read(counted, params) == years(2026)


def test_the_relay_looks_for_each_pending_version_in_its_year_only(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    version = file_village_basics(village_cadre, period="2026Q4")
    assert RelayPending.objects.get(version=version).period_start == dt.date(2026, 10, 1)
    # the relay's statement as it sends it, then run again under EXPLAIN ANALYZE (it finds the version by the key
    # the marker carries: which partition is known only when it runs, so the plan is pruned while running)
    with transaction.atomic():
        [(sql, params)] = statements_of(relay.relay_batch)
        transaction.set_rollback(True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        transaction.set_rollback(True)  # EXPLAIN ANALYZE ran the relay's statement: undo it
    scanned = {
        node["Relation Name"]
        for node in _nodes(plan[0]["Plan"])
        if node.get("Relation Name", "").startswith(f"{TABLE}_") and node.get("Actual Loops", 0) > 0
    }
    assert scanned == years(2026)
    relay.relay_versions()
    assert Delivery.objects.filter(version=version).exists()


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _written_before(cadre) -> dict[int, tuple]:
    """Versions as filings wrote them before the partitions: a 2019 filing, a 2024 one corrected once (its second
    version awaiting the relay); returns id → (submission, number, the submission's period_start)."""
    written: dict[int, tuple] = {}
    with connection.cursor() as cursor:
        for period, start, numbers in [("2019Q2", "2019-04-01", [1]), ("2024Q2", "2024-04-01", [1, 2])]:
            cursor.execute(
                "INSERT INTO reporting_submission (unit_id, sheet_id, period, period_start, current_version,"
                " created_at, updated_at) SELECT %s, id, %s, %s, %s, now(), now() FROM reporting_sheet"
                " WHERE code = 'village_basics' RETURNING id",
                [cadre.unit_id, period, start, len(numbers)],
            )
            (submission,) = cursor.fetchone()
            for number in numbers:
                cursor.execute(
                    f'INSERT INTO {TABLE} (submission_id, number, "values", not_applicable, carried, confirmed,'
                    " disputed, gaps, reason, by_id, at, asked_count, typed_count, carried_count, na_count,"
                    " confirmed_count, disputed_count, department_count, refills_spared) VALUES (%s, %s,"
                    " '{\"households\": 600}', '{}', '{}', '{}', '{}', '{}', '', %s, now(), 1, 1, 0, 0,"
                    " 0, 0, 2, 0) RETURNING id",
                    [submission, number, cadre.pk],
                )
                (version,) = cursor.fetchone()
                written[version] = (submission, number, dt.date.fromisoformat(start))
            cursor.execute(
                "INSERT INTO reporting_relaypending (version_id, submission_id, snapshot, xid, created_at)"
                " VALUES (%s, %s, pg_current_snapshot()::text, pg_current_xact_id()::text::bigint, now())",
                [version, submission],
            )
    return written


def test_the_migration_keeps_every_version_with_its_id_in_its_year_and_ids_go_on(village_cadre):
    _migrate([("reporting", "0035_delivery_partitions")])
    try:
        written = _written_before(village_cadre)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    after = {
        v.pk: (v.submission_id, v.number, v.period_start) for v in SubmissionVersion.objects.filter(pk__in=written)
    }
    assert after == written
    assert {partition_of(pk) for pk in written} == years(2019, 2024)
    pending = RelayPending.objects.filter(version__in=written).order_by("version_id")
    assert [(p.version_id, p.period_start) for p in pending] == [
        (pk, row[2]) for pk, row in sorted(written.items()) if row[1] == (2 if row[2].year == 2024 else 1)
    ]
    for pk in written:
        assert refused(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [pk])
    newer = file_village_basics(village_cadre, period="2026Q4")
    assert max(written) < newer.pk  # ids go on from the same sequence
    assert partition_of(newer.pk) == f"{TABLE}_p2026"


def _executed(sql: str, params, *, generic: bool = False) -> set[str]:
    """The versions' partitions the statement's plan scanned when it ran (EXPLAIN ANALYZE in a rolled-back
    transaction): a partition pruned while running shows as never executed. `generic`: planned as a prepared
    statement is from its fifth use (no parameter known when planning)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            if generic:
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return {
        node["Relation Name"]
        for node in _nodes(plan[0]["Plan"])
        if node.get("Relation Name", "").startswith(f"{TABLE}_") and node.get("Actual Loops", 0) > 0
    }


def test_the_forms_carried_facts_read_the_latest_filing_in_its_year_only(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    for period in ("2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"):  # beside the demo's 2026Q3
        file_village_basics(village_cadre, period=period)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reporting_submission")  # statistics as a server that has seen filings has them
    sheet = Sheet.objects.get(code="village_basics")
    table = build_one_table(unit=village_cadre.unit, sheet=sheet, period=Period.parse("2026Q4"))
    assert {f.carried_from for f in table.fields if f.field.stable} == {"2026Q3"}
    [(sql, params)] = [
        (sql, params)
        for sql, params in statements_of(
            lambda: build_one_table(unit=village_cadre.unit, sheet=sheet, period=Period.parse("2026Q4"))
        )
        if "'carried'" in sql
    ]
    # the latest earlier filing (2026Q3) is picked first: its version is looked for in 2026 only, not each
    # earlier filing's in its own year
    assert _executed(sql, params) == years(2026)


def test_burden_figures_read_only_the_years_of_their_range(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    file_village_basics(village_cadre, period="2025Q4")
    start, end, area = burden_filters(start="2026-01-01", end="2026-12-31", area=None, today=dt.date(2026, 11, 30))
    report = burden_report(start=start, end=end, area=area)
    assert report.trend and all(p.month.startswith("2026-") for p in report.trend)
    sent = statements_of(lambda: burden_report(start=start, end=end, area=area))
    assert len(sent) == 3  # totals, per unit, per month
    for sql, params in sent:
        assert version_partitions_read(sql, params) == years(2026)


def test_the_catalogues_share_of_register_values_reads_the_last_periods_year_only(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    demo_sources.assign_sources()
    file_village_basics(village_cadre, period="2026Q4")
    shares = [(sql, params) for sql, params in statements_of(source_figures) if "COUNT(" in sql]
    assert shares  # one per field with a source (its last supply: the test below)
    for sql, params in shares:
        assert version_partitions_read(sql, params) == years(2026)


def test_a_periodic_submissions_versions_are_read_in_its_year_only(village_cadre):
    with connection.cursor() as cursor:
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))
    version = file_village_basics(village_cadre, period="2026Q4")
    submission = version.submission
    [(sql, params)] = statements_of(lambda: versions_with_changes(submission))
    assert version_partitions_read(sql, params) == years(2026)
    assert [v.number for v, _changes in versions_with_changes(submission)] == [1]


def several_years() -> None:
    with connection.cursor() as cursor:  # several years, so that pruning has something to leave out
        create_ahead(cursor, VERSIONS, dt.date(2026, 11, 30), since=dt.date(2023, 1, 1))


def test_the_answer_version_of_a_question_and_of_a_dispute_is_read_in_its_year_only(
    village_cadre, civil_analyst, client
):
    """Each carries its answer version's partition key (`answer_start`, migration 0043) and `answer_version` joins on
    the whole key: the lists and pages that show the answer look in that version's year only, where by id alone
    each row probed every year's."""
    several_years()
    dispute = open_dispute(village_cadre)  # a register value of 2026Q4 the village disputes
    answer_dispute(dispute=dispute, by=civil_analyst, value="420")  # civil affairs corrects its register
    question = ask_question(
        department=civil_analyst.department,
        submission=dispute.submission,
        field="households",
        version=1,
        text="户数是否有误？",
        by=civil_analyst,
    )
    answer_question(question=question, unit=village_cadre.unit, by=village_cadre, value="305", explanation="已更正")
    answered = {Dispute: Dispute.objects.get(pk=dispute.pk), Question: Question.objects.get(pk=question.pk)}
    for row in answered.values():
        assert (row.answer_start, row.answer_version.period_start) == (dt.date(2026, 10, 1), dt.date(2026, 10, 1))
    assert answered[Question].answer_version.number == 2 and answered[Dispute].answer_version.values == {FIELD: 420}
    civil = civil_analyst.department
    reads = {
        "the unit's questions": lambda: list(unit_questions(village_cadre.unit)),
        "a department's questions": lambda: department_questions(civil),
        "one dispute": lambda: access_dispute(civil, dispute.pk).answer_version,
        "the disputes page": lambda: client.get("/department/disputes/"),
    }
    client.force_login(civil_analyst)
    for name, read in reads.items():
        sent = [(sql, params) for sql, params in statements_of(read) if "answer_start" in sql]
        assert sent, name
        # each statement reads 2026 or, listing no answered row (the page's open disputes), nothing
        assert set().union(*(_executed(sql, params, generic=True) for sql, params in sent)) == years(2026), name


def test_a_ledger_records_versions_are_read_in_the_years_of_their_days_only(village_cadre):
    """A record moved into another year keeps its older version where it was filed (`earlier_starts`, migration
    0043): its versions are read in those two years, a record never moved in its own, where they were looked for in
    every year."""
    several_years()
    sheet = Sheet.objects.get(code="cultural_activity")
    moved = add_record(
        unit=village_cadre.unit,
        sheet=sheet,
        raw={**ACTIVITY, "activity_date": "2025-12-30"},
        not_applicable={},
        by=village_cadre,
    )
    correct_submission(
        submission=moved.submission,
        raw={**ACTIVITY, "activity_date": "2026-01-05"},
        not_applicable={},
        reason="日期填错了",
        by=village_cadre,
        expected_version=1,
    )
    stayed = add_record(unit=village_cadre.unit, sheet=sheet, raw=ACTIVITY, not_applicable={}, by=village_cadre)
    record = Submission.objects.get(pk=moved.submission_id)
    assert (record.period_start, record.earlier_starts) == (dt.date(2026, 1, 5), [dt.date(2025, 12, 30)])
    assert {partition_of(v.pk) for v in SubmissionVersion.objects.filter(submission=record)} == years(2025, 2026)
    for submission, read in ((record, years(2025, 2026)), (stayed.submission, years(2026))):
        history = versions_with_changes(submission)
        assert [v.number for v, _changes in history] == list(range(submission.current_version, 0, -1))
        [(sql, params)] = statements_of(lambda s=submission: versions_with_changes(s))
        assert version_partitions_read(sql, params) == read
    # moved again, back into 2025: each of its three days is kept, and its versions are read under them
    correct_submission(
        submission=record,
        raw=ACTIVITY | {"activity_date": "2025-12-31"},
        not_applicable={},
        reason="再改日期",
        by=village_cadre,
        expected_version=2,
    )
    record.refresh_from_db()
    assert sorted(record.version_starts) == [dt.date(2025, 12, 30), dt.date(2025, 12, 31), dt.date(2026, 1, 5)]
    assert [v.number for v in SubmissionVersion.objects.of(record)] == [1, 2, 3]


def test_a_sources_last_supply_is_read_in_the_year_of_its_newest_supply_only(village_cadre):
    """The catalogue's "last supplied" walks the register's supplies newest first and reads each one's current
    version by its whole key: the newest supply's year only, where max(`at`) over its versions read every year."""
    several_years()
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code=FIELD).update(source=civil)
    area, by = village_cadre.unit.area.code, User.objects.get(username="civil")
    for period, value in (("2025Q4", 380), ("2026Q4", 400)):
        rows = [SupplyRow("1", area, period, FIELD, value)]
        assert supply_values(department=civil, rows=rows, by=by, today=dt.date(2026, 11, 29)).stored
    newest = SubmissionVersion.objects.get(submission__source=civil, submission__period="2026Q4")
    field = Field.objects.get(code=FIELD)
    assert source_figures()[field.pk].last_supplied == newest.at
    # the one statement besides the share of the last period's values (a field with a source here)
    [(sql, params)] = [(sql, params) for sql, params in statements_of(source_figures) if "COUNT(" not in sql]
    assert _executed(sql, params, generic=True) == years(2026)


def _years_read(work: Callable[[], object]) -> set[str]:
    """The versions' partitions the statements of `work` read when run, each planned generic."""
    return set().union(*(_executed(sql, params, generic=True) for sql, params in statements_of(work)))


def test_the_unit_apis_list_reads_only_the_years_of_the_submissions_it_lists(village_cadre, monkeypatch):
    """The newest submissions are picked first, then their current versions are read in those submissions' years:
    a unit's older years are not read for a list that does not show them, nor other years for one period's."""
    several_years()
    for period in ("2025Q1", "2025Q4", "2026Q1", "2026Q2", "2026Q4"):  # beside the demo's 2026Q3
        file_village_basics(village_cadre, period=period)
    api, url = token_client(village_cadre), "/api/v1/unit/submissions"
    monkeypatch.setattr(unit_api, "LISTED", 3)  # as 500 of a unit with more history than that
    listed = api.get(url, {"sheet": "village_basics"}).json()["results"]
    assert [r["period"] for r in listed] == ["2026Q4", "2026Q3", "2026Q2"]
    assert _years_read(lambda: api.get(url, {"sheet": "village_basics"})) == years(2026)
    one = api.get(url, {"period": "2025Q4"}).json()["results"]
    assert [(r["sheet"], r["period"]) for r in one] == [("village_basics", "2025Q4")]
    assert _years_read(lambda: api.get(url, {"period": "2025Q4"})) == years(2025)


def test_the_ledger_page_reads_only_the_years_of_the_records_it_shows(village_cadre, client, monkeypatch):
    several_years()
    sheet = Sheet.objects.get(code="cultural_activity")
    for day in ("2025-06-08", "2025-12-08", "2026-10-08", "2026-11-08"):
        record = {**ACTIVITY, "activity_date": day, "activity_title": f"村晚{day}"}
        add_record(unit=village_cadre.unit, sheet=sheet, raw=record, not_applicable={}, by=village_cadre)
    monkeypatch.setattr(township, "LEDGER_SHOWN", 2)  # as 200 of a unit with more records than that
    client.force_login(village_cadre)
    page = client.get("/ledger/cultural_activity/").content.decode()
    assert "村晚2026-11-08" in page and "村晚2026-10-08" in page and "村晚2025-12-08" not in page
    assert _years_read(lambda: client.get("/ledger/cultural_activity/")) == years(2026)


def test_migration_0043_gives_answers_and_moved_records_the_keys_of_their_versions(village_cadre, civil_analyst):
    """Rows made before it (made here, then the migration undone, which drops its columns): each answered question
    and dispute gets its answer version's key, a moved ledger record the day of its older version, a record never
    moved none; and each reads as before."""
    dispute = open_dispute(village_cadre)
    answer_dispute(dispute=dispute, by=civil_analyst, value="420")
    question = ask_question(
        department=civil_analyst.department,
        submission=dispute.submission,
        field="households",
        version=1,
        text="户数是否有误？",
        by=civil_analyst,
    )
    answer_question(question=question, unit=village_cadre.unit, by=village_cadre, value="305", explanation="已更正")
    sheet = Sheet.objects.get(code="cultural_activity")
    moved = add_record(
        unit=village_cadre.unit,
        sheet=sheet,
        raw={**ACTIVITY, "activity_date": "2025-12-30"},
        not_applicable={},
        by=village_cadre,
    ).submission
    correct_submission(
        submission=moved,
        raw={**ACTIVITY, "activity_date": "2026-01-05"},
        not_applicable={},
        reason="日期填错了",
        by=village_cadre,
        expected_version=1,
    )
    stayed = add_record(unit=village_cadre.unit, sheet=sheet, raw=ACTIVITY, not_applicable={}, by=village_cadre)
    with connection.cursor() as cursor:  # the filings' deferred key checks now: ALTER TABLE waits for none
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    _migrate([("reporting", "0042_delivery_version_start")])
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    for row in (Dispute.objects.get(pk=dispute.pk), Question.objects.get(pk=question.pk)):
        assert row.answer_start == dt.date(2026, 10, 1) == row.answer_version.period_start
    assert Question.objects.get(pk=question.pk).answer_version.number == 2
    assert Submission.objects.get(pk=moved.pk).earlier_starts == [dt.date(2025, 12, 30)]
    assert Submission.objects.get(pk=stayed.submission_id).earlier_starts is None
    assert [v.number for v in SubmissionVersion.objects.of(Submission.objects.get(pk=moved.pk))] == [1, 2]
