"""Per-fill processing steps with status records, and the per-year aggregation.

The results contract (``shared/docs/results-contract.md``) holds real results only: a fill
whose data cannot be converted has no ``fills/{fill}.parquet`` nor ``fills/{fill}.json``; a
fill that is not anomalous has no plot. The workflow still needs one output per job, so each
step writes a small **status record**, ``{year_dir}/status/{step}/{fill}.json``, whatever
happens, and publishes the contract file only on success (and removes a stale one on
failure). The records are what Snakemake tracks; the aggregation turns them into
``report.parquet`` (contract columns + ``status``, ``reason``) and ``logs.json``.

Failures are of two kinds:

- *data* errors (:class:`~pltanomaly.io.BrilFileError`, :class:`~pltanomaly.convert.EmptyFillError`,
  :class:`~pltanomaly.detect.DetectorInputError`): the fill is ``failed`` with the reason,
  and runs again when its files change;
- *internal* errors (any other exception): also recorded as ``failed``, with the traceback
  in the job's log, and a new token in ``status/{step}/{fill}.retry``; the workflow routes
  that token through ``params:``, so the next run retries the fill.

Every file is written atomically: a killed job leaves either the previous state or nothing,
and since the record is written last, a job killed half-way reruns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import logging
import os
import secrets
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.atomic import atomic_path, write_json_atomic
from pltanomaly.errors import InputError

log = logging.getLogger(__name__)

STEPS = ("convert", "detect", "plot")
REPORT_COLUMNS = (
    "fill",
    "year",
    "start",
    "end",
    "duration_h",
    "n_nb4",
    "anomalous",
    "anomalous_channels",
    "normal_channels",
    "dead_channels",
    "n_events",
    "max_score",
    "status",
    "reason",
)


# --------------------------------------------------------------------------- paths


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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _remove(path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)


def _record(step: str, fill: int, year: int, key: str | None = None) -> dict[str, Any]:
    record = {
        "fill": int(fill),
        "year": int(year),
        "step": step,
        "status": "ok",
        "reason": None,
        "started": _now(),
        "host": os.uname().nodename,
        "version": __version__,
    }
    if key is not None:
        record["key"] = key
    return record


def request_retry(record: str | os.PathLike[str]) -> None:
    """Write a new retry token beside ``record``: the step runs again at the next run."""
    with atomic_path(retry_path(record)) as tmp:
        tmp.write_text(f"{time.time():.3f}-{secrets.token_hex(4)}\n")


def _internal_failure(record: dict[str, Any], exc: BaseException, record_out: Path) -> None:
    log.error("internal error:\n%s", traceback.format_exc())
    record.update(
        status="failed",
        reason=f"internal error in {record['step']}: {type(exc).__name__}: {exc}",
        error_type=type(exc).__name__,
        internal=True,
    )
    request_retry(record_out)


def _lost_input(record: dict[str, Any], path: str | os.PathLike[str], upstream: Path) -> bool:
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


def _finish(record: dict[str, Any], started: float, record_out: Path) -> dict[str, Any]:
    record["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(record_out, record)
    return record


# --------------------------------------------------------------------------- steps


def convert_step(
    fill_dir: str | os.PathLike[str],
    series_out: str | os.PathLike[str],
    record_out: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    counts: str = "auto",
    key: str | None = None,
) -> dict[str, Any]:
    """Convert one fill folder to ``series_out``; always write the record ``record_out``
    (with ``key``, what the conversion depended on, for :mod:`pltanomaly.fill_job`)."""
    from pltanomaly.config import FillFolderError
    from pltanomaly.convert import EmptyFillError, convert_fill
    from pltanomaly.io import BrilFileError

    started = time.perf_counter()
    record = _record("convert", fill, year, key)
    record_out = Path(record_out)
    try:
        summary = convert_fill(fill_dir, series_out, counts=counts)
    except BrilFileError as exc:
        _remove(series_out)
        record.update(status="failed", reason=f"{exc.path.name}: {exc.reason}")
        record["error_type"] = type(exc).__name__
    except EmptyFillError as exc:
        _remove(series_out)
        record.update(status="failed", reason=exc.reason, error_type=type(exc).__name__)
    except FillFolderError as exc:
        _remove(series_out)
        record.update(status="failed", reason=exc.reason, error_type=type(exc).__name__)
    except MemoryError:
        raise
    except Exception as exc:
        _remove(series_out)
        _internal_failure(record, exc, record_out)
    else:
        record["outputs"] = [str(series_out)]
        record["summary"] = asdict(summary)
    if record["status"] != "ok":
        record["files"] = _file_list(fill_dir)
        log.warning("fill %s: conversion failed: %s", fill, record["reason"])
    return _finish(record, started, record_out)


def _file_list(fill_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    from pltanomaly.config import FillFolderError, fill_files

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
    With ``views``, the detector's :class:`~pltanomaly.detect.RatioView` is appended to it,
    for a plot drawn in the same process."""
    import pandas as pd

    from pltanomaly.detect import (
        DetectorInputError,
        DetectorSettings,
        detect_fill_analysis,
        view_of,
    )

    started = time.perf_counter()
    checked = DetectorSettings.of(settings)  # raises on bad settings
    dead = sorted(int(c) for c in dead_channels)
    record = _record("detect", fill, year, key)
    record.update(settings_hash=settings_hash, dead_channels=dead)
    record_out = Path(record_out)
    converted = json.loads(Path(convert_record).read_text())
    result = None
    if converted.get("status") != "ok":
        record.update(status="failed", reason=converted.get("reason"), failed_step="convert")
    elif _lost_input(record, series, Path(convert_record)):
        pass
    else:
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
            _internal_failure(record, exc, record_out)
    if result is None:
        _remove(json_out)
    else:
        write_json_atomic(json_out, result)
        record["outputs"] = [str(json_out)]
        record["row"] = _row_of(result)
    if record["status"] != "ok":
        log.warning("fill %s: %s: %s", fill, record["status"], record["reason"])
    return _finish(record, started, record_out)


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
    :class:`~pltanomaly.detect.RatioView` when it ran in this process (else it is made
    from the series)."""
    started = time.perf_counter()
    record = _record("plot", fill, year, key)
    record_out = Path(record_out)
    detected = json.loads(Path(detect_record).read_text())
    wanted = detected.get("status") == "ok" and (
        plots == "all" or bool(detected.get("row", {}).get("anomalous"))
    )
    if not wanted:
        _remove(png_out)
        record.update(status="skipped", reason="no plot needed")
        return _finish(record, started, record_out)
    upstream = Path(detect_record)
    if _lost_input(record, series, upstream.parent.parent / "convert" / upstream.name) or (
        _lost_input(record, result_json, upstream)
    ):
        _remove(png_out)
        return _finish(record, started, record_out)
    try:
        from pltanomaly.plot import plot_fill

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
        _remove(png_out)
        _internal_failure(record, exc, record_out)
    else:
        record["outputs"] = [str(png_out)]
    return _finish(record, started, record_out)


# --------------------------------------------------------------------------- aggregation


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fill_log(year_dir: Path, fill: int) -> dict[str, Any]:
    """The logs.json entry of one fill, from its status records."""
    records = {step: _read_record(record_path(year_dir, step, fill)) for step in STEPS}
    convert, detect, plot = records["convert"], records["detect"], records["plot"]
    entry: dict[str, Any] = {"status": "failed", "reason": "not processed (no status record)"}
    if detect is not None:
        entry = {"status": detect["status"], "reason": detect.get("reason")}
        if detect.get("failed_step"):
            entry["failed_step"] = detect["failed_step"]
    elif convert is not None and convert.get("status") != "ok":
        entry = {"status": "failed", "reason": convert.get("reason"), "failed_step": "convert"}
    if any(r and r.get("internal") for r in records.values()):
        entry["internal_error"] = True
    entry["timings"] = {step: r.get("seconds") for step, r in records.items() if r is not None}
    entry["versions"] = {step: r.get("version") for step, r in records.items() if r is not None}
    entry["finished"] = max(
        (r.get("started") or "" for r in records.values() if r is not None), default=None
    )
    if detect is not None:
        entry["settings_hash"] = detect.get("settings_hash")
    summary = (convert or {}).get("summary") or {}
    if convert is not None and not summary and convert.get("files") is not None:
        entry["files"] = convert["files"]
    if summary:
        entry["files"] = summary.get("files", [])
        entry["warnings"] = summary.get("warnings", [])
        entry["rows"] = {
            key: summary.get(key)
            for key in ("rows_read", "rows_kept", "rows_garbage", "rows_duplicate")
        }
        entry["counts_mode"] = summary.get("counts_mode")
        entry["colliding_source"] = summary.get("colliding_source")
    if plot is not None:
        entry["plot"] = plot.get("status") if plot.get("status") != "failed" else plot["reason"]
        if plot.get("status") == "failed":
            entry.setdefault("warnings", []).append(f"plot failed: {plot.get('reason')}")
    return entry


def _report_row(year: int, fill: int, year_dir: Path, status: str, reason: Any) -> dict:
    detect = _read_record(record_path(year_dir, "detect", fill)) or {}
    row: dict[str, Any] = {
        "fill": fill,
        "year": year,
        "start": detect.get("start"),
        "end": detect.get("end"),
        "duration_h": None,
        "n_nb4": None,
        "anomalous": False,
        "anomalous_channels": [],
        "normal_channels": [],
        "dead_channels": [],
        "n_events": 0,
        "max_score": None,
    }
    row.update(detect.get("row") or {})
    if row["duration_h"] is None and row["start"] is not None and row["end"] is not None:
        row["duration_h"] = (row["end"] - row["start"]) / 3600.0
    row.update(status=status, reason=reason)
    return row


def report_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """report.parquet as an Arrow table with a fixed schema (lists of channels as int lists)."""
    import pyarrow as pa

    schema = pa.schema(
        [
            ("fill", pa.int64()),
            ("year", pa.int64()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("duration_h", pa.float64()),
            ("n_nb4", pa.int64()),
            ("anomalous", pa.bool_()),
            ("anomalous_channels", pa.list_(pa.int64())),
            ("normal_channels", pa.list_(pa.int64())),
            ("dead_channels", pa.list_(pa.int64())),
            ("n_events", pa.int64()),
            ("max_score", pa.float64()),
            ("status", pa.string()),
            ("reason", pa.string()),
        ]
    )
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.table(columns, schema=schema)


def write_html_table(table: Any, out: str | os.PathLike[str], *, year: int, counts: dict) -> None:
    """The report table as a standalone HTML page (for the Snakemake report and browsers)."""
    frame = table.to_pandas()
    for column in ("anomalous_channels", "normal_channels", "dead_channels"):
        frame[column] = frame[column].map(lambda v: ", ".join(str(int(c)) for c in v))
    for column in ("start", "end"):
        frame[column] = [
            dt.datetime.fromtimestamp(v, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
            if v == v and v is not None
            else ""
            for v in frame[column]
        ]
    frame["duration_h"] = frame["duration_h"].round(2)
    frame["max_score"] = frame["max_score"].round(3)
    body = frame.to_html(index=False, na_rep="", classes="report", border=0)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>PLT anomalies {year}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; }}
table.report {{ border-collapse: collapse; }}
table.report td, table.report th {{ padding: 2px 8px; border-bottom: 1px solid #ddd; }}
table.report td, table.report th {{ text-align: left; }}
table.report th {{ background: #f0f0f0; position: sticky; top: 0; }}
</style></head><body>
<h2>PLT anomalies, {year}</h2>
<p>{html.escape(summary)}; generated {html.escape(_now())} by pltanomaly {__version__}</p>
{body}
</body></html>
"""
    with atomic_path(out) as tmp:
        tmp.write_text(page)


