"""The Celery app: Redis is only the broker; the work to do lives in PostgreSQL."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("onetable")
app.config_from_object("django.conf:settings", namespace="CELERY")
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
