"""The plausibility baseline kept off the filing's request: a filing leaves a marker, the relay task (a real worker)
folds it into the unit's row, and a filing checked before the fold commits gets the hint it gets after."""

from __future__ import annotations

import threading

import psycopg
from django.db import connection

from core.celery import app as celery_app
from reporting.filing import baselines
from reporting.models import BaselinePending, PlausibilityBaseline, RelayPending
from reporting.services import deliveries
from reporting.services.relay import sweep_relay
from tests.reporting.helpers import file_village_basics
from tests.rules.test_baseline import HOUSEHOLDS, _baseline, _correct, _from_versions, _hint
from tests.rules.test_rules import _history
from tests.waiting import wait_for


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname", "password")}
    )


def test_it_folds_a_filing_into_the_baseline_and_a_filing_before_the_fold_gets_the_same_hint(cadre, worker):
    # given nine quarters of history and the demo's 2026Q3, and the unit's row held by another transaction, so
    # that the worker's fold claims the marker and waits, uncommitted
    _history(cadre, HOUSEHOLDS)
    row = PlausibilityBaseline.objects.get(unit=cadre.unit, sheet__code="village_basics")
    with psycopg.connect(_dsn()) as holder:
        holder.execute("SELECT 1 FROM reporting_plausibilitybaseline WHERE id = %s FOR UPDATE", [row.pk])
        # when the unit files 2026Q2 late with an unusual number (committed: the worker is woken)
        file_village_basics(cadre, period="2026Q2", households="6100")
        assert wait_for(lambda: _claimed(), timeout=30)  # the worker's fold has the marker, and waits
        # then a filing of 2026Q4 checked now sees 6100 among the unit's earlier values
        before = _hint(cadre, "2026Q4", "6150")
        assert "6100" in before["plausibility:households"]["message_en"]
        assert dict(_baseline(cadre, "2026Q4")) == _from_versions(cadre, "2026Q4")
        holder.rollback()
    # and once the worker's fold committed, the row holds the filing and the same filing gets the same hint
    assert wait_for(lambda: not BaselinePending.objects.exists(), timeout=30)
    row.refresh_from_db()
    assert row.periods[:2] == ["2026Q3", "2026Q2"]
    assert baselines.baselines_differing() == []
    assert _hint(cadre, "2026Q4", "6150") == before


def _claimed() -> bool:
    """A fold has claimed the marker (deleted, uncommitted) and waits for the row's lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE %s",
            ["%INSERT INTO reporting_plausibilitybaseline%"],
        )
        (waiting,) = cursor.fetchone()
    return waiting == 1 and BaselinePending.objects.count() == 1


def test_folds_in_several_workers_at_once_leave_the_rows_a_rebuild_makes(cadre):
    # given filings and corrections of one unit's sheet whose markers no fold has taken yet
    _history(cadre, HOUSEHOLDS)
    for period, households in [("2025Q2", "611"), ("2025Q3", "612"), ("2025Q4", "613"), ("2026Q1", "614")]:
        file_village_basics(cadre, period=period, households=households)
    _correct(cadre, "2025Q3", households="700")
    _correct(cadre, "2026Q3", households="9000")
    assert BaselinePending.objects.count() == 6
    # when three folds run side by side, a marker per transaction
    errors: list[BaseException] = []

    def fold() -> None:
        try:
            baselines.fold_baselines(limit=1)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=fold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then every marker is folded once, and the row is the one the versions make
    assert errors == [] and not BaselinePending.objects.exists()
    assert baselines.baselines_differing() == []
    assert dict(_baseline(cadre, "2026Q4")) == _from_versions(cadre, "2026Q4")


def test_baseline_markers_whose_wake_ups_were_lost_are_folded_once_the_sweep_runs(cadre, request):
    # given filings made while their tasks were lost: the relay's and the fold's messages purged from the broker,
    # and the fold's "one waits in the queue" flag still standing, so the relay would wake no fold
    _history(cadre, HOUSEHOLDS)
    file_village_basics(cadre, period="2026Q2", households="6100")
    celery_app.control.purge()
    deliveries._flags().set(deliveries._WAITING_FLAGS[deliveries.FOLD_BASELINES_TASK], 1, ex=60)
    assert BaselinePending.objects.exists() and RelayPending.objects.exists()
    request.getfixturevalue("worker")  # a worker starts, with nothing in its queues
    # when the outbox sweep (beat) runs
    assert sweep_relay() is True
    # then the relay and the fold both run: every marker is folded into the unit's row
    assert wait_for(lambda: not BaselinePending.objects.exists() and not RelayPending.objects.exists(), timeout=30)
    assert baselines.baselines_differing() == []
