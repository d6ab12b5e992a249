"""The PLT fill's steps (convert, detect, plot), each leaving its status record
(:mod:`pltanomaly.core.steps`); :mod:`pltanomaly.channels.fill_job` runs them in one process.

Data errors of a fill (:class:`~pltanomaly.channels.io.BrilFileError`,
:class:`~pltanomaly.channels.convert.EmptyFillError`,
:class:`~pltanomaly.channels.detect.DetectorInputError`) fail only that fill.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.steps import (
    finish,
    input_ready,
    internal_failure,
    lost_input,
    new_record,
    record_path,
    remove_output,
)

log = logging.getLogger(__name__)


def step_record(year_dir: str | os.PathLike[str], step: str, fill: int) -> Path:
    """The status record of a step of the fill job: ``status/{step}/{fill}.json``, and for
    the ``lumi`` step the luminometer family's own, ``lumi/status/crosscheck/{fill}.json``
    (the same record whichever source, hd5 or brilcalc, the cross-check read)."""
    from pltanomaly.luminometers.steps import CROSSCHECK_STEP

    if step == "lumi":
        return record_path(Path(year_dir) / "lumi", CROSSCHECK_STEP, fill)
    return record_path(year_dir, step, fill)


STEPS = ("convert", "detect", "lumi", "plot")
"""The fill job's steps, in order; ``lumi`` is the luminometer family's cross-check of the
luminometer tables the conversion read in the same pass (:mod:`pltanomaly.luminometers.steps`)."""


def convert_step(
    fill_dir: str | os.PathLike[str],
    series_out: str | os.PathLike[str],
    record_out: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    counts: str = "auto",
    key: str | None = None,
    lumi_out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Convert one fill folder to ``series_out``; always write the record ``record_out``
    (with ``key``, what the conversion depended on, for :mod:`pltanomaly.channels.fill_job`).
    With ``lumi_out``, also the luminometer series (kept, and listed as ``lumi_output``, for
    a fill without PLT rows)."""
    from pltanomaly.channels.convert import EmptyFillError, convert_fill
    from pltanomaly.channels.io import BrilFileError
    from pltanomaly.channels.years import FillFolderError

    started = time.perf_counter()
    record = new_record("convert", fill, year, key)
    record_out = Path(record_out)
    try:
        summary = convert_fill(fill_dir, series_out, counts=counts, lumi_out=lumi_out)
    except BrilFileError as exc:
        remove_output(series_out)
        remove_output(lumi_out)
        record.update(status="failed", reason=f"{exc.path.name}: {exc.reason}")
        record["error_type"] = type(exc).__name__
    except EmptyFillError as exc:
        remove_output(series_out)
        record.update(status="failed", reason=exc.reason, error_type=type(exc).__name__)
        if lumi_out is not None and Path(lumi_out).exists():
            record["lumi_output"] = str(lumi_out)
    except FillFolderError as exc:
        remove_output(series_out)
        remove_output(lumi_out)
        record.update(status="failed", reason=exc.reason, error_type=type(exc).__name__)
    except MemoryError:
        raise
    except Exception as exc:
        remove_output(series_out)
        remove_output(lumi_out)
        internal_failure(record, exc, record_out)
    else:
        record["outputs"] = [str(series_out), *([str(lumi_out)] if lumi_out else [])]
        record["summary"] = asdict(summary)
    if record["status"] != "ok":
        record["files"] = _file_list(fill_dir)
        log.warning("fill %s: conversion failed: %s", fill, record["reason"])
    return finish(record, started, record_out)


