"""The other luminometers' tables in the BRIL HDF5 files, and their per-LS table.

Each ``.hd5`` of a fill may hold one table per luminometer (``pltlumizero``, ``hfoclumi``,
``hfetlumi``, ``bcm1flumi``, ``bcm1fsilumi``, ``bcm1futcalumi``, ``dtlumi``, ``remuslumi``; see
``shared/docs/luminometers.md``), one row per NB4 (or per LS). :func:`read_lumi_tables` reads,
from a file the caller already opened (the conversion opens each file once for every table),
only the columns needed: run, LS, NB, time, ``avg`` and ``avgraw`` (h5py compound field
selection: the 3564-wide per-bunch arrays are never copied out; HDF5 still decompresses the
chunks that hold them). A table that is absent is skipped; one that is there but unreadable
(not a table, missing columns, wrong dtype, truncated) raises
:class:`~pltanomaly.core.bril.BrilFileError` naming the file and the table.

The conversion writes the rows of a fill as the **luminometer series**
(``fills/{fill}.lumi.parquet``, one row per NB4 and luminometer, :data:`LUMI_SERIES_TYPES`);
:func:`lumi_per_ls` bins it to lumisections, the per-LS table shape of the brilcalc reader.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from pltanomaly.core.bril import BrilFileError
from pltanomaly.luminometers.names import HD5_TABLES as LUMI_TABLES

PLT_CHANNELS = "pltzero_channels"
"""The PLT total from the channels' zero counting (the fill series), as a luminometer of the
luminometer series: per NB4, the summed ``rate`` of the live channels (sum over colliding
bunches of mu; not Hz/ub: only its ratios to the others mean something)."""
ORDER: tuple[str, ...] = (*LUMI_TABLES.values(), PLT_CHANNELS)
HEADER_COLUMNS = ("runnum", "lsnum", "nbnum", "timestampsec", "timestampmsec")
VALUE_COLUMNS = ("avg", "avgraw")
NB4_PER_LS = 16
"""LS = 2^18 orbits = 16 NB4 of 2^14 orbits."""
METADATA_KEY = b"pltanomaly"

LUMI_SERIES_TYPES: dict[str, str] = {
    "timestamp": "float64",
    "run": "uint32",
    "ls": "uint32",
    "nb": "uint32",
    "luminometer": "string",
    "avg": "float32",
    "avgraw": "float32",
    "stable": "bool",
}
"""The luminometer series' columns (``avg`` NaN where a table has none, as ``dtlumi``;
``stable``: ``/beam`` says STABLE BEAMS in that LS, True where no ``/beam`` status is known)."""
STABLE = "STABLE BEAMS"
BEAM_TABLE = "beam"


@dataclass(frozen=True)
class BeamStatus:
    """Per row of a file's ``/beam`` table: run, LS and whether the beam mode is STABLE BEAMS."""

    run: np.ndarray
    ls: np.ndarray
    stable: np.ndarray


def read_beam_status(handle: h5py.File, path: str | os.PathLike[str]) -> BeamStatus | None:
    """The beam mode per ``/beam`` row of an open file (only ``runnum, lsnum, status`` are
    read), or None when the file has no ``/beam`` with a text ``status`` column (as the
    generated files): the beam mode is then unknown, not an error."""
    if BEAM_TABLE not in handle or not isinstance(handle[BEAM_TABLE], h5py.Dataset):
        return None
    table = handle[BEAM_TABLE]
    fields = table.dtype.fields or {}
    if not {"runnum", "lsnum", "status"} <= set(fields) or fields["status"][0].kind not in "SU":
        return None
    try:
        records = table.fields(["runnum", "lsnum", "status"])[:]
    except (OSError, ValueError, RuntimeError) as exc:
        raise BrilFileError(path, f"cannot read /{BEAM_TABLE} status ({exc})") from exc
    status = np.char.upper(np.char.strip(np.asarray(records["status"]).astype(str)))
    return BeamStatus(
        run=np.asarray(records["runnum"], dtype=np.int64),
        ls=np.asarray(records["lsnum"], dtype=np.int64),
        stable=status == STABLE,
    )


def with_stable(frame: pd.DataFrame, beam: Iterable[BeamStatus]) -> tuple[pd.DataFrame, str]:
    """``frame`` with its ``stable`` column from the files' ``/beam`` status (an LS is stable
    when any of its rows says STABLE BEAMS; an LS without a row, or a fill without any
    status, counts as stable), and where it came from: ``beam`` or ``unknown``."""
    beam = [part for part in beam if len(part.run)]
    frame = frame.copy()
    if not beam:
        frame["stable"] = True
        return frame, "unknown"
    status = pd.DataFrame(
        {
            "run": np.concatenate([b.run for b in beam]),
            "ls": np.concatenate([b.ls for b in beam]),
            "stable": np.concatenate([b.stable for b in beam]),
        }
    )
    per_ls = status.groupby(["run", "ls"])["stable"].any()
    index = pd.MultiIndex.from_arrays([frame["run"].astype(np.int64), frame["ls"].astype(np.int64)])
    frame["stable"] = per_ls.reindex(index).fillna(True).to_numpy(dtype=bool)
    return frame, "beam"


