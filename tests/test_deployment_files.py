"""docker-compose.yml cannot be started here; check at least that it parses and that it runs real code."""

import importlib
import json
import re
from pathlib import Path

import yaml
from django.core.management import get_commands

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


def test_compose_has_the_whole_stack_with_health_checks_and_a_database_volume():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    assert "pgdata" in compose["volumes"]


def test_the_audit_seals_are_written_to_a_volume_every_app_service_shares():
    compose = _compose()
    for name in ("web", "worker", "beat", "migrate"):
        service = compose["services"][name]
        folder = str(Path(service["environment"]["ONETABLE_AUDIT_SEAL_LOG"]).parent)
        assert f"auditseals:{folder}" in service["volumes"], name
    assert "auditseals" in compose["volumes"]
    assert f"mkdir -p {folder} && chown onetable {folder}" in (ROOT / "Dockerfile").read_text()


def test_every_compose_command_names_code_that_exists(db):
    for name, service in _compose()["services"].items():
        if "command" in service and name not in ("postgres", "redis"):
            _check_command(service["command"])
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD" and name not in ("postgres", "redis"):
            _check_command(test[1:])


def test_the_dockerfile_command_exists():
    cmd_line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    _check_command(json.loads(cmd_line[3:].strip()))
    assert re.search(r"^FROM python:3\.1[2-9]", (ROOT / "Dockerfile").read_text(), re.M)
