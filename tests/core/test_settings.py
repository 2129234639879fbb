import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("function", "name", "value", "message"),
    [
        (lambda n: env.env_bool(n, False), "DEBUG", "maybe", "DEBUG='maybe' is malformed"),
        (lambda n: env.env_int(n, 1), "SECURE_HSTS_SECONDS", "1y", "expected a whole number"),
        (lambda n: env.env_int(n, 1, minimum=0), "SECURE_HSTS_SECONDS", "-5", "must be at least 0"),
        (lambda n: env.env_list(n, []), "ALLOWED_HOSTS", "a,,b", "without empty items"),
        (env.env_database, "DATABASE_URL", "mysql://root@localhost/db", "PostgreSQL only"),
        (env.env_database, "DATABASE_URL", "sqlite:///db.sqlite3", "PostgreSQL only"),
        (env.env_database, "DATABASE_URL", "postgres://u@h:5432/", "names no database"),
        (
            lambda n: env.env_choice(n, ["", "pgbouncer"]),
            "DATABASE_POOLER",
            "pgpool",
            "expected one of '', 'pgbouncer'",
        ),
        (env.env_redis, "REDIS_URL", "localhost:6379", "expected redis://host:port/db"),
        (env.env_redis, "REDIS_URL", "redis://localhost:port/0", "the port is not a number"),
        (env.env_redis, "REDIS_URL", "sentinel://s1:26379;redis://s2:26379", "expected sentinel://host:port/db;"),
        (env.env_redis, "REDIS_URL", "sentinel://s1:26379;sentinel://:26379", "expected sentinel://host:port/db;"),
        (env.env_redis, "REDIS_URL", "sentinel://s1:26379/0;sentinel://s2:x", "the port is not a number"),
    ],
)
def test_it_rejects_a_malformed_value_naming_the_variable(monkeypatch, function, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as caught:
        function(name)
    assert name in str(caught.value)
    assert message in str(caught.value)


def test_it_requires_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        env.env_str("SECRET_KEY", required=True)


def test_it_reads_well_formed_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_LIST", "a.gov.cn, b.gov.cn")
    monkeypatch.setenv("X_DB", "postgres://u:p@db.internal:5433/onetable")
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_list("X_LIST", []) == ["a.gov.cn", "b.gov.cn"]
    db = env.env_database("X_DB")
    assert (db["HOST"], db["PORT"], db["NAME"], db["ENGINE"]) == (
        "db.internal",
        5433,
        "onetable",
        "django.db.backends.postgresql",
    )


def _manage(args, drop=(), **overrides):
    environment = {**{k: v for k, v in os.environ.items() if k not in drop}, **overrides}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
    )


def test_it_stops_start_up_on_a_malformed_variable():
    result = _manage(["check"], DEBUG="sometimes")
    assert result.returncode != 0
    assert "DEBUG='sometimes' is malformed" in result.stderr


def test_production_settings_pass_the_deployment_check_without_warnings():
    result = _manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        HTTPS="1",
        SECRET_KEY="p" * 20 + "-production-secret-with-enough-entropy-x9Q!z",
        ALLOWED_HOSTS="onetable.county.gov.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        ({}, {"prepare_threshold": 5, "server_side_binding": True}),
        ({"DB_PREPARED_STATEMENTS": "1"}, {"prepare_threshold": 5, "server_side_binding": True}),
        ({"DB_PREPARED_STATEMENTS": "0"}, {}),  # behind a pooler that cannot keep prepared statements
        ({"DATABASE_POOLER": "pgbouncer"}, {}),  # PgBouncer before 1.21 cannot
        # a PgBouncer with max_prepared_statements keeps them
        (
            {"DATABASE_POOLER": "pgbouncer", "DB_PREPARED_STATEMENTS": "1"},
            {"prepare_threshold": 5, "server_side_binding": True},
        ),
    ],
)
def test_prepared_statements_and_server_side_binding_follow_one_switch(switch, expected):
    script = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}))"
    result = _manage(["shell", "-c", script], drop=("DATABASE_POOLER", "DB_PREPARED_STATEMENTS"), **switch)
    assert result.returncode == 0, result.stderr
    options = ast.literal_eval(result.stdout.strip().splitlines()[-1])  # after the shell's own notice
    assert {k: options[k] for k in ("prepare_threshold", "server_side_binding") if k in options} == expected


def test_sentinels_in_redis_url_need_the_master_name_and_reach_celery_as_kombu_expects():
    sentinels = "sentinel://:secret@s1.internal:26379/2;sentinel://s2.internal:26379;sentinel://s3.internal"
    missing = _manage(["check"], REDIS_URL=sentinels, REDIS_SENTINEL_MASTER="")
    assert missing.returncode != 0 and "REDIS_SENTINEL_MASTER is required" in missing.stderr
    script = (
        "from core.celery import app; from core.broker import redis_client; "
        "pool = redis_client(timeout=1).connection_pool; "
        "print(repr((app.conf.broker_url, app.conf.broker_transport_options['master_name'], pool.service_name, "
        "pool.sentinel_manager.sentinels[2].get_connection_kwargs()['port'], "
        "pool.connection_kwargs['db'], pool.connection_kwargs['password'])))"
    )
    result = _manage(["shell", "-c", script], REDIS_URL=sentinels, REDIS_SENTINEL_MASTER="onetable")
    assert result.returncode == 0, result.stderr
    expected = (sentinels, "onetable", "onetable", 26379, 2, "secret")  # the third sentinel on the default port
    assert ast.literal_eval(result.stdout.strip().splitlines()[-1]) == expected