def _copy_plots(year_dir: Path, fills: Iterable[int], out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for fill in fills:
        source = year_dir / "plots" / f"{fill}.png"
        if not source.is_file():
            continue
        target = out_dir / source.name
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            import shutil

            shutil.copy2(source, target)
        n += 1
    return n


def aggregate_year(
    year: int,
    fills: Iterable[int],
    year_dir: str | os.PathLike[str],
    *,
    report_out: str | os.PathLike[str] | None = None,
    logs_out: str | os.PathLike[str] | None = None,
    table_out: str | os.PathLike[str] | None = None,
    plots_out: str | os.PathLike[str] | None = None,
    excluded: Iterable[int] = (),
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Write ``report.parquet`` (one row per fill: contract columns + status, reason),
    ``logs.json`` (per-fill status, reason, timings, versions, files, warnings; fills
    excluded by the config as skipped), optionally the HTML table and a folder with the
    year's plots (for the Snakemake report). Returns the report as an Arrow table."""
    import pyarrow.parquet as pq

    year_dir = Path(year_dir)
    fills = sorted(int(f) for f in fills)
    logs: dict[str, Any] = {}
    rows = []
    for fill in fills:
        entry = fill_log(year_dir, fill)
        logs[str(fill)] = entry
        rows.append(_report_row(year, fill, year_dir, entry["status"], entry["reason"]))
    for fill in sorted(int(f) for f in excluded):
        logs.setdefault(str(fill), {"status": "skipped", "reason": "excluded by the config"})
    logs = dict(sorted(logs.items(), key=lambda kv: int(kv[0])))
    counts: dict[str, int] = {}
    for entry in logs.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    table = report_table(rows)
    with atomic_path(report_out or year_dir / "report.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    payload = {
        "year": int(year),
        "generated": _now(),
        "version": __version__,
        "counts": counts,
        "n_anomalous": sum(1 for r in rows if r["anomalous"]),
        **dict(meta or {}),
        "fills": logs,
    }
    write_json_atomic(logs_out or year_dir / "logs.json", payload)
    if table_out is not None:
        write_html_table(table, table_out, year=year, counts=counts)
    if plots_out is not None:
        _copy_plots(year_dir, fills, Path(plots_out))
    failed = [f for f, e in logs.items() if e["status"] == "failed"]
    if failed:
        log.warning("year %s: %d failed fill(s): %s", year, len(failed), ", ".join(failed))
    return table


# --------------------------------------------------------------------------- command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="rebuild a year's report.parquet and logs.json from its status records"
    )
    parser.add_argument("year_dir", type=Path, help="results/{year} folder")
    parser.add_argument("--year", type=int, default=None, help="default: the folder's name")
    parser.add_argument("--html", type=Path, default=None, help="also write the HTML table")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if not args.year_dir.is_dir():
        raise InputError(f"{args.year_dir}: no such results folder")
    if args.year is None and not args.year_dir.resolve().name.isdigit():
        raise InputError(f"{args.year_dir}: not named by a year; give --year")
    year = args.year if args.year is not None else int(args.year_dir.resolve().name)
    folder = args.year_dir / "status" / "convert"
    fills = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
    table = aggregate_year(year, fills, args.year_dir, table_out=args.html)
    statuses = table.column("status").to_pylist()
    print(
        f"{year}: {len(fills)} fills ({statuses.count('ok')} ok, {statuses.count('failed')} "
        f"failed, {statuses.count('skipped')} skipped); wrote {args.year_dir / 'report.parquet'}"
    )
    return 0
