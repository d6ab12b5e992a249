"""The luminometer year's aggregation: the fills' status records -> ``lumi/report.parquet``
(one row per fill: the luminometers compared, those anomalous or undecided, events, score,
status, reason), ``lumi/logs.json``, the year's offsets plot ``lumi/offsets.png`` and the
fills off against the year (``lumi/year-scale.json``: :mod:`~.year_scale`, and the events of
the fills judged again with the year's usual measures, :mod:`~.year_normals`), which the
report rows count."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.report import status_counts
from pltanomaly.core.steps import now, read_record, record_path
from pltanomaly.luminometers.crosscheck import CrosscheckConfig
from pltanomaly.luminometers.plt_channels import PLT, explain_year_events
from pltanomaly.luminometers.results import YEAR_SCALE_FILE, kept_table
from pltanomaly.luminometers.steps import CROSSCHECK_STEP, TABLE_STEP, report_row, table_path
from pltanomaly.luminometers.year_normals import rejudged_events
from pltanomaly.luminometers.year_scale import add_events, year_scale_events

log = logging.getLogger(__name__)

LIST_COLUMNS = ("luminometers", "anomalous_luminometers", "undecided_luminometers")


def fill_log(lumi_dir: Path, fill: int) -> dict[str, Any]:
    """The ``lumi/logs.json`` entry of a fill, from its records."""
    table = read_record(record_path(lumi_dir, TABLE_STEP, fill))
    check = read_record(record_path(lumi_dir, CROSSCHECK_STEP, fill))
    if check is not None:
        entry = {"status": check["status"], "reason": check.get("reason")}
        if check.get("failed_step"):
            entry["failed_step"] = check["failed_step"]
        if str(check.get("plot", "")).startswith("failed"):
            entry["warnings"] = [f"plot {check['plot']}"]
    elif table is not None and table.get("status") != "ok":
        entry = {"status": "failed", "reason": table.get("reason"), "failed_step": "table"}
    else:
        entry = {"status": "failed", "reason": "not processed (no status record)"}
    records = {"table": table, "crosscheck": check}
    entry["timings"] = {k: r.get("seconds") for k, r in records.items() if r is not None}
    entry["versions"] = {k: r.get("version") for k, r in records.items() if r is not None}
    if table is not None:
        entry["sources"] = table.get("sources", [])
        entry["n_ls"] = table.get("n_ls")
    return entry


def report_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """``lumi/report.parquet`` as an Arrow table with a fixed schema."""
    import pyarrow as pa

    fields = [
        ("fill", pa.int64()),
        ("year", pa.int64()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("n_ls", pa.int64()),
        *((name, pa.list_(pa.string())) for name in LIST_COLUMNS),
        ("n_lumi_events", pa.int64()),
        ("max_lumi_score", pa.float64()),
        ("status", pa.string()),
        ("reason", pa.string()),
    ]
    schema = pa.schema(fields)
    return pa.table({n: [r.get(n) for r in rows] for n in schema.names}, schema=schema)


def aggregate_lumi(
    year: int,
    fills: Iterable[int],
    lumi_dir: str | os.PathLike[str],
    *,
    meta: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    channels_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """Write ``report.parquet``, ``logs.json``, ``offsets.png`` and ``year-scale.json`` of a
    year's ``lumi`` folder (the fills judged again with the year's usual measures of normal
    use the cross-check ``settings`` of the year; PLT's events against the year say which
    channels explain them from the fill's per-channel result, ``{channels_dir}/{fill}.json``,
    when the year has one); returns the report as an Arrow table."""
    import pyarrow.parquet as pq

    lumi_dir = Path(lumi_dir)
    fills = sorted(int(f) for f in fills)
    logs: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    results: dict[int, dict[str, Any]] = {}
    for fill in fills:
        entry = fill_log(lumi_dir, fill)
        logs[str(fill)] = entry
        check = read_record(record_path(lumi_dir, CROSSCHECK_STEP, fill)) or {}
        row: dict[str, Any] = {"fill": fill, "year": year, "n_lumi_events": 0}
        row.update({name: [] for name in LIST_COLUMNS})
        row.update(check.get("row") or {})
        row.update(status=entry["status"], reason=entry["reason"])
        rows.append(row)
        result_path = lumi_dir / f"{fill}.json"
        if entry["status"] == "ok" and result_path.is_file():
            results[fill] = json.loads(result_path.read_text())
    config = CrosscheckConfig(**(settings or {}))
    year_scale = year_scale_events(results, config=config)
    rejudged = rejudged_events(results, lambda fill: kept_table(table_path(lumi_dir, fill)), config)
    for row in rows:
        named, again = year_scale.get(row["fill"]), rejudged.get(row["fill"])
        if channels_dir is not None and PLT in {*(named or {}), *(again or {})}:
            channel_result = read_record(Path(channels_dir) / f"{row['fill']}.json")
            for found in (named, again):
                explain_year_events(found or {}, channel_result)
        if named or again:
            result = add_events(add_events(results[row["fill"]], named or {}), again or {})
            row.update(report_row(result))
        if named:
            logs[str(row["fill"])]["year_scale"] = named
        if again:
            logs[str(row["fill"])]["rejudged"] = again
    write_json_atomic(
        lumi_dir / YEAR_SCALE_FILE,
        {
            "year": int(year),
            "fills": {str(f): named for f, named in sorted(year_scale.items())},
            "rejudged": {str(f): again for f, again in sorted(rejudged.items())},
        },
    )
    table = report_table(rows)
    with atomic_path(lumi_dir / "report.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    counts = status_counts(logs.values())
    write_json_atomic(
        lumi_dir / "logs.json",
        {
            "year": int(year),
            "generated": now(),
            "version": __version__,
            "counts": counts,
            "n_anomalous": sum(1 for r in rows if r["anomalous_luminometers"]),
            **dict(meta or {}),
            "fills": logs,
        },
    )
    from pltanomaly.luminometers.plot import plot_offsets

    plot_offsets(list(results.values()), lumi_dir / "offsets.png")
    failed = [f for f, e in logs.items() if e["status"] == "failed"]
    if failed:
        log.warning("year %s: luminometer check failed for fill(s) %s", year, ", ".join(failed))
    return table
