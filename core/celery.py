"""The Celery app: Redis is only the broker; the work to do lives in PostgreSQL.

Tasks go to one of four queues by kind, routed by the task's name (tasks are published by name, so a
route needs no import): a worker started with `-Q export` takes exports only, and a deadline burst of
sends never stands in front of an export, nor in front of the sweep that repairs what a lost message
left undone. A worker started without `-Q` consumes all four (`task_queues`).
"""

import os

from celery import Celery, signals
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

RELAY, SEND, EXPORT, HOUSEKEEPING = "relay", "send", "export", "housekeeping"
QUEUES = (RELAY, SEND, EXPORT, HOUSEKEEPING)
ROUTES = {
    # filings turned into what departments are owed: deliveries, aggregate figures
    "reporting.tasks.relay_versions_task": RELAY,
    "reporting.tasks.check_aggregate_pushes_task": RELAY,
    # posting to departments' systems: network-bound, bursts at deadlines
    "reporting.tasks.send_deliveries_task": SEND,
    "reporting.tasks.send_dispute_events_task": SEND,
    "reporting.tasks.send_aggregate_pushes_task": SEND,
    # long file jobs a person watches a progress bar for
    "reporting.tasks.run_export_task": EXPORT,
    "reporting.tasks.run_report_job_task": EXPORT,
    "reporting.tasks.run_supply_job_task": EXPORT,
    # beat's periodic jobs: sweeps, expiries, the audit seal
    "reporting.tasks.sweep_outbox_task": HOUSEKEEPING,
    "reporting.tasks.fold_baselines_task": HOUSEKEEPING,  # the plausibility baselines (issue 22), after commit
    "reporting.tasks.zombie_check_task": HOUSEKEEPING,
    "reporting.tasks.create_partitions_task": HOUSEKEEPING,
    "reporting.tasks.auto_reports_task": HOUSEKEEPING,
    "core.tasks.seal_audit_task": HOUSEKEEPING,
}

app = Celery("onetable")
app.config_from_object("django.conf:settings", namespace="CELERY")
# each queue its own direct exchange and key (a bare Queue(name) would be bound to the default queue's exchange)
app.conf.task_queues = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]
app.conf.task_routes = {name: {"queue": queue} for name, queue in ROUTES.items()}
# A task nobody routed still lands where every deployment has a consumer (tests/core/test_queues.py makes
# sure there is none).
app.conf.task_default_queue = HOUSEKEEPING
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_old_connections(**_kwargs) -> None:
    """Treat each task as Django treats a request: drop the thread's database connection only when it is
    broken or older than CONN_MAX_AGE. (Celery's own Django fixup would close it before and after every
    task, which is switched off in settings with CELERY_DB_REUSE_MAX: a new PostgreSQL backend per
    delivery batch cost more CPU than sending the batch.)"""
    from django.db import close_old_connections

    close_old_connections()
