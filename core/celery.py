"""The Celery app: Redis is only the broker; the work to do lives in PostgreSQL."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("onetable")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
