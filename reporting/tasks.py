"""Thin Celery tasks: ids in, one service call each."""

from celery import shared_task

from reporting.services import deliveries


@shared_task(acks_late=True, ignore_result=True)
def send_deliveries_task(endpoint_id: int) -> None:
    deliveries.task_started(endpoint_id)
    if deliveries.send_batch(endpoint_id):
        deliveries.enqueue_sends([endpoint_id])  # more are due: keep draining this endpoint


@shared_task(ignore_result=True)
def sweep_outbox_task() -> None:
    deliveries.sweep()


@shared_task(acks_late=True, ignore_result=True)
def run_export_task(job_id: int) -> None:
    from reporting.exports import run_export

    run_export(job_id)


@shared_task(ignore_result=True)
def zombie_check_task() -> None:
    from reporting.services.catalogue import zombie_check

    zombie_check()
