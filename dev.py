#!/usr/bin/env python3
"""OneTable's two commands.

    python3 dev.py run     # start OneTable (web + worker + beat), demo county loaded
    python3 dev.py test    # run the whole test suite
    python3 dev.py bench   # run the benchmarks, write docs/benchmarks.md (--quick: the short run)

Runs on any Python 3; it finds a Python >= 3.12 (Django 6 needs it), keeps a
virtual environment in .venv in step with requirements.txt, then hands over to
tools.launcher inside that environment.
"""

import glob
import hashlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
REQUIREMENTS = os.path.join(ROOT, "requirements.txt")
STAMP = os.path.join(VENV, ".requirements.sha256")
MIN_VERSION = (3, 12)


def python_version(executable):
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python():
    """Return the path of an interpreter >= 3.12: this one, one on PATH, or a pyenv one."""
    candidates = [sys.executable]
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.1[2-9]*", "bin", "python3")), reverse=True)
    candidates += sorted(glob.glob("/usr/local/bin/python3.1[2-9]"), reverse=True)
    for candidate in candidates:
        version = python_version(candidate)
        if version and version >= MIN_VERSION:
            return candidate
    sys.exit(
        "OneTable needs Python 3.12 or newer (Django 6 requires it) and none was found.\n"
        "OneTable 需要 Python 3.12 或更新版本（Django 6 的要求），本机未找到。"
    )


def requirements_digest():
    with open(REQUIREMENTS, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ensure_venv():
    """Create .venv if needed and install requirements.txt when it changed."""
    version = python_version(VENV_PYTHON) if os.path.exists(VENV_PYTHON) else None
    if not version or version < MIN_VERSION:
        shutil.rmtree(VENV, ignore_errors=True)
        python = find_python()
        print(f"[onetable] creating virtual environment with {python}", flush=True)
        subprocess.run([python, "-m", "venv", VENV], check=True)
    digest = requirements_digest()
    current = open(STAMP).read().strip() if os.path.exists(STAMP) else ""
    if current != digest:
        print("[onetable] installing requirements.txt", flush=True)
        pip = [VENV_PYTHON, "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "install", "-r", REQUIREMENTS], check=True)
        with open(STAMP, "w") as f:
            f.write(digest)


def main(argv):
    if len(argv) < 2 or argv[1] not in ("run", "test", "bench", "setup"):
        sys.exit(__doc__)
    ensure_venv()
    if argv[1] == "setup":
        return 0
    os.chdir(ROOT)
    os.execv(VENV_PYTHON, [VENV_PYTHON, "-m", "tools.launcher", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
