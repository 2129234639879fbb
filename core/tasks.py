"""Thin Celery tasks of the core app: one service call each."""

from celery import shared_task

from core import audit


@shared_task(ignore_result=True)
def seal_audit_task() -> None:
    audit.seal_events()
