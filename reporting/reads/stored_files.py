"""The files OneTable's workers write for people to download (exports, generated reports), read back by the web
server. Both must see the same folder (`ONETABLE_DATA_DIR`; docker-compose mounts one volume in every app
container); where they do not, or a file was deleted, the download is answered "gone" by name, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from reporting.rejections import Problem


def open_stored(path: Path) -> BinaryIO | None:
    """The stored file opened for reading, or None when it is not in this server's folder."""
    try:
        return path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def gone(name: str) -> Problem:
    """The refusal of a download whose file is not here (410 Gone)."""
    return Problem(field="file", rule="file.gone", params={"name": name})
