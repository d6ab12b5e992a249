"""The PLT year's aggregation: the fills' status records -> ``report.parquet`` and
``logs.json`` (results contract), the HTML table and plots of the Snakemake report.

The fills' steps (:mod:`pltanomaly.channels.steps`) leave the records; this reads them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.channels.steps import STEPS, step_record
from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.errors import InputError
from pltanomaly.core.report import link_plots, status_counts, write_html_page
from pltanomaly.core.steps import now, read_record, record_path

log = logging.getLogger(__name__)


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
    "luminometers",
    "anomalous_luminometers",
    "status",
    "reason",
)


def fill_log(year_dir: Path, fill: int) -> dict[str, Any]:
    """The logs.json entry of one fill, from its status records."""
    records = {step: read_record(step_record(year_dir, step, fill)) for step in STEPS}
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
    lumi = records["lumi"]
    if lumi is not None and lumi.get("status") == "failed":
        entry.setdefault("warnings", []).append(f"luminometers: {lumi.get('reason')}")
    if plot is not None:
        entry["plot"] = plot.get("status") if plot.get("status") != "failed" else plot["reason"]
        if plot.get("status") == "failed":
            entry.setdefault("warnings", []).append(f"plot failed: {plot.get('reason')}")
    return entry


def _report_row(
    year: int,
    fill: int,
    year_dir: Path,
    status: str,
    reason: Any,
    lumi_row: Mapping[str, Any] | None = None,
) -> dict:
    detect = read_record(record_path(year_dir, "detect", fill)) or {}
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
    lumi = lumi_row or (read_record(step_record(year_dir, "lumi", fill)) or {}).get("row") or {}
    row["luminometers"] = lumi.get("luminometers", [])
    row["anomalous_luminometers"] = lumi.get("anomalous_luminometers", [])
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
            ("luminometers", pa.list_(pa.string())),
            ("anomalous_luminometers", pa.list_(pa.string())),
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
    for column in ("luminometers", "anomalous_luminometers"):
        frame[column] = frame[column].map(", ".join)
    for column in ("start", "end"):
        frame[column] = [
            dt.datetime.fromtimestamp(v, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
            if v == v and v is not None
            else ""
            for v in frame[column]
        ]
    frame["duration_h"] = frame["duration_h"].round(2)
    frame["max_score"] = frame["max_score"].round(3)
    write_html_page(frame, out, title=f"PLT anomalies, {year}", counts=counts)


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
    lumi_rows: Mapping[int, Mapping[str, Any]] | None = None,
) -> Any:
    """Write ``report.parquet`` (one row per fill: contract columns + status, reason),
    ``logs.json`` (per-fill status, reason, timings, versions, files, warnings; fills
    excluded by the config as skipped), optionally the HTML table and a folder with the
    year's plots (for the Snakemake report). A fill's luminometer columns come from
    ``lumi_rows`` (fill -> the year's luminometer report row, with the fills off against the
    year) when given, else from its fill job's ``lumi`` record. Returns the report as an
    Arrow table."""
    import pyarrow.parquet as pq

    year_dir = Path(year_dir)
    fills = sorted(int(f) for f in fills)
    logs: dict[str, Any] = {}
    rows = []
    for fill in fills:
        entry = fill_log(year_dir, fill)
        logs[str(fill)] = entry
        lumi_row = (lumi_rows or {}).get(fill)
        rows.append(_report_row(year, fill, year_dir, entry["status"], entry["reason"], lumi_row))
    for fill in sorted(int(f) for f in excluded):
        logs.setdefault(str(fill), {"status": "skipped", "reason": "excluded by the config"})
    logs = dict(sorted(logs.items(), key=lambda kv: int(kv[0])))
    counts = status_counts(logs.values())
    table = report_table(rows)
    with atomic_path(report_out or year_dir / "report.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    payload = {
        "year": int(year),
        "generated": now(),
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
        link_plots(year_dir / "plots", fills, Path(plots_out))
    failed = [f for f, e in logs.items() if e["status"] == "failed"]
    if failed:
        log.warning("year %s: %d failed fill(s): %s", year, len(failed), ", ".join(failed))
    return table


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
