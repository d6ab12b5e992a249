"""A DT run's steps in the workflow: fetch, detect, plot, each with its status record.

Files of run ``{run}`` under the family's folder (``results/dt``):

- ``{run}.parquet`` and ``status/fetch/{run}.json``: the fetched chambers and the fetch's
  record (:func:`pltanomaly.chambers.fetch.write_run`), written whatever the GUI answered;
- ``{run}.json``: the results contract, always written: the detector's result (``"status":
  "partial"`` when some chambers could not be fetched), or ``"status": "error"`` with the
  ``reason`` when nothing could be fetched (an unknown run, a GUI that failed) or the detector
  failed; ``fetch`` says what the fetch got;
- ``plots/{run}.png`` (the run's map) and ``plots/{run}/{chamber}.png`` (each bad chamber);
- ``status/detect/{run}.json`` and ``status/plot/{run}.json``: the steps' records (status,
  reason, seconds, version), which the aggregation reads.

A step never fails its job for what the data are: an internal error is recorded, logged with
its traceback, and leaves a retry token (:func:`pltanomaly.core.steps.request_retry`) that the
workflow routes through ``params:``, so the next run retries the step.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.chambers.fetch import FetchResult, fetch_run, write_run
from pltanomaly.chambers.geometry import CHAMBERS, Chamber
from pltanomaly.chambers.source import DqmSource
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.config import ConfigError, settings_hash
from pltanomaly.core.steps import finish, internal_failure, now, read_record, unit_record

log = logging.getLogger(__name__)

FAILED_FETCH = ("unknown_run", "error")
"""Fetch statuses that leave nothing to detect."""
RUN_STATUSES = ("finished", "partial", "unknown_run", "error")


def run_paths(dt_dir: str | os.PathLike[str], run: int) -> dict[str, Path]:
    """Every file of ``run`` under ``dt_dir`` (``results/dt``), by kind."""
    base = Path(dt_dir)
    return {
        "occupancy": base / f"{run}.parquet",
        "fetch": base / "status" / "fetch" / f"{run}.json",
        "result": base / f"{run}.json",
        "detect": base / "status" / "detect" / f"{run}.json",
        "plot": base / "status" / "plot" / f"{run}.json",
        "map": base / "plots" / f"{run}.png",
        "chamber_plots": base / "plots" / str(run),
    }


def detector_settings(mapping: Mapping[str, Any] | None = None) -> Any:
    """The detector's :class:`~pltanomaly.chambers.detect.Settings` from the config's
    ``dt.detector`` (``features`` as a mapping); :class:`ConfigError` for an unknown key or a
    value of the wrong kind."""
    from pltanomaly.chambers.detect import Settings
    from pltanomaly.chambers.features import FeatureSettings

    given = dict(mapping or {})
    features = given.pop("features", None) or {}
    try:
        return Settings(**given, features=FeatureSettings(**features))
    except TypeError as exc:
        raise ConfigError(f"config dt.detector: {exc}") from None


def settings_dict(settings: Any) -> dict[str, Any]:
    """Complete settings as plain data (writing out a default changes nothing)."""
    return dataclasses.asdict(settings)


# ------------------------------------------------------------------------------- fetch


def fetch_step(
    run: int,
    source: DqmSource,
    parquet: str | Path,
    record: str | Path,
    *,
    workers: int = 16,
    retries: int = 4,
    chambers: Iterable[Chamber] = CHAMBERS,
) -> dict[str, Any]:
    """Fetch ``run``'s ``chambers`` from ``source`` and write its Parquet and record; an
    unexpected error becomes an ``error`` record (fetched again at the next run, as every
    non-final status)."""
    started = time.perf_counter()
    try:
        result = fetch_run(
            run,
            source.base_url,
            cert=source.cert,
            key=source.key,
            verify=str(source.ca) if source.ca else True,
            workers=workers,
            retries=retries,
            chambers=chambers,
        )
    except Exception as exc:
        log.exception("run %s: fetch failed", run)
        result = FetchResult(
            run=run,
            base_url=source.base_url,
            status="error",
            reason=f"internal error in fetch: {type(exc).__name__}: {exc}",
            chambers={},
            failures={},
            fetched_at=now(),
            seconds=time.perf_counter() - started,
        )
    written = write_run(result, parquet, record)
    log.info(
        "run %s: %s, %s chambers fetched, %s missing in %.1f s%s",
        run,
        written["status"],
        written["chambers_fetched"],
        written["chambers_missing"],
        written["seconds"],
        f" ({written['reason']})" if written["reason"] else "",
    )
    return written


# ------------------------------------------------------------------------------- detect


def _fetch_summary(fetched: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: fetched.get(key)
        for key in ("status", "reason", "fetched_at", "chambers_fetched", "chambers_missing")
    }


def _failure_reason(failure: Mapping[str, Any]) -> str:
    status = failure.get("http_status")
    kind = f"{failure.get('kind')} {status}" if status else str(failure.get("kind"))
    return f"not fetched ({kind})"


def error_result(run: int, reason: str, fetched: Mapping[str, Any] | None) -> dict[str, Any]:
    """The detector's error result (status ``error`` and why) with what the fetch got."""
    from pltanomaly.chambers.detect import error_result as detector_error

    result = detector_error(int(run), reason)
    if fetched is not None:
        result["fetch"] = _fetch_summary(fetched)
    return result


