"""The luminometer family's steps, each leaving its status record (:mod:`pltanomaly.core.steps`)
under ``results/{year}/lumi``:

- ``table``: the year's brilcalc CSVs, read once, split into one per-LS table per fill,
  ``tables/{fill}.parquet`` (a fill whose rows a broken file would have given is ``failed``
  with the file and line; the other fills are not touched);
- ``crosscheck``: a fill's table -> ``{fill}.json`` (results contract) and, for an anomalous
  fill (every fill with ``plots="all"``), ``plots/{fill}.png``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.steps import (
    finish,
    input_ready,
    internal_failure,
    new_record,
    record_path,
    remove_output,
)
from pltanomaly.luminometers.plt_channels import explain_with_channels

log = logging.getLogger(__name__)

TABLE_STEP = "table"
CROSSCHECK_STEP = "crosscheck"


def table_path(lumi_dir: str | os.PathLike[str], fill: int) -> Path:
    return Path(lumi_dir) / "tables" / f"{fill}.parquet"


def split_brilcalc(
    paths: Iterable[str | os.PathLike[str]],
    lumi_dir: str | os.PathLike[str],
    fills: Iterable[int],
    *,
    year: int,
) -> dict[int, dict[str, Any]]:
    """Read the brilcalc ``paths`` once and write each of ``fills``' table and ``table``
    record (a fill absent from every file gets a failed record saying so)."""
    from pltanomaly.luminometers.brilcalc import read_fills

    started = time.perf_counter()
    files = [Path(p) for p in paths]
    read = read_fills(files)
    dropped = [str(error) for error in read.dropped]
    records = {}
    for fill in sorted(int(f) for f in fills):
        record = new_record(TABLE_STEP, fill, year)
        out = table_path(lumi_dir, fill)
        if fill in read.failed:
            remove_output(out)
            record.update(status="failed", reason="; ".join(str(e) for e in read.failed[fill]))
        elif fill not in read.tables:
            remove_output(out)
            record.update(status="failed", reason="no row of this fill in the brilcalc files")
        else:
            table = read.tables[fill]
            _write_table(table, out)
            record["outputs"] = [str(out)]
            record["n_ls"] = len(table)
        record["sources"] = [str(p) for p in files]
        if dropped:
            record["rows_dropped"] = len(dropped)
            record["dropped_examples"] = dropped[:5]
        records[fill] = finish(record, started, record_path(lumi_dir, TABLE_STEP, fill))
    return records


def crosscheck_step(
    lumi_dir: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    settings: Mapping[str, Any] | None = None,
    plots: str = "anomalous",
    settings_hash: str | None = None,
    channel_result: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Cross-check a fill's brilcalc table (the ``table`` step's); publish ``{fill}.json``
    (and its plot when wanted); always write the ``crosscheck`` record. With the PLT channel
    family's ``fills/{fill}.json`` (``channel_result``, when it exists), PLT's events say
    which channels explain them."""
    import pandas as pd

    started = time.perf_counter()
    lumi_dir = Path(lumi_dir)
    record = new_record(CROSSCHECK_STEP, fill, year)
    record["settings_hash"] = settings_hash
    record_out = record_path(lumi_dir, CROSSCHECK_STEP, fill)
    upstream = record_path(lumi_dir, TABLE_STEP, fill)
    table = None
    if input_ready(record, table_path(lumi_dir, fill), upstream, TABLE_STEP):
        table = _load(record, record_out, pd.read_parquet, table_path(lumi_dir, fill))
    _check(table, lumi_dir, record, record_out, settings, plots, channel_result, "brilcalc")
    return finish(record, started, record_out)