@dataclass(frozen=True)
class LumiRows:
    """The rows of one luminometer table of one file (NaN ``avg``/``avgraw`` where the table
    lacks that column)."""

    luminometer: str
    table: str
    run: np.ndarray
    ls: np.ndarray
    nb: np.ndarray
    timestamp: np.ndarray
    avg: np.ndarray
    avgraw: np.ndarray

    def __len__(self) -> int:
        return int(self.run.shape[0])


def _check_table(handle: h5py.File, path: Path, name: str) -> tuple[h5py.Dataset, list[str]]:
    """The dataset and the value columns it has; :class:`BrilFileError` when unusable."""
    table = handle[name]
    if not isinstance(table, h5py.Dataset):
        raise BrilFileError(path, f"/{name} is a {type(table).__name__}, not a table")
    fields = table.dtype.fields
    if fields is None:
        raise BrilFileError(path, f"/{name} is not a compound table (dtype {table.dtype})")
    if table.ndim != 1:
        raise BrilFileError(path, f"/{name} has {table.ndim} dimensions, expected 1")
    missing = [column for column in HEADER_COLUMNS if column not in fields]
    if missing:
        raise BrilFileError(path, f"/{name} lacks columns {', '.join(missing)}")
    for column in HEADER_COLUMNS:
        kind = fields[column][0]
        if kind.kind not in "ui" or kind.shape != ():
            raise BrilFileError(
                path, f"/{name} column {column} has dtype {kind}, expected integers"
            )
    values = [column for column in VALUE_COLUMNS if column in fields]
    if not values:
        raise BrilFileError(path, f"/{name} has neither avg nor avgraw")
    for column in values:
        kind = fields[column][0]
        if kind.kind not in "uif" or kind.shape != ():
            raise BrilFileError(
                path, f"/{name} column {column} has dtype {kind}, expected a number per row"
            )
    return table, values


