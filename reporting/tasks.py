"""Thin Celery tasks: ids in, one service call each. Published by name (`app.send_task`), so nothing imports
this module but the Celery app's autodiscovery."""

from celery import shared_task

from reporting.filing import baselines
from reporting.reads import exports
from reporting.reads import reports as report_reads
from reporting.services import (
    aggregate_pushes,
    catalogue,
    deliveries,
    disputes,
    partitions,
    relay,
    reports,
    supplies,
)
from reporting.services import exports as export_services


@shared_task(acks_late=True, ignore_result=True)
def send_deliveries_task(endpoint_id: int) -> None:
    deliveries.task_started(endpoint_id)
    if deliveries.send_batch(endpoint_id):
        deliveries.enqueue_sends([endpoint_id])  # more are due: keep draining this endpoint


@shared_task(acks_late=True, ignore_result=True)
def relay_versions_task() -> None:
    deliveries.relay_started()
    relay.relay_versions()
    # the filings' baseline markers, committed with their versions: folded by a task of their own
    deliveries.enqueue_relay(task=deliveries.FOLD_BASELINES_TASK)


@shared_task(acks_late=True, ignore_result=True)
def fold_baselines_task() -> None:
    deliveries.relay_started(deliveries.FOLD_BASELINES_TASK)
    baselines.fold_baselines()


@shared_task(ignore_result=True)
def sweep_outbox_task() -> None:
    relay.sweep_relay()
    deliveries.sweep()
    disputes.sweep_dispute_events()
    supplies.sweep_supply_jobs()
    export_services.sweep_export_jobs()
    reports.sweep_report_jobs()
    aggregate_pushes.sweep_pushes()


@shared_task(acks_late=True, ignore_result=True)
def run_export_task(job_id: int) -> None:
    exports.run_export(job_id)


@shared_task(ignore_result=True)
def zombie_check_task() -> None:
    catalogue.zombie_check()


@shared_task(ignore_result=True)
def create_partitions_task() -> None:
    partitions.create_partitions()


@shared_task(acks_late=True, ignore_result=True)
def run_supply_job_task(job_id: int) -> None:
    supplies.run_supply_job(job_id)


@shared_task(acks_late=True, ignore_result=True)
def send_dispute_events_task(department_id: int) -> None:
    disputes.send_dispute_events(department_id)


@shared_task(acks_late=True, ignore_result=True)
def check_aggregate_pushes_task(period: str | None = None) -> None:
    aggregate_pushes.check_pushes(period=period)


@shared_task(acks_late=True, ignore_result=True)
def send_aggregate_pushes_task(endpoint_id: int) -> None:
    aggregate_pushes.send_pushes(endpoint_id)


@shared_task(acks_late=True, ignore_result=True)
def run_report_job_task(job_id: int) -> None:
    report_reads.run_report_job(job_id)


@shared_task(ignore_result=True)
def auto_reports_task() -> None:
    reports.auto_generate()
