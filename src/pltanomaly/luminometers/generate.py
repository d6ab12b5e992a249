"""Luminometer tables for synthetic fills, with injected anomalies and their truth.

:func:`add_luminometers` takes a year folder written by
:func:`pltanomaly.channels.generate.generate_year` and appends to every ``.hd5`` of its fills
the tables of a random subset of the luminometers (``hfoclumi``, ``dtlumi``, ...; the layout
of ``shared/docs/luminometers.md``, blosc-compressed like the generator's tables).

The true luminosity of a fill is read from its own PLT data (converted once, into a temporary
file): per NB4, the median over the live channels of each channel's rate relative to its fill
median, so a single channel's anomaly does not leak into it; beam behaviour (emittance scans,
levelling, dump, gaps) is in it, so every luminometer follows. Each luminometer present then
reads ``L(t) * n_colliding`` in Hz/ub times its own response, drawn at random per fill over a
wide range (``shared/docs/luminometers.md``, "What is normal"):

- an offset (its calibration): the data set's (:func:`data_set_calibration`, drawn once per
  seed and year: ``|offset|`` log-uniform in 0.05-3.5 %, random sign, so a pair's ratio sits
  0.1-7 % from 1) times a per-fill jitter of the data set's spread (log-uniform 0.05-1 %).
  Real luminometers keep their offsets from fill to fill: in the 2015 and 2017 sets of
  ``shared/real-data/lumi`` a luminometer's fill offset moves by a median 0.04-0.46 % from
  one fill to the next;
- a linearity slope: ``|slope|`` log-uniform in 0.025-0.15 % per Hz/ub of SBIL, random sign
  (a pair's ratio follows the luminosity by up to 0.3 % per Hz/ub), around the middle SBIL;
- per-LS noise of 0.01-1 % (log-uniform), growing as ``1/sqrt(L)`` at low luminosity (up to
  x10); ``dtlumi`` publishes one row per LS with ``avgraw`` only, the others per NB4.

``pltlumizero`` is one of them (present in most fills). Anomalies (dip, spike, step, drift,
wave, scale, noise) are injected into any luminometer, PLT included, as a factor ``f(t)`` on
its values. A **PLT common-mode fault** (an event on ``pltzero``: every PLT channel moving
together while the beam and the other luminometers stay) goes into PLT itself: ``pltlumizero``
(when present) is multiplied by ``f(t)``, and so is every PLT channel's rate in the files'
per-channel zero counting (``/pltaggzero``): per row, ``zeros' = orbits * (zeros / orbits) **
f(t)`` (``mu`` of every bunch times ``f``; ``hits' = orbits - zeros'`` in hits mode), rounded
and clipped to ``[0, orbits]``. So the total of the PLT channels (``pltzero_channels`` of the
luminometer series, PLT when ``pltlumizero`` is absent) moves by ``f(t)`` too, while the ratios
between channels do not (the channel detector does not see a common-mode fault). Rows with a
count outside ``[0, orbits]`` (garbage the conversion drops) are left alone, and a row whose
counts repeat an earlier row of its channel (stuck data, duplicated rows) gets that row's
factor, so it stays a repeat.

The truth goes into ``truth.json`` under ``fills[fill]["luminometers"]`` (see
:func:`add_luminometers`). Deterministic for a seed; running it again replaces the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pandas as pd

from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.bril import (
    BEAM_TABLE,
    HEADER_FIELDS,
    LS_SECONDS,
    N_BX,
    PLT_TABLE,
)
from pltanomaly.luminometers.hd5 import LUMI_TABLES

log = logging.getLogger(__name__)

TABLES: dict[str, str] = {luminometer: table for table, luminometer in LUMI_TABLES.items()}
"""Luminometer -> its table in the files."""
PER_LS = frozenset({"dt"})
"""Luminometers that publish one row per LS (and ``avgraw`` only)."""
PRESENT_PROBABILITY: dict[str, float] = {
    "pltzero": 0.9,
    "hfoc": 0.85,
    "hfet": 0.7,
    "bcm1f": 0.6,
    "bcm1fsi": 0.3,
    "bcm1futca": 0.5,
    "dt": 0.6,
    "ramses": 0.5,
}
ANOMALY_TYPES = ("dip", "spike", "step", "drift", "wave", "scale", "noise")
PLT_FAULT = "plt_channels"
"""How a PLT common-mode fault is injected: ``pltlumizero`` and every PLT channel's rate (the
zero counting of ``/pltaggzero``) multiplied by ``f(t)``; the other luminometers untouched."""
WRITE_ROWS = 1000
SCALE_ROWS = 2000
"""Rows of ``/pltaggzero`` read, scaled and written back at a time."""


def lumi_record_dtype(per_bunch: bool = True) -> np.dtype:
    """The row layout of a luminometer table (``shared/docs/luminometers.md``): header
    columns, ``calibtag``, ``avgraw``, ``avg``, the per-bunch ``bxraw``/``bx`` (not for
    ``dtlumi``, which also has no ``avg``), ``maskhigh``, ``masklow``."""
    fields: list[tuple] = [*HEADER_FIELDS, ("calibtag", "S32"), ("avgraw", "<f4")]
    if per_bunch:
        fields += [("avg", "<f4"), ("bxraw", "<f4", (N_BX,)), ("bx", "<f4", (N_BX,))]
    fields += [("maskhigh", "<u4"), ("masklow", "<u4")]
    return np.dtype(fields)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _signed(rng: np.random.Generator, low: float, high: float) -> float:
    return _log_uniform(rng, low, high) * (1.0 if rng.random() < 0.5 else -1.0)


def true_luminosity(series: pd.DataFrame) -> pd.DataFrame:
    """Per NB4 of a fill series: ``run, ls, nb, timestamp`` and ``lumi``, the median over the
    live channels of each channel's rate over its fill median (so ~1 in the bulk of the fill)."""
    median = series.groupby("channel")["rate"].median()
    live = median[median >= 0.05 * median.max()]
    rows = series[series["channel"].isin(live.index)]
    relative = rows["rate"].to_numpy() / live.reindex(rows["channel"]).to_numpy()
    frame = rows[["run", "ls", "nb", "timestamp"]].assign(lumi=relative)
    per_nb4 = frame.groupby(["run", "ls", "nb"], sort=False).agg(
        timestamp=("timestamp", "min"), lumi=("lumi", "median")
    )
    return per_nb4.reset_index().sort_values("timestamp", ignore_index=True)


