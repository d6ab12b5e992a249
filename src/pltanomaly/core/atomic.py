"""Atomic writes: a killed job never leaves a half-written output behind.

On a batch worker the file is first written in the job's local scratch folder
(``PLTANOMALY_STAGE_DIR``, else HTCondor's ``_CONDOR_SCRATCH_DIR``) and only the finished
file is copied beside its target (AFS, EOS) and renamed onto it, as CERN's batch
documentation recommends; elsewhere it is written beside the target directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAGE_VARIABLES = ("PLTANOMALY_STAGE_DIR", "_CONDOR_SCRATCH_DIR")
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
# what _temp_beside makes: "." + the target's name + "." + mkstemp's 8 random characters
TEMP_NAME_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def stage_dir() -> Path | None:
    """The local folder outputs are written in before they are copied out, if any."""
    for name in STAGE_VARIABLES:
        value = os.environ.get(name)
        if value and Path(value).is_dir():
            return Path(value)
    return None


def _temp_beside(target: Path) -> Path:
    fd, name = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent
    )
    os.close(fd)
    return Path(name)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed onto ``path``.

    The rename happens in ``path``'s folder, so it is atomic on POSIX file systems; with a
    stage folder the body writes there and the finished file is copied beside ``path`` first.
    On any exception every temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = stage_dir()
    written = _temp_beside(target) if stage is None else None
    if written is None:
        fd, name = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".tmp", dir=stage)
        os.close(fd)
        written = Path(name)
    beside: Path | None = None
    try:
        yield written
        if stage is not None:
            beside = _temp_beside(target)
            shutil.copyfile(written, beside)
            written.unlink()
            written = beside
        os.chmod(written, 0o644)
        os.replace(written, target)
    except BaseException:
        written.unlink(missing_ok=True)
        if beside is not None:
            beside.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")


def remove_stale_temps(folder: str | os.PathLike[str], *, before: float) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left in ``folder`` and its subfolders
    (a killed write) last modified before ``before`` (a time stamp); return them."""
    removed: list[Path] = []
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            if not TEMP_NAME_RE.match(name):
                continue
            try:
                if path.lstat().st_mtime < before:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
    return removed
