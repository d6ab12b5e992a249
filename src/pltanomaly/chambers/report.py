"""The DT runs' aggregation: ``results/dt/report.parquet`` and ``results/dt/logs.json``.

``report.parquet`` has one row per run: ``run``, ``status`` (``finished``, ``partial``: some
chambers not fetched, ``unknown_run``: the DQM GUI has no such run, ``error``), the chambers
``n_judged``, ``n_bad``, ``n_not_judged`` and ``n_missing`` (not fetched), ``n_bad_layers``,
``bad_chambers`` (keys, comma separated), ``codes`` (how many chambers have each production
code, ``"0:240 2:3"``), ``entries``, ``max_score`` (of the judged layers) and ``reason``.
``logs.json`` has per run its status, reason, each step's status, seconds and version, and the
fetch's failures per chamber.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.chambers.job import run_paths
from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.report import link_plots, status_counts, write_html_page
from pltanomaly.core.steps import now, read_record

COLUMNS = (
    "run",
    "status",
    "n_judged",
    "n_bad",
    "n_not_judged",
    "n_missing",
    "n_bad_layers",
    "bad_chambers",
    "codes",
    "entries",
    "max_score",
    "reason",
)


def run_status(
    result: Mapping[str, Any] | None, fetched: Mapping[str, Any] | None
) -> tuple[str, str | None]:
    """A run's status and reason from its result and its fetch's record."""
    fetch_status = (fetched or {}).get("status")
    if result is None:
        return "error", "no result (the run's jobs did not finish)"
    if fetch_status == "unknown_run":
        return "unknown_run", result.get("reason")
    if result.get("status") == "error":
        return "error", result.get("reason")
    if "partial" in (fetch_status, result.get("status")):
        return "partial", result.get("reason") or (fetched or {}).get("reason")
    return "finished", None


def run_row(
    run: int, result: Mapping[str, Any] | None, fetched: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The run's row of ``report.parquet``."""
    status, reason = run_status(result, fetched)
    chambers = (result or {}).get("chambers") or {}
    states = Counter(
        "missing" if c.get("missing") else c.get("status", "missing") for c in chambers.values()
    )
    flagged = [
        layer
        for c in chambers.values()
        for layer in (c.get("layers") or {}).values()
        if layer.get("status") in ("bad", "dead")
    ]
    scores = [
        float(layer.get("score", 0.0))
        for c in chambers.values()
        if c.get("status") in ("good", "bad")
        for layer in (c.get("layers") or {}).values()
    ]
    codes = Counter(c["code"] for c in chambers.values() if c.get("code") is not None)
    return {
        "run": int(run),
        "status": status,
        "n_judged": states["good"] + states["bad"],
        "n_bad": states["bad"],
        "n_not_judged": states["not_judged"],
        "n_missing": states["missing"] if chambers else 0,
        "n_bad_layers": len(flagged),
        "bad_chambers": ",".join(sorted(k for k, c in chambers.items() if c["status"] == "bad")),
        "codes": " ".join(f"{code}:{n}" for code, n in sorted(codes.items())),
        "entries": int((result or {}).get("entries") or 0),
        "max_score": max(scores) if scores else None,
        "reason": reason,
    }


def _step_log(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    keys = ("status", "reason", "seconds", "version", "host", "started", "internal")
    return {k: record[k] for k in keys if k in record}


def run_log(
    row: Mapping[str, Any],
    fetched: Mapping[str, Any] | None,
    detected: Mapping[str, Any] | None,
    plotted: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The run's entry in ``logs.json``."""
    fetch = None
    if fetched is not None:
        fetch = {
            k: fetched.get(k)
            for k in (
                "status",
                "reason",
                "fetched_at",
                "seconds",
                "chambers_fetched",
                "chambers_missing",
                "failures",
                "version",
            )
        }
    steps = {"fetch": fetch, "detect": _step_log(detected), "plot": _step_log(plotted)}
    return {
        "status": row["status"],
        "reason": row["reason"],
        "steps": steps,
        "seconds": {name: (step or {}).get("seconds") for name, step in steps.items()},
        "versions": {name: (step or {}).get("version") for name, step in steps.items()},
        "chamber_plots": (plotted or {}).get("chamber_plots", []),
    }


def aggregate_runs(
    runs: Iterable[int],
    dt_dir: str | os.PathLike[str],
    *,
    report_out: str | os.PathLike[str],
    logs_out: str | os.PathLike[str],
    table_out: str | os.PathLike[str] | None = None,
    plots_out: str | os.PathLike[str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Write ``report.parquet`` and ``logs.json`` of ``runs`` (and, if asked, the report
    table and the plots folder of the Snakemake report); return the report frame."""
    import pandas as pd

    rows, logs = [], {}
    for run in sorted(runs):
        paths = run_paths(dt_dir, run)
        fetched = read_record(paths["fetch"])
        result = read_record(paths["result"])
        row = run_row(run, result, fetched)
        rows.append(row)
        logs[str(run)] = run_log(
            row, fetched, read_record(paths["detect"]), read_record(paths["plot"])
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype(
        {
            "run": "int64",
            "n_judged": "int64",
            "n_bad": "int64",
            "n_not_judged": "int64",
            "n_missing": "int64",
            "n_bad_layers": "int64",
            "entries": "int64",
            "max_score": "float64",
        }
    )
    with atomic_path(report_out) as tmp:
        frame.to_parquet(tmp, index=False)
    counts = status_counts(logs.values())
    write_json_atomic(
        logs_out,
        {
            "generated": now(),
            "version": __version__,
            **dict(meta or {}),
            "counts": counts,
            "runs": logs,
        },
    )
    if table_out is not None:
        write_html_page(frame, table_out, title="DT chambers: runs", counts=counts)
    if plots_out is not None:
        link_plots(Path(dt_dir) / "plots", frame["run"].tolist(), Path(plots_out))
    return frame