def read_lumi_table(handle: h5py.File, path: str | os.PathLike[str], name: str) -> LumiRows:
    """One luminometer table ``name`` of an open file: only its needed columns."""
    path = Path(path)
    table, values = _check_table(handle, path, name)
    columns = [*HEADER_COLUMNS, *values]
    try:
        records = table.fields(columns)[:] if table.shape[0] else np.zeros(0, table.dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise BrilFileError(path, f"cannot read /{name} ({exc})") from exc
    n = len(records)

    def value(column: str) -> np.ndarray:
        if column in values:
            return np.asarray(records[column], dtype=np.float32)
        return np.full(n, np.nan, dtype=np.float32)

    return LumiRows(
        luminometer=LUMI_TABLES.get(name, name),
        table=name,
        run=np.asarray(records["runnum"], dtype=np.uint32),
        ls=np.asarray(records["lsnum"], dtype=np.uint32),
        nb=np.asarray(records["nbnum"], dtype=np.uint32),
        timestamp=records["timestampsec"].astype(np.float64)
        + records["timestampmsec"].astype(np.float64) / 1000.0,
        avg=value("avg"),
        avgraw=value("avgraw"),
    )


def read_lumi_tables(
    handle: h5py.File, path: str | os.PathLike[str], tables: Iterable[str] = LUMI_TABLES
) -> dict[str, LumiRows]:
    """Every luminometer table of an open file that is present, keyed by luminometer
    (absent tables are skipped; a bad one raises :class:`BrilFileError`)."""
    return {
        LUMI_TABLES.get(name, name): read_lumi_table(handle, path, name)
        for name in tables
        if name in handle
    }


def lumi_frame(parts: Iterable[LumiRows]) -> pd.DataFrame:
    """The luminometer series of a fill from its tables' rows (of every file): rows with a
    zero timestamp dropped, a repeated (luminometer, run, LS, NB) kept once (the first),
    sorted by (timestamp, luminometer)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_lumi_frame()
    frame = pd.DataFrame(
        {
            "timestamp": np.concatenate([p.timestamp for p in parts]),
            "run": np.concatenate([p.run for p in parts]),
            "ls": np.concatenate([p.ls for p in parts]),
            "nb": np.concatenate([p.nb for p in parts]),
            "luminometer": np.concatenate(
                [np.full(len(p), p.luminometer, dtype=object) for p in parts]
            ),
            "avg": np.concatenate([p.avg for p in parts]),
            "avgraw": np.concatenate([p.avgraw for p in parts]),
            "stable": True,
        }
    )
    frame = frame[frame["timestamp"] > 0]
    frame = frame.drop_duplicates(["luminometer", "run", "ls", "nb"], keep="first")
    return _sorted(frame)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    rank = {name: i for i, name in enumerate(ORDER)}
    key = frame["luminometer"].astype(object).map(rank).fillna(len(rank)).to_numpy()
    order = np.lexsort((key, frame["timestamp"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    return frame.astype(LUMI_SERIES_TYPES)


def empty_lumi_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LUMI_SERIES_TYPES.items()})


def channel_total(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The PLT total per NB4 from the fill series' columns (``timestamp, run, ls, nb,
    channel, rate``), as luminometer :data:`PLT_CHANNELS`.

    Live channels are those whose median rate is at least 5 % of the largest channel's
    (dead channels read ~0). Each live channel has a share, its median rate over the total
    of the live ones' medians; an NB4 where a live channel is missing is scaled up by the
    shares present (``sum of rates / sum of shares``), so a missing row is no dip.
    """
    channel = np.asarray(columns["channel"], dtype=np.int64)
    rate = np.asarray(columns["rate"], dtype=np.float64)
    if not len(rate):
        return empty_lumi_frame()
    n = int(channel.max()) + 1
    median = np.zeros(n)
    for c in np.unique(channel):
        median[c] = np.median(rate[channel == c])
    live = median >= 0.05 * median.max() if median.max() > 0 else np.zeros(n, dtype=bool)
    if not live.any():
        return empty_lumi_frame()
    share = np.where(live, median, 0.0) / median[live].sum()
    rows = live[channel]
    run = np.asarray(columns["run"], dtype=np.int64)[rows]
    ls = np.asarray(columns["ls"], dtype=np.int64)[rows]
    nb = np.asarray(columns["nb"], dtype=np.int64)[rows]
    key = (run << 32) | (ls << 8) | nb
    unique, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    total = np.bincount(inverse, weights=rate[rows]) / np.bincount(
        inverse, weights=share[channel[rows]]
    )
    timestamp = np.full(len(unique), np.inf)
    np.minimum.at(timestamp, inverse, np.asarray(columns["timestamp"], dtype=np.float64)[rows])
    frame = pd.DataFrame(
        {
            "timestamp": timestamp,
            "run": (unique >> 32).astype(np.uint32),
            "ls": ((unique >> 8) & 0xFFFFFF).astype(np.uint32),
            "nb": (unique & 0xFF).astype(np.uint32),
            "luminometer": PLT_CHANNELS,
            "avg": total.astype(np.float32),
            "avgraw": total.astype(np.float32),
            "stable": True,
        }
    )
    return frame


def write_lumi_series(
    frame: pd.DataFrame, out_path: str | os.PathLike[str], metadata: Mapping[str, Any]
) -> None:
    """Write the luminometer series (zstd Parquet, atomically) with ``metadata`` as JSON
    under the schema key ``pltanomaly``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pltanomaly.core.atomic import atomic_path

    frame = _sorted(frame) if len(frame) else empty_lumi_frame()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(dict(metadata)).encode()})
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_lumi_series(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A luminometer series Parquet file as written by the conversion."""
    return pd.read_parquet(path)


def lumi_per_ls(series: pd.DataFrame, *, luminometers: Iterable[str] | None = None) -> pd.DataFrame:
    """Bin the luminometer series (one row per NB4 and luminometer) to lumisections.

    Each luminometer's value is its ``avg`` (``avgraw`` when the table has no ``avg``, as
    ``dtlumi``), averaged over the rows of a (run, LS) (16 NB4, or one row for a luminometer
    that publishes per LS). Returns the brilcalc reader's per-fill table shape: columns
    ``run, ls, time, stable`` and one column per luminometer (named as the validation log
    does, in canonical order, :data:`PLT_CHANNELS` last; NaN where a luminometer has no row
    in that LS), one row per (run, LS), sorted. ``time`` is the earliest timestamp of the LS;
    ``stable`` is the series' ``stable`` (from ``/beam``; True when it is unknown).
    """
    frame = series
    if luminometers is not None:
        frame = frame[frame["luminometer"].isin(list(luminometers))]
    if frame.empty:
        return pd.DataFrame(
            {
                "run": pd.Series(dtype="int64"),
                "ls": pd.Series(dtype="int64"),
                "time": pd.Series(dtype="float64"),
                "stable": pd.Series(dtype="bool"),
            }
        )
    value = frame["avg"].astype(np.float64)
    has_avg = value.notna().groupby(frame["luminometer"]).transform("any")
    value = value.where(has_avg, frame["avgraw"].astype(np.float64))
    long = pd.DataFrame(
        {
            "run": frame["run"].astype(np.int64).to_numpy(),
            "ls": frame["ls"].astype(np.int64).to_numpy(),
            "time": frame["timestamp"].to_numpy(),
            "luminometer": frame["luminometer"].astype(str).to_numpy(),
            "value": value.to_numpy(),
            "stable": frame["stable"].to_numpy(bool) if "stable" in frame else True,
        }
    )
    keys = long.groupby(["run", "ls"], sort=True).agg(
        time=("time", "min"), stable=("stable", "any")
    )
    wide = long.pivot_table(
        index=["run", "ls"], columns="luminometer", values="value", aggfunc="mean", dropna=False
    )
    order = [name for name in ORDER if name in wide.columns]
    order += sorted(set(wide.columns) - set(order))
    table = keys.join(wide[order]).reset_index()
    table.columns.name = None
    return table.astype({"run": "int64", "ls": "int64", "time": "float64", "stable": "bool"})
