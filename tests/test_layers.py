"""Layers point one way: core below reporting, the apps below the tooling and benchmarks, tasks above services.

The contracts are in pyproject.toml ([tool.importlinter]); `lint-imports` checks them here and in .ci/run.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_it_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/access.py", "import reporting", "core is not allowed to import reporting"),
        ("core/audit.py", "from reporting.models import Submission", "core is not allowed to import reporting"),
        ("reporting/models/__init__.py", "from tools import launcher", "reporting is not allowed to import tools"),
        ("reporting/services/deliveries.py", "from reporting import tasks", "not allowed to import reporting.tasks"),
    ],
)
def test_it_fails_when_a_layer_imports_upwards_even_inside_a_function(tmp_path, module, line, contract):
    # given a copy of the code base in which one module imports what its layer must not, where it is used
    for name in ("core", "reporting", "tools", "bench"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\n\ndef _upwards():\n    {line}  # noqa\n")
    # when the contracts are checked, then the check fails and names the import
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert contract in result.stdout, result.stdout


def test_it_serves_the_benchmark_anchor_only_under_the_benchmark_settings():
    with pytest.raises(Resolver404):
        resolve("/bench/anchor")  # production's URLconf
    assert resolve("/bench/anchor", urlconf="bench.urls").func.__name__ == "anchor"
    assert resolve("/bench/floor", urlconf="bench.urls").func.__name__ == "floor"
    assert resolve("/api/v1/unit/submissions", urlconf="bench.urls").route == resolve("/api/v1/unit/submissions").route


def test_it_publishes_only_tasks_a_worker_knows_by_name():
    from core.celery import app
    from reporting.reads.exports import RUN_EXPORT_TASK
    from reporting.services.deliveries import SEND_DELIVERIES_TASK

    app.loader.import_default_modules()  # what a worker does at start: autodiscover every app's tasks
    for name in (SEND_DELIVERIES_TASK, RUN_EXPORT_TASK, *(e["task"] for e in app.conf.beat_schedule.values())):
        assert name in app.tasks, name