def data_set_calibration(seed: int, year: int) -> dict[str, Any]:
    """The calibration of a data set ``(seed, year)``: each luminometer's offset, and the
    spread of its fill-to-fill jitter (one for the data set)."""
    rng = np.random.default_rng([seed, year, 0x43414C49])
    return {
        "offsets": {name: _signed(rng, 5e-4, 0.035) for name in TABLES},
        "jitter": _log_uniform(rng, 5e-4, 0.01),
    }


def draw_normal(
    rng: np.random.Generator, luminometer: str, calibration: dict[str, Any]
) -> dict[str, Any]:
    """One luminometer's normal response in one fill (drawn wide), around the data set's
    ``calibration`` (:func:`data_set_calibration`)."""
    offset = (1.0 + calibration["offsets"][luminometer]) * (
        1.0 + calibration["jitter"] * rng.standard_normal()
    ) - 1.0
    return {
        "offset": round(offset, 6),
        "slope_per_sbil": round(_signed(rng, 2.5e-4, 1.5e-3), 7),
        "noise_ls": round(_log_uniform(rng, 1e-4, 1e-2), 6),
        "rows": "ls" if luminometer in PER_LS else "nb4",
    }


def _window(
    rng: np.random.Generator, kind: str, start: float, end: float
) -> tuple[float, float, float]:
    """(start, end, magnitude) of an anomaly of ``kind`` inside ``[start, end]`` (the fill's
    middle part); magnitudes are relative changes of the luminometer against the others."""
    length = end - start
    first = float(rng.uniform(start, start + 0.7 * length))
    span: float
    if kind == "dip":
        span = LS_SECONDS * float(rng.integers(1, 31))
        magnitude = -_log_uniform(rng, 0.02, 0.3)
    elif kind == "spike":
        span = LS_SECONDS * float(rng.integers(1, 6))
        magnitude = _log_uniform(rng, 0.03, 0.5)
    elif kind == "step":
        span = end - first  # it persists
        magnitude = _signed(rng, 0.01, 0.15)
    elif kind == "drift":
        span = end - first
        magnitude = _signed(rng, 0.01, 0.1)  # the change reached at the end
    elif kind == "wave":
        span = float(rng.uniform(0.2, 0.6)) * length
        magnitude = _log_uniform(rng, 0.01, 0.05)  # amplitude
    elif kind == "scale":
        first, span = start, length
        magnitude = _signed(rng, 0.05, 0.25)
    else:  # noise: extra per-LS scatter
        span = float(rng.uniform(0.15, 0.4)) * length
        magnitude = _log_uniform(rng, 0.01, 0.05)
    return float(first), float(min(first + span, end)), float(magnitude)


