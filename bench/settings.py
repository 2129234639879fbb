"""The benchmarks' settings: production's, and the submit benchmark's reference views mounted (bench/urls.py).

Every process a benchmark starts (its web servers, Celery workers, the run itself) uses these, so what is
measured is production's code and configuration, plus two views production never serves."""

from core.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
