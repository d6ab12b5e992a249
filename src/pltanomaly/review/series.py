"""Per-channel view of a fill series for the chart: normalised rate and ratio to the reference.

For every channel: ``norm = rate / median(rate > 0)`` over the fill, and
``ratio = norm / reference`` where the reference at each NB4 is the median of the normalised rates
of the *other* live (not dead) channels. A channel that behaves like the others sits at 1; a 5 %
step shows as 1.05. Everything is then binned in time to at most ``points`` bins (mean, and min/max
of the ratio so that short spikes and dropouts stay visible); empty bins are ``null`` (data gaps).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_POINTS = 2000
MAX_POINTS = 5000
#: below this reference level (beam dump, emittance scan bottom) the ratio is meaningless
MIN_REFERENCE = 0.05
NB4_KEYS = ("run", "ls", "nb")


class SeriesError(Exception):
    """The series file is missing or unusable; ``str()`` is fit for a page."""


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN, on purpose
        return np.nanmedian(a, axis=axis)


def read_wide(path: Path) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(times, channels, rates[time, channel]) of a fill series parquet, one row per NB4."""
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except FileNotFoundError:
        raise SeriesError(f"no series file {path.name}") from None
    except Exception as exc:  # pyarrow raises several types for a half-written file
        raise SeriesError(f"{path.name} is unreadable (half-written?): {exc}") from exc
    missing = {"timestamp", "channel", "rate"} - names
    if missing:
        raise SeriesError(f"{path.name} lacks columns {sorted(missing)}")
    keys = [k for k in NB4_KEYS if k in names]
    columns = ["timestamp", "channel", "rate", *keys]
    try:
        df = pd.read_parquet(path, columns=columns)
    except Exception as exc:
        raise SeriesError(f"{path.name} is unreadable (half-written?): {exc}") from exc
    if df.empty:
        return np.empty(0), [], np.empty((0, 0))
    if len(keys) == len(NB4_KEYS):
        # all channels of one NB4 share (run, ls, nb); their timestamps may differ by ms
        t = df.groupby(list(keys), sort=False)["timestamp"].transform("min")
    else:
        t = df["timestamp"].round(1)
    wide = (
        pd.DataFrame({"t": t.to_numpy(), "channel": df["channel"].astype(int), "rate": df["rate"]})
        .pivot_table(index="t", columns="channel", values="rate", aggfunc="mean", dropna=False)
        .sort_index()
    )
    return (
        wide.index.to_numpy(dtype=float),
        [int(c) for c in wide.columns],
        wide.to_numpy(dtype=float),
    )


def normalise(
    rates: np.ndarray, channels: list[int], live: set[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(norm[time, ch], ratio[time, ch], reference[time]) as described in the module doc."""
    norm = np.full_like(rates, np.nan)
    for j in range(rates.shape[1]):
        v = rates[:, j]
        good = v[np.isfinite(v) & (v > 0)]
        if good.size:
            norm[:, j] = v / np.median(good)
    live_idx = [j for j, c in enumerate(channels) if c in live]
    n = rates.shape[0]
    reference = _nanmedian(norm[:, live_idx], axis=1) if live_idx else np.full(n, np.nan)
    ratio = np.full_like(rates, np.nan)
    for j in range(rates.shape[1]):
        others = [k for k in live_idx if k != j]
        if not others:
            continue
        ref = _nanmedian(norm[:, others], axis=1)
        ok = np.isfinite(ref) & (ref > MIN_REFERENCE)
        ratio[ok, j] = norm[ok, j] / ref[ok]
    return norm, ratio, reference


def _bins(t: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every time, and the bin centres; bins are uniform in time."""
    n_bins = max(1, min(points, t.size))
    t0, t1 = float(t[0]), float(t[-1])
    if t1 <= t0:
        return np.zeros(t.size, dtype=np.int64), np.array([t0])
    width = (t1 - t0) / n_bins
    idx = np.minimum(((t - t0) / width).astype(np.int64), n_bins - 1)
    centres = t0 + (np.arange(n_bins) + 0.5) * width
    return idx, centres


def _binned(values: np.ndarray, idx: np.ndarray, n_bins: int, how: str) -> np.ndarray:
    s = pd.Series(values).groupby(idx).agg(how)  # NaN-skipping
    return s.reindex(range(n_bins)).to_numpy(dtype=float)


def _jsonable(a: np.ndarray, decimals: int) -> list[float | None]:
    a = np.round(a, decimals)
    return [float(v) if np.isfinite(v) else None for v in a]


def channel_view(
    path: Path,
    fill_result: dict[str, Any],
    *,
    points: int = DEFAULT_POINTS,
    channels: list[int] | None = None,
) -> dict[str, Any]:
    """The JSON the fill page's chart draws: see the module doc."""
    t, chans, rates = read_wide(path)
    status = {int(c): info["status"] for c, info in fill_result["channels"].items()}
    live = {c for c in chans if status.get(c, "normal") != "dead"}
    out: dict[str, Any] = {
        "fill": fill_result["fill"],
        "year": fill_result["year"],
        "n_nb4": int(t.size),
        "t": [],
        "reference": [],
        "channels": {},
        "min_reference": MIN_REFERENCE,
    }
    if t.size == 0:
        return out
    norm, ratio, reference = normalise(rates, chans, live)
    idx, centres = _bins(t, points)
    n_bins = centres.size
    out["points"] = n_bins
    out["downsampled"] = n_bins < t.size
    out["t"] = _jsonable(centres, 2)
    out["reference"] = _jsonable(_binned(reference, idx, n_bins, "mean"), 5)
    wanted = set(chans) if channels is None else set(channels)
    for j, c in enumerate(chans):
        if c not in wanted:
            continue
        info = fill_result["channels"].get(c, {"status": "normal", "score": None, "events": []})
        out["channels"][str(c)] = {
            "status": info["status"],
            "score": info["score"],
            "live": c in live,
            "events": info["events"],
            "rate": _jsonable(_binned(rates[:, j], idx, n_bins, "mean"), 3),
            "norm": _jsonable(_binned(norm[:, j], idx, n_bins, "mean"), 5),
            "ratio": _jsonable(_binned(ratio[:, j], idx, n_bins, "mean"), 5),
            "ratio_min": _jsonable(_binned(ratio[:, j], idx, n_bins, "min"), 5),
            "ratio_max": _jsonable(_binned(ratio[:, j], idx, n_bins, "max"), 5),
        }
    return out


class SeriesCache:
    """A few recent channel views, keyed by the parquet's (mtime, size) and the request."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(
        self,
        path: Path,
        fill_result: dict[str, Any],
        *,
        points: int,
        channels: list[int] | None,
    ) -> dict[str, Any]:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise SeriesError(f"no series file {path.name}") from None
        statuses = tuple((c, i["status"]) for c, i in fill_result["channels"].items())
        key = (
            str(path),
            st.st_mtime_ns,
            st.st_size,
            points,
            None if channels is None else tuple(sorted(channels)),
            statuses,
            repr([(c, i["score"], i["events"]) for c, i in fill_result["channels"].items()]),
        )
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        view = channel_view(path, fill_result, points=points, channels=channels)
        with self._lock:
            self._items[key] = view
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return view