def _file_list(fill_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    from pltanomaly.channels.years import FillFolderError, fill_files

    files: list[dict[str, Any]] = []
    try:
        paths = fill_files(fill_dir)
    except FillFolderError:
        return files
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append({"name": path.name, "size": stat.st_size, "mtime": stat.st_mtime})
    return files


def _row_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The report.parquet columns of a detector result."""
    channels = result.get("channels") or {}
    by_status: dict[str, list[int]] = {"anomalous": [], "normal": [], "dead": []}
    n_events = 0
    scores = []
    for key, info in channels.items():
        by_status.setdefault(info.get("status", ""), []).append(int(key))
        n_events += len(info.get("events") or [])
        if info.get("status") != "dead" and info.get("score") is not None:
            scores.append(float(info["score"]))
    start, end = result.get("start"), result.get("end")
    duration = (end - start) / 3600.0 if start is not None and end is not None else None
    return {
        "start": start,
        "end": end,
        "duration_h": duration,
        "n_nb4": result.get("n_nb4"),
        "anomalous": bool(result.get("anomalous")),
        "anomalous_channels": sorted(by_status["anomalous"]),
        "normal_channels": sorted(by_status["normal"]),
        "dead_channels": sorted(by_status["dead"]),
        "n_events": n_events,
        "max_score": max(scores) if scores else None,
    }


def detect_step(
    series: str | os.PathLike[str],
    convert_record: str | os.PathLike[str],
    json_out: str | os.PathLike[str],
    record_out: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    settings: Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
    min_fill_hours: float = 0.0,
    settings_hash: str | None = None,
    views: list[Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Run the detector on a converted fill and publish ``fills/{fill}.json``; a failed
    conversion or a fill shorter than ``min_fill_hours`` gives a failed/skipped record and
    no result file. Invalid detector settings raise (a configuration error, not the fill's).
    With ``views``, the detector's :class:`~pltanomaly.channels.detect.RatioView` is appended to it,
    for a plot drawn in the same process."""
    import pandas as pd

    from pltanomaly.channels.detect import (
        DetectorInputError,
        DetectorSettings,
        detect_fill_analysis,
        view_of,
    )

    started = time.perf_counter()
    checked = DetectorSettings.of(settings)  # raises on bad settings
    dead = sorted(int(c) for c in dead_channels)
    record = new_record("detect", fill, year, key)
    record.update(settings_hash=settings_hash, dead_channels=dead)
    record_out = Path(record_out)
    result = None
    if input_ready(record, series, Path(convert_record), "convert"):
        try:
            frame = pd.read_parquet(series)
            if len(frame) == 0:
                raise DetectorInputError(fill, "series has no row")
            start, end = float(frame["timestamp"].min()), float(frame["timestamp"].max())
            hours = (end - start) / 3600.0
            if min_fill_hours and hours < min_fill_hours:
                record.update(
                    status="skipped",
                    reason=f"fill lasts {hours:.2f} h, under min_fill_hours {min_fill_hours:g}",
                    start=start,
                    end=end,
                )
            else:
                result, analysis = detect_fill_analysis(
                    frame, fill=fill, year=year, settings=checked, dead_channels=dead
                )
                if views is not None:
                    views.append(view_of(analysis))
        except DetectorInputError as exc:
            record.update(status="failed", reason=f"detector: {exc.reason}", failed_step="detect")
            record["error_type"] = type(exc).__name__
        except MemoryError:
            raise
        except Exception as exc:
            record["failed_step"] = "detect"
            internal_failure(record, exc, record_out)
    if result is None:
        remove_output(json_out)
    else:
        write_json_atomic(json_out, result)
        record["outputs"] = [str(json_out)]
        record["row"] = _row_of(result)
    if record["status"] != "ok":
        log.warning("fill %s: %s: %s", fill, record["status"], record["reason"])
    return finish(record, started, record_out)


def placeholder_plot(out_png: str | os.PathLike[str], title: str, text: str) -> None:
    """A small figure that says why there is no real plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(6, 2))
    figure.text(0.5, 0.65, title, ha="center", va="center", fontsize=12)
    figure.text(0.5, 0.35, text, ha="center", va="center", fontsize=8, wrap=True)
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)


def plot_step(
    series: str | os.PathLike[str],
    result_json: str | os.PathLike[str],
    detect_record: str | os.PathLike[str],
    png_out: str | os.PathLike[str],
    record_out: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    settings: Mapping[str, Any] | None = None,
    plots: str = "anomalous",
    view: Any = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Plot an anomalous fill (every processed fill with ``plots="all"``) to ``png_out``;
    remove a stale plot of a fill that no longer needs one. ``view`` is the detector's
    :class:`~pltanomaly.channels.detect.RatioView` when it ran in this process (else it is made
    from the series)."""
    started = time.perf_counter()
    record = new_record("plot", fill, year, key)
    record_out = Path(record_out)
    detected = json.loads(Path(detect_record).read_text())
    wanted = detected.get("status") == "ok" and (
        plots == "all" or bool(detected.get("row", {}).get("anomalous"))
    )
    if not wanted:
        remove_output(png_out)
        record.update(status="skipped", reason="no plot needed")
        return finish(record, started, record_out)
    upstream = Path(detect_record)
    if lost_input(record, series, upstream.parent.parent / "convert" / upstream.name) or (
        lost_input(record, result_json, upstream)
    ):
        remove_output(png_out)
        return finish(record, started, record_out)
    try:
        from pltanomaly.channels.plot import plot_fill

        result = json.loads(Path(result_json).read_text())
        if view is None:
            import pandas as pd

            frame = pd.read_parquet(series)
            plot_fill(frame, result, Path(png_out), year=year, settings=settings)
        else:
            plot_fill(None, result, Path(png_out), year=year, view=view)
    except MemoryError:
        raise
    except Exception as exc:
        remove_output(png_out)
        internal_failure(record, exc, record_out)
    else:
        record["outputs"] = [str(png_out)]
    return finish(record, started, record_out)
