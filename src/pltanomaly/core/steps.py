"""Steps with status records: the machinery every family's per-unit jobs stand on.

The results contract holds real results only: a unit (a fill, a run) whose data cannot be
read has no result file. The workflow still needs one output per job, so each step writes
a small **status record**, ``{results_dir}/status/{step}/{unit}.json``, whatever happens,
and publishes its contract file only on success (and removes a stale one on failure). The
records are what Snakemake tracks and what a family's aggregation reads.

Failures are of two kinds:

- *data* errors (:class:`~pltanomaly.core.errors.InputError` and the families' own): the
  unit is ``failed`` with the reason, and runs again when its inputs change;
- *internal* errors (any other exception): also recorded as ``failed``, with the traceback
  in the job's log, and a new token in ``status/{step}/{unit}.retry``; the workflow routes
  that token through ``params:``, so the next run retries the unit.

Every file is written atomically: a killed job leaves either the previous state or nothing,
and since the record is written last, a job killed half-way reruns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import time
import traceback
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.core.atomic import atomic_path, write_json_atomic

log = logging.getLogger(__name__)


def record_path(year_dir: str | os.PathLike[str], step: str, fill: int) -> Path:
    """The status record of ``step`` for ``fill``."""
    return Path(year_dir) / "status" / step / f"{fill}.json"


def retry_path(record: str | os.PathLike[str]) -> Path:
    return Path(record).with_suffix(".retry")


def retry_tokens(year_dir: str | os.PathLike[str], step: str) -> dict[int, str]:
    """``{fill: token}`` of the fills whose ``step`` last failed on an internal error (one
    folder listing; the workflow hands the token to ``params:`` so a new token reruns)."""
    folder = Path(year_dir) / "status" / step
    tokens: dict[int, str] = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return tokens
    for entry in entries:
        stem, _, suffix = entry.name.partition(".")
        if suffix == "retry" and stem.isdigit():
            try:
                tokens[int(stem)] = Path(entry.path).read_text().strip()
            except OSError:
                continue
    return tokens


def job_logging(log_file: str | os.PathLike[str] | None) -> None:
    """Send logging, warnings and stderr of a workflow job to its log file."""
    import sys
    import warnings

    if log_file is None:
        return
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_file, "a", buffering=1)  # lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def remove_output(path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)


def unit_record(step: str, **unit: int) -> dict[str, Any]:
    """A fresh ``ok`` record of ``step`` for one unit (``fill=..., year=...``, or ``run=...``)."""
    return {
        **{name: int(value) for name, value in unit.items()},
        "step": step,
        "status": "ok",
        "reason": None,
        "started": now(),
        "host": os.uname().nodename,
        "version": __version__,
    }


def new_record(step: str, fill: int, year: int, key: str | None = None) -> dict[str, Any]:
    record = unit_record(step, fill=fill, year=year)
    if key is not None:
        record["key"] = key
    return record


def request_retry(record: str | os.PathLike[str]) -> None:
    """Write a new retry token beside ``record``: the step runs again at the next run."""
    with atomic_path(retry_path(record)) as tmp:
        tmp.write_text(f"{time.time():.3f}-{secrets.token_hex(4)}\n")


def internal_failure(record: dict[str, Any], exc: BaseException, record_out: Path) -> None:
    log.error("internal error:\n%s", traceback.format_exc())
    record.update(
        status="failed",
        reason=f"internal error in {record['step']}: {type(exc).__name__}: {exc}",
        error_type=type(exc).__name__,
        internal=True,
    )
    request_retry(record_out)


def lost_input(record: dict[str, Any], path: str | os.PathLike[str], upstream: Path) -> bool:
    """When ``path``, published by the step of ``upstream``'s record, is gone (deleted by
    hand), fail this step and have that step redo it at the next run."""
    if Path(path).exists():
        return False
    request_retry(upstream)
    record.update(
        status="failed",
        reason=f"{Path(path).name} is missing (deleted?); it is made again at the next run",
        failed_step=upstream.parent.name,
    )
    return True


def input_ready(
    record: dict[str, Any], path: str | os.PathLike[str], upstream: Path, step: str
) -> bool:
    """Whether ``path``, published by ``step`` (whose record is ``upstream``), can be read; if
    not, ``record`` fails saying why: ``step`` failed, or ``path`` is gone (:func:`lost_input`)."""
    done = json.loads(upstream.read_text())
    if done.get("status") != "ok":
        record.update(status="failed", reason=done.get("reason"), failed_step=step)
        return False
    return not lost_input(record, path, upstream)


def finish(record: dict[str, Any], started: float, record_out: Path) -> dict[str, Any]:
    record["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(record_out, record)
    return record


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