def hd5_crosscheck_step(
    lumi_series: str | os.PathLike[str],
    convert_record: str | os.PathLike[str],
    lumi_dir: str | os.PathLike[str],
    record_out: str | os.PathLike[str],
    *,
    fill: int,
    year: int,
    settings: Mapping[str, Any] | None = None,
    plots: str = "anomalous",
    channel_result: str | os.PathLike[str] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """The cross-check of a fill's luminometer series (``fills/{fill}.lumi.parquet``, written
    by the PLT conversion in the same pass over the files), binned per LS into
    ``tables/{fill}.parquet``. A step of the PLT fill job, which passes its ``key``."""
    started = time.perf_counter()
    lumi_dir, record_out = Path(lumi_dir), Path(record_out)
    record = new_record(CROSSCHECK_STEP, fill, year, key)
    table = None
    if input_ready(record, lumi_series, Path(convert_record), "convert"):
        table = _load(record, record_out, _hd5_table, lumi_series, table_path(lumi_dir, fill))
    _check(table, lumi_dir, record, record_out, settings, plots, channel_result, "hd5")
    return finish(record, started, record_out)


def _load(record: dict[str, Any], record_out: Path, load: Any, *args: Any) -> Any:
    """``load(*args)``, or None with the record failed (an internal error: retried)."""
    try:
        return load(*args)
    except MemoryError:
        raise
    except Exception as exc:
        internal_failure(record, exc, record_out)
        return None


def _hd5_table(lumi_series: str | os.PathLike[str], out: Path) -> Any:
    """The per-LS table of a luminometer series, kept in ``out`` for the review app (PLT as
    :func:`plt_from_channels` gives it)."""
    from pltanomaly.luminometers.hd5 import lumi_per_ls, read_lumi_series

    table = plt_from_channels(lumi_per_ls(read_lumi_series(lumi_series)))
    _write_table(table, out)
    return table


def plt_from_channels(table: Any) -> Any:
    """A per-LS table with PLT as ``pltzero``: the files' ``pltlumizero``, or, when they hold
    none, the channels' own zero-counting total. That total has no calibration, so it is
    scaled to the other luminometers' median over the fill: it can show every anomaly but a
    ``scale``, which needs a calibration."""
    from pltanomaly.luminometers.brilcalc import luminometer_columns
    from pltanomaly.luminometers.hd5 import PLT_CHANNELS

    if PLT_CHANNELS not in table.columns:
        return table
    if "pltzero" not in table.columns or table["pltzero"].isna().all():
        others = [n for n in luminometer_columns(table) if n != "pltzero"]
        total = table[PLT_CHANNELS].where(table[PLT_CHANNELS] > 0)
        consensus = table[others].where(table[others] > 0).median(axis=1)
        scale = (consensus / total).median() if others else float("nan")
        table["pltzero"] = table[PLT_CHANNELS] * (scale if scale > 0 else 1.0)
    return table.drop(columns=PLT_CHANNELS)


def _write_table(table: Any, out: Path) -> None:
    """Keep a fill's per-LS table (what its cross-check saw) as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)


def _check(
    table: Any,
    lumi_dir: Path,
    record: dict[str, Any],
    record_out: Path,
    settings: Mapping[str, Any] | None,
    plots: str,
    channel_result: str | os.PathLike[str] | None,
    source: str,
) -> None:
    """Cross-check ``table`` (None: nothing to check, the record says why) from ``source``
    (``brilcalc`` or ``hd5``) and publish ``{fill}.json`` and its plot, or remove stale
    ones."""
    from pltanomaly.luminometers.crosscheck import CrosscheckConfig, crosscheck_fill

    fill, year = record["fill"], record["year"]
    json_out, png_out = lumi_dir / f"{fill}.json", lumi_dir / "plots" / f"{fill}.png"
    result = None
    if table is not None:
        try:
            result = crosscheck_fill(table, fill, year, CrosscheckConfig(**(settings or {})))
            result["source"] = source
            explain_with_channels(result, _read_json(channel_result))
        except MemoryError:
            raise
        except Exception as exc:
            result = None
            internal_failure(record, exc, record_out)
    if result is not None and (plots == "all" or result["anomalous"]):
        record["plot"] = _plot(table, result, png_out)
    if result is None:
        remove_output(json_out)
    else:
        write_json_atomic(json_out, result)
        record["outputs"] = [str(json_out)]
        record["row"] = report_row(result)
    if record.get("plot") != str(png_out):
        remove_output(png_out)
    if record["status"] != "ok":
        log.warning("fill %s: luminometers %s: %s", fill, record["status"], record["reason"])


def _read_json(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """A JSON file's content, or None when there is none."""
    if path is None or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text())


def _plot(table: Any, result: Mapping[str, Any], png_out: Path) -> str:
    """Draw the fill's luminometer plot; a failure is the plot's, never the result's."""
    from pltanomaly.luminometers.plot import plot_fill

    try:
        plot_fill(table, result, png_out)
    except MemoryError:
        raise
    except Exception as exc:
        log.exception("fill %s: luminometer plot failed", result.get("fill"))
        return f"failed: {type(exc).__name__}: {exc}"
    return str(png_out)


def report_row(result: Mapping[str, Any]) -> dict[str, Any]:
    """The luminometer columns of a fill's row in the report tables (the luminometers from
    :func:`~pltanomaly.luminometers.crosscheck.report_fields`)."""
    from pltanomaly.luminometers.crosscheck import report_fields

    entries = result.get("luminometers") or {}
    names = report_fields(dict(result))
    return {
        "start": result.get("start"),
        "end": result.get("end"),
        "n_ls": result.get("n_ls"),
        "luminometers": names["lumi_compared"],
        "anomalous_luminometers": names["lumi_anomalous"],
        "undecided_luminometers": names["lumi_undecided"],
        "n_lumi_events": sum(len(e.get("events") or []) for e in entries.values()),
        "max_lumi_score": max((e.get("score") or 0.0 for e in entries.values()), default=None),
    }