def anomaly_factor(event: dict[str, Any], timestamp: np.ndarray) -> np.ndarray:
    """The factor ``f(t)`` an event multiplies its luminometer by (1 outside the event).
    Excess noise is one draw per LS from the event's ``noise_seed``, the same for every
    luminometer it applies to (a PLT fault moves ``pltlumizero`` and every PLT channel
    together)."""
    t0, t1, m = event["start"], event["end"], event["magnitude"]
    inside = (timestamp >= t0) & (timestamp <= t1)
    factor = np.ones(len(timestamp))
    kind = event["type"]
    if kind in ("dip", "spike", "step", "scale"):
        factor[inside] = 1.0 + m
    elif kind == "drift":
        factor[inside] = 1.0 + m * (timestamp[inside] - t0) / max(t1 - t0, 1.0)
    elif kind == "wave":
        factor[inside] = 1.0 + m * np.sin(2 * np.pi * (timestamp[inside] - t0) / event["period"])
    else:  # noise: m per LS
        n_ls = int((t1 - t0) // LS_SECONDS) + 1
        draws = np.random.default_rng(event["noise_seed"]).standard_normal(n_ls)
        index = np.clip(((timestamp[inside] - t0) // LS_SECONDS).astype(np.int64), 0, n_ls - 1)
        factor[inside] = 1.0 + m * draws[index]
    return factor


def _ls_label(keys: pd.DataFrame, when: float) -> str:
    """``run:ls`` of the LS holding ``when`` (the last LS starting before it)."""
    index = int(np.searchsorted(keys["timestamp"].to_numpy(), when, side="right")) - 1
    row = keys.iloc[max(index, 0)]
    return f"{int(row['run'])}:{int(row['ls'])}"


def plan_luminometers(
    rng: np.random.Generator,
    fill_truth: dict[str, Any],
    lumi: pd.DataFrame,
    *,
    anomalies: bool = True,
    luminometers: Sequence[str] | None = None,
    calibration: dict[str, Any],
) -> dict[str, Any]:
    """Draw which luminometers a fill has (``luminometers``: these), their normal responses
    around the data set's ``calibration`` and its anomalies."""
    present = [name for name, p in PRESENT_PROBABILITY.items() if rng.random() < p]
    if luminometers is not None:
        present = [name for name in luminometers if name in TABLES]
    while len(present) < 2:
        extra = str(rng.choice([n for n in TABLES if n not in present]))
        present.append(extra)
    present = [name for name in TABLES if name in present]
    normal = {name: draw_normal(rng, name, calibration) for name in present}
    start, end = float(lumi["timestamp"].min()), float(lumi["timestamp"].max())
    middle = (start + 0.1 * (end - start), start + 0.9 * (end - start))
    events: list[dict[str, Any]] = []
    if anomalies and rng.random() < 0.75:
        candidates = sorted({*present, "pltzero"}, key=list(TABLES).index)
        n_events = int(rng.integers(1, 3))
        for name in rng.choice(candidates, size=min(n_events, len(candidates)), replace=False):
            kind = str(rng.choice(ANOMALY_TYPES))
            first, last, magnitude = _window(rng, kind, *middle)
            if kind == "scale":
                first, last = start, end
            elif kind in ("step", "drift"):
                last = end  # it persists to the fill's end, through the end-of-fill scan
            event: dict[str, Any] = {
                "luminometer": str(name),
                "type": kind,
                "start": first,
                "end": last,
                "magnitude": round(magnitude, 5),
            }
            if kind == "wave":
                event["period"] = round(rng.uniform(0.1, 0.5) * (last - first), 1)
            if kind == "noise":
                event["noise_seed"] = int(rng.integers(2**31))
            if name == "pltzero":
                event["applied_to"] = PLT_FAULT
            events.append(event)
    keys = lumi.groupby(["run", "ls"], sort=False)["timestamp"].min().reset_index()
    keys = keys.sort_values("timestamp", ignore_index=True)
    for event in events:
        event["first"] = _ls_label(keys, event["start"])
        event["last"] = _ls_label(keys, event["end"])
    peak = float(np.quantile(lumi["lumi"], 0.95)) or 1.0
    return {
        "present": present,
        "absent": [name for name in TABLES if name not in present],
        "tables": {name: TABLES[name] for name in present},
        "sbil_peak": round(rng.uniform(4.0, 12.0), 3),
        "lumi_peak": peak,
        "n_colliding": int(fill_truth.get("n_colliding", 2000)),
        "normal": normal,
        "events": events,
        "plt_fault": PLT_FAULT,
    }


def luminometer_values(
    plan: dict[str, Any],
    name: str,
    timestamp: np.ndarray,
    relative: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A luminometer's instantaneous luminosity (Hz/ub) at rows of relative luminosity
    ``relative``: true luminosity x offset x linearity x noise x anomalies."""
    normal = plan["normal"][name]
    per_ls = normal["rows"] == "ls"
    level = np.clip(relative / plan["lumi_peak"], 0.0, None)
    sbil = plan["sbil_peak"] * level
    value = sbil * plan["n_colliding"]
    value = value * (1.0 + normal["offset"])
    value = value * (1.0 + normal["slope_per_sbil"] * (sbil - 0.5 * plan["sbil_peak"]))
    sigma = normal["noise_ls"] * np.minimum(1.0 / np.sqrt(np.maximum(level, 1e-2)), 10.0)
    value = value * (1.0 + sigma * (1.0 if per_ls else 4.0) * rng.standard_normal(len(value)))
    value = value * luminometer_factor(plan, name, timestamp)
    return np.maximum(value, 0.0).astype(np.float32)


def _colliding(handle: h5py.File) -> np.ndarray:
    if BEAM_TABLE in handle and handle[BEAM_TABLE].shape[0]:
        row = handle[BEAM_TABLE][0]
        names = row.dtype.names or ()
        if "collidable" in names:
            return np.asarray(row["collidable"]) != 0
        return (np.asarray(row["bxconfig1"]) != 0) & (np.asarray(row["bxconfig2"]) != 0)
    return np.ones(N_BX, dtype=bool)


def _file_keys(handle: h5py.File) -> pd.DataFrame | None:
    """The NB4 rows (run, ls, nb, timestamp) of a file's ``/pltaggzero``."""
    if PLT_TABLE not in handle:
        return None
    names = ["fillnum", "runnum", "lsnum", "nbnum", "timestampsec", "timestampmsec"]
    records = handle[PLT_TABLE].fields(names)[:]
    frame = pd.DataFrame({name: records[name] for name in names})
    frame = frame.drop_duplicates(["runnum", "lsnum", "nbnum"]).sort_values(
        ["timestampsec", "timestampmsec"], ignore_index=True
    )
    return frame


def _write_table(
    handle: h5py.File,
    name: str,
    table: str,
    keys: pd.DataFrame,
    values: np.ndarray,
    raw_factor: float,
    profile: np.ndarray,
    rng: np.random.Generator,
) -> None:
    per_bunch = name not in PER_LS
    dtype = lumi_record_dtype(per_bunch)
    if table in handle:
        del handle[table]
    dataset = handle.create_dataset(
        table,
        shape=(len(keys),),
        maxshape=(None,),
        dtype=dtype,
        chunks=(100,),
        **hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.SHUFFLE),
    )
    dataset.attrs["CLASS"] = np.bytes_("TABLE")
    dataset.attrs["VERSION"] = np.bytes_("2.7")
    dataset.attrs["TITLE"] = np.bytes_(table)
    for index, field_name in enumerate(dtype.names or ()):
        dataset.attrs[f"FIELD_{index}_NAME"] = np.bytes_(field_name)
    for first in range(0, len(keys), WRITE_ROWS):
        part = keys.iloc[first : first + WRITE_ROWS]
        value = values[first : first + WRITE_ROWS]
        records = np.zeros(len(part), dtype=dtype)
        records["fillnum"] = part["fillnum"].to_numpy()
        records["runnum"] = part["runnum"].to_numpy()
        records["lsnum"] = part["lsnum"].to_numpy()
        records["nbnum"] = part["nbnum"].to_numpy()
        records["timestampsec"] = part["timestampsec"].to_numpy()
        records["timestampmsec"] = part["timestampmsec"].to_numpy()
        records["totsize"] = dtype.itemsize
        records["publishnnb"] = 64 if not per_bunch else 4
        records["datasourceid"] = list(TABLES).index(name) + 1
        records["payloadtype"] = 1
        records["calibtag"] = f"{name}_synthetic_v1".encode()
        records["avgraw"] = value * raw_factor if per_bunch else value
        if per_bunch:
            records["avg"] = value
            # per-bunch values with 1 % statistical scatter (so they compress like real ones)
            scatter = rng.standard_normal((len(part), N_BX), dtype=np.float32)
            bx = value[:, None] * profile[None, :] * (1 + np.float32(0.01) * scatter)
            records["bx"] = bx
            records["bxraw"] = bx * np.float32(raw_factor)
        records["masklow"] = 0xFFFF if name == "pltzero" else 0
        dataset[first : first + len(part)] = records
    dataset.attrs["NROWS"] = np.int64(len(keys))


def luminometer_factor(plan: dict[str, Any], name: str, timestamp: np.ndarray) -> np.ndarray:
    """The product of the factors of the plan's events on luminometer ``name`` at
    ``timestamp`` (on ``pltzero``: the PLT fault)."""
    factor = np.ones(len(timestamp))
    for event in plan["events"]:
        if event["luminometer"] == name:
            factor = factor * anomaly_factor(event, timestamp)
    return factor


def scale_zero_counts(counts: np.ndarray, factor: np.ndarray, orbits: int, mode: str) -> np.ndarray:
    """Counts (rows, bunches) of zeros or hits per ``orbits`` with every bunch's ``mu``
    multiplied by its row's ``factor``: ``zeros' = orbits * (zeros / orbits) ** factor``,
    rounded and clipped to ``[0, orbits]``, in the counts' dtype. Rows with a count outside
    ``[0, orbits]`` (or not a number) are returned unchanged."""
    values = np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.all((values >= 0) & (values <= orbits), axis=1)
    zeros = values[valid] if mode == "zeros" else orbits - values[valid]
    power = np.maximum(np.asarray(factor, dtype=np.float64)[valid], 1e-3)[:, None]
    scaled = np.clip(np.rint(orbits * (zeros / orbits) ** power), 0, orbits)
    out = np.array(counts, copy=True)
    out[valid] = (scaled if mode == "zeros" else orbits - scaled).astype(out.dtype)
    return out


def scale_plt_channels(
    handle: h5py.File, plan: dict[str, Any], first_factor: dict[tuple[int, int], float]
) -> int:
    """Multiply the rate of every PLT channel of a file's ``/pltaggzero`` by the PLT fault's
    ``f(t)`` at each row's time, in place (:func:`scale_zero_counts`; counts mode and orbits
    told from the data as the conversion does). A row repeating an earlier row of its channel
    (same counts checksum; ``first_factor`` carries them across a fill's files) takes that
    row's factor. Returns the number of rows changed."""
    from pltanomaly.channels.convert import SAMPLE_ROWS
    from pltanomaly.channels.zerocount import detect_counts_mode, row_checksum

    if not any(e["luminometer"] == "pltzero" for e in plan["events"]):
        return 0
    if PLT_TABLE not in handle or handle[PLT_TABLE].shape[0] == 0:
        return 0
    dataset = handle[PLT_TABLE]
    try:
        mode, orbits = detect_counts_mode(np.asarray(dataset[:SAMPLE_ROWS]["data"]))
    except ValueError:
        return 0
    changed = 0
    for first in range(0, dataset.shape[0], SCALE_ROWS):
        records = dataset[first : first + SCALE_ROWS]
        timestamp = records["timestampsec"] + records["timestampmsec"] / 1000.0
        factor = luminometer_factor(plan, "pltzero", np.asarray(timestamp, dtype=np.float64))
        data = np.ascontiguousarray(records["data"])
        for i, channel in enumerate(records["channelid"]):
            key = (int(channel), int(row_checksum(data[i])))
            factor[i] = first_factor.setdefault(key, float(factor[i]))
        rows = np.flatnonzero(factor != 1.0)
        if rows.size == 0:
            continue
        scaled = scale_zero_counts(data[rows], factor[rows], orbits, mode)
        moved = np.any(scaled != data[rows], axis=1)
        if not moved.any():
            continue
        data[rows] = scaled
        records["data"] = data
        dataset[first : first + len(records)] = records
        changed += int(moved.sum())
    return changed


def add_fill_luminometers(
    fill_dir: Path,
    fill_truth: dict[str, Any],
    seed: int,
    year: int,
    *,
    anomalies: bool = True,
    luminometers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Append luminometer tables to the files of one generated fill; returns its truth."""
    from pltanomaly.channels.convert import convert_fill

    fill = int(fill_dir.name)
    rng = np.random.default_rng([seed, year, fill, 0x4C554D49])
    with tempfile.TemporaryDirectory(prefix="pltanomaly-lumi-") as tmp:
        series_path = Path(tmp) / "series.parquet"
        convert_fill(fill_dir, series_path)
        columns = ["timestamp", "run", "ls", "nb", "channel", "rate"]
        series = pd.read_parquet(series_path, columns=columns)
    lumi = true_luminosity(series)
    plan = plan_luminometers(
        rng,
        fill_truth,
        lumi,
        anomalies=anomalies,
        luminometers=luminometers,
        calibration=data_set_calibration(seed, year),
    )
    relative = lumi.set_index(["run", "ls", "nb"])["lumi"]
    first_factor: dict[tuple[int, int], float] = {}  # PLT fault factor of repeated rows
    for path in sorted(fill_dir.glob("*.hd5")):
        if path.name.startswith("."):
            continue
        with atomic_path(path) as tmp_file:
            shutil.copyfile(path, tmp_file)
            with h5py.File(tmp_file, "a") as handle:
                keys = _file_keys(handle)
                if keys is None or keys.empty:
                    continue
                scale_plt_channels(handle, plan, first_factor)
                index = pd.MultiIndex.from_arrays(
                    [keys["runnum"], keys["lsnum"], keys["nbnum"]], names=["run", "ls", "nb"]
                )
                # NB4 the conversion dropped (garbage first NB4) take their neighbours' value
                rel = relative.reindex(index).to_numpy()
                rel = pd.Series(rel).ffill().bfill().fillna(0.0).to_numpy()
                timestamp = (
                    keys["timestampsec"].to_numpy() + keys["timestampmsec"].to_numpy() / 1000.0
                )
                colliding = _colliding(handle)
                profile = (colliding / max(int(colliding.sum()), 1)).astype(np.float32)
                for name in plan["present"]:
                    rows, rows_rel, rows_t = keys, rel, timestamp
                    if name in PER_LS:  # one row per LS: its first NB4's keys, the LS mean
                        group = keys.groupby(["runnum", "lsnum"], sort=False)
                        rows = group.first().reset_index()
                        rows["nbnum"] = 64
                        rows_rel = pd.Series(rel).groupby(group.ngroup()).mean().to_numpy()
                        rows_t = rows["timestampsec"].to_numpy() + rows["timestampmsec"] / 1000.0
                        rows_t = np.asarray(rows_t, dtype=np.float64)
                    values = luminometer_values(plan, name, rows_t, rows_rel, rng)
                    raw_factor = float(rng.uniform(0.9, 1.1))
                    _write_table(handle, name, TABLES[name], rows, values, raw_factor, profile, rng)
    plan.pop("lumi_peak")
    plan["seed"] = seed
    channel_events = []
    channels = fill_truth.get("channels", {})
    efficiency = {c: v.get("efficiency", 0.0) for c, v in channels.items()}
    total = sum(efficiency.values()) or 1.0
    for channel, info in channels.items():
        for event in info.get("events", []):
            share = round(efficiency[channel] / total, 4)
            channel_events.append({"channel": int(channel), "share": share, **event})
    plan["pltzero_channels_events"] = channel_events
    return plan


def add_luminometers(
    year_dir: str | Path,
    *,
    seed: int | None = None,
    fills: list[int] | None = None,
    anomalies: bool = True,
    luminometers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Add luminometer tables to the fills of a generated year folder (``{root}/{yy}``) and
    their truth to its ``truth.json``; returns the truth. ``luminometers``: give every fill
    these (default: a random subset per fill).

    Per fill, ``truth["fills"][fill]["luminometers"]`` is::

        {"present": ["pltzero", "hfoc", ...], "absent": [...], "tables": {"hfoc": "hfoclumi"},
         "sbil_peak": 8.1, "n_colliding": 2100, "seed": 1, "plt_fault": "plt_channels",
         "normal": {"hfoc": {"offset": 0.012, "slope_per_sbil": -0.0008, "noise_ls": 0.003,
                             "rows": "nb4"}},
         "events": [{"luminometer": "hfet", "type": "dip", "start": 1.6e9, "end": 1.6e9,
                     "first": "356000:120", "last": "356000:131", "magnitude": -0.05}],
         "pltzero_channels_events": [{"channel": 3, "share": 0.07, ...the channel's event}]}

    ``offset`` and ``slope_per_sbil`` are of the luminometer against the true luminosity (a
    pair's ratio is ``(1 + offset_a) / (1 + offset_b)`` at the middle SBIL); ``magnitude`` is
    the relative change of the luminometer against the others (``wave``: amplitude, with
    ``period`` in seconds; ``noise``: extra per-LS scatter; ``drift``: the change at the end).
    An event on ``pltzero`` (a PLT common-mode fault, ``applied_to: "plt_channels"``) moves
    ``pltlumizero`` and the rate of every PLT channel in ``/pltaggzero`` by ``f(t)``; the other
    luminometers and the ratios between PLT channels stay.
    """
    year_dir = Path(year_dir)
    truth_path = year_dir / "truth.json"
    truth = json.loads(truth_path.read_text())
    year = int(truth["year"])
    for fill_key, fill_truth in truth["fills"].items():
        if fills is not None and int(fill_key) not in fills:
            continue
        fill_dir = year_dir / fill_key
        if not fill_dir.is_dir():
            continue
        fill_seed = int(fill_truth.get("seed", 0)) if seed is None else seed
        fill_truth["luminometers"] = add_fill_luminometers(
            fill_dir, fill_truth, fill_seed, year, anomalies=anomalies, luminometers=luminometers
        )
        log.info(
            "fill %s: luminometers %s, events %s",
            fill_key,
            fill_truth["luminometers"]["present"],
            [(e["luminometer"], e["type"]) for e in fill_truth["luminometers"]["events"]],
        )
    write_json_atomic(truth_path, truth)
    return truth


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lumi-generate",
        help="add luminometer tables (and their truth) to a generated year's fills",
    )
    parser.add_argument("out_root", type=Path, help="the folder `generate` wrote {yy}/ into")
    parser.add_argument("--year", type=int, default=2022)
    parser.add_argument("--seed", type=int, default=None, help="default: each fill's own seed")
    parser.add_argument("--fill", type=int, action="append", default=None, help="only this fill")
    parser.add_argument("--clean", action="store_true", help="inject no anomaly")
    parser.add_argument(
        "--luminometers",
        default=None,
        help="comma-separated luminometers every fill gets (default: a random subset per fill)",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    year_dir = Path(args.out_root) / f"{args.year % 100:02d}"
    chosen = args.luminometers.split(",") if args.luminometers else None
    truth = add_luminometers(
        year_dir, seed=args.seed, fills=args.fill, anomalies=not args.clean, luminometers=chosen
    )
    for fill, fill_truth in truth["fills"].items():
        lumi = fill_truth.get("luminometers")
        if lumi:
            events = ", ".join(f"{e['luminometer']} {e['type']}" for e in lumi["events"]) or "none"
            print(f"fill {fill}: {', '.join(lumi['present'])}; anomalies: {events}")
    return 0
