"""Shared fixtures: the demo county loaded once, and personas drawn from it."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from core.models import User
from reporting.demo import demo_loaded, load_demo
from tests.pooling import end_server_sessions, routed, the_runs_pgbouncer, transactions_through


def pytest_configure(config):
    from django.conf import settings

    # Tests serve static files from the source folders: no collectstatic step needed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    # Demo passwords are hashed each time a transactional test reloads the demo: a fast hasher, in tests only.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # This run's sessions carry a name of their own: a test that counts sessions on the shared server counts
    # only these (tests/waiting.py), whatever other databases, test runs or spawned servers are doing.
    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["application_name"] = f"onetable-tests-{os.getpid()}"

    if the_runs_pgbouncer() and settings.DATABASE_POOLER != "pgbouncer":
        raise pytest.UsageError("ONETABLE_TEST_PGBOUNCER needs DATABASE_POOLER=pgbouncer (prepared statements off)")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if not demo_loaded():
            load_demo(sources=False, checks=False, deliver=False)
    bouncer = the_runs_pgbouncer()
    if bouncer is None:
        yield
        return
    # The run through PgBouncer (tools/launcher.py): every test's connection goes through it, after pytest-django
    # created the test database directly; PgBouncer's sessions are ended before it drops it directly.
    with routed(*bouncer):
        yield
        with django_db_blocker.unblock():
            database = connection.settings_dict["NAME"]
            if not transactions_through(bouncer, database):  # never a pass that went around it
                pytest.fail(f"no transaction of {database} went through PgBouncer at {bouncer[0]}:{bouncer[1]}")
    with django_db_blocker.unblock():
        end_server_sessions()


# The tests' county has no registers (sources=False): tests that need them make a department a source and
# supply what they check (tests/sources/). Its 2026Q3 village filings are not handed to the relay either
# (deliver=False), so every feed starts empty; tests/reporting/test_demo_deliveries.py loads the demo as
# `manage.py load_demo` does.


@pytest.fixture
def demo(db):
    """The demo county; reloaded when a transactional test flushed it."""
    if not demo_loaded():
        load_demo(sources=False, checks=False, deliver=False)


@pytest.fixture
def committed_demo(transactional_db):
    """The demo county, committed (no test transaction around it), so other connections, worker threads
    and processes see it, and code runs in autocommit as in production; reloaded after a flush."""
    if not demo_loaded():
        load_demo(sources=False, checks=False, deliver=False)


def _user(username: str) -> User:
    return User.objects.select_related("unit__area", "department__jurisdiction", "office").get(username=username)


@pytest.fixture
def village_cadre(demo) -> User:
    return _user("village")


@pytest.fixture
def township_cadre(demo) -> User:
    return _user("township")


@pytest.fixture
def propaganda_analyst(demo) -> User:
    return _user("propaganda")


@pytest.fixture
def culture_analyst(demo) -> User:
    return _user("culture")


@pytest.fixture
def civil_analyst(demo) -> User:
    return _user("civil")


@pytest.fixture
def office_admin(demo) -> User:
    return _user("office")


@pytest.fixture
def stats_user(demo) -> User:
    return _user("stats")
