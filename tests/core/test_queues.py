"""Every task has a queue of its kind, and every queue has a consumer wherever OneTable runs."""

from core.celery import QUEUES, ROUTES
from core.celery import app as celery_app
from tools.launcher import WORKERS

# published by the relay (issue 21), which another branch adds: routed before it exists
NOT_YET_HERE = {"reporting.tasks.relay_versions_task"}


def _tasks() -> set[str]:
    celery_app.loader.import_default_modules()  # the autodiscovered tasks modules
    return {name for name in celery_app.tasks if not name.startswith("celery.")}


def test_it_routes_every_task_by_name_to_one_of_the_four_queues():
    tasks = _tasks()
    assert tasks - set(ROUTES) == set(), "a task without a route would wait in the housekeeping queue"
    assert set(ROUTES) - tasks <= NOT_YET_HERE, "a route names no task (a typo?)"
    assert set(ROUTES.values()) == set(QUEUES) == {"relay", "send", "export", "housekeeping"}
    for name in tasks:
        assert celery_app.amqp.router.route({}, name)["queue"].name == ROUTES[name]


def test_the_beat_jobs_are_housekeeping_and_the_long_file_jobs_are_exports():
    beat = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    # the aggregate check runs after filings too: it is the relay's, beat only catches what a lost wake missed
    assert {ROUTES[name] for name in beat - {"reporting.tasks.check_aggregate_pushes_task"}} == {"housekeeping"}
    assert {n for n, q in ROUTES.items() if q == "export"} == {
        "reporting.tasks.run_export_task",
        "reporting.tasks.run_report_job_task",
        "reporting.tasks.run_supply_job_task",
    }


def test_a_worker_without_a_queue_option_takes_all_four_and_the_run_command_starts_one_per_queue():
    assert [queue.name for queue in celery_app.amqp.queues.values()] == list(QUEUES)
    assert [queue for queue, _threads in WORKERS] == list(QUEUES)