def detect_step(
    run: int,
    parquet: str | Path,
    fetch_record: str | Path,
    result_out: str | Path,
    record_out: str | Path,
    *,
    detector: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Detect ``run`` on what its fetch got and write ``{run}.json`` and the step's record.

    A partial fetch gives a ``partial`` result, its missing chambers ``not_judged`` with the
    fetch's reason; a run whose fetch got nothing gets an ``error`` result with the fetch's
    reason."""
    started = time.perf_counter()
    record = unit_record("detect", run=run)
    record_out = Path(record_out)
    fetched = read_record(Path(fetch_record))
    try:
        if fetched is None:
            raise RuntimeError(f"the fetch record {fetch_record} is missing or unreadable")
        record["fetch_status"] = fetched.get("status")
        if fetched.get("status") in FAILED_FETCH:
            result = error_result(run, str(fetched.get("reason")), fetched)
            record.update(status="skipped", reason=result["reason"])
        else:
            result = _detect(run, parquet, fetched, detector)
    except Exception as exc:
        internal_failure(record, exc, record_out)
        result = error_result(run, record["reason"], fetched)
    write_json_atomic(result_out, result)
    return finish(record, started, record_out)


def _detect(
    run: int, parquet: str | Path, fetched: Mapping[str, Any], detector: Mapping[str, Any] | None
) -> dict[str, Any]:
    from pltanomaly.chambers.detect import detect_run
    from pltanomaly.chambers.load import load_parquet

    settings = detector_settings(detector)
    result = detect_run(run, load_parquet(parquet), settings)
    for key, failure in (fetched.get("failures") or {}).items():
        chamber = result["chambers"].get(key)
        if chamber is not None and chamber.get("status") == "not_judged":
            chamber["reason"] = _failure_reason(failure)
            chamber["missing"] = True
    if fetched.get("status") == "partial":
        result["status"] = "partial"
        result["reason"] = fetched.get("reason")
    result["fetch"] = _fetch_summary(fetched)
    result["settings_hash"] = settings_hash(settings_dict(settings))
    return result


# --------------------------------------------------------------------------------- plot


def plot_step(
    run: int,
    result_json: str | Path,
    parquet: str | Path,
    map_out: str | Path,
    chamber_dir: str | Path,
    record_out: str | Path,
) -> dict[str, Any]:
    """Draw the run's map and each bad chamber's matrix (removing chamber plots of an earlier
    detection), then write the step's record, which lists the chamber plots."""
    from pltanomaly.chambers import plot

    started = time.perf_counter()
    record = unit_record("plot", run=run)
    record_out = Path(record_out)
    chamber_dir = Path(chamber_dir)
    try:
        result = read_record(Path(result_json))
        if result is None:
            raise RuntimeError(f"the result {result_json} is missing or unreadable")
        drawn = plot.plot_run_files(result, parquet, map_out, chamber_dir)
        record["chamber_plots"] = sorted(p.name for p in drawn)
    except Exception as exc:
        internal_failure(record, exc, record_out)
        Path(map_out).unlink(missing_ok=True)
        plot.draw_failure(run, record["reason"], map_out)
    return finish(record, started, record_out)
