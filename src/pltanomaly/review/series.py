"""Per-channel view of a fill series for the chart: normalised rate and ratio to the reference.

The numbers come from ``pltanomaly.channels.detect.ratio_view``, called as
``pltanomaly.channels.plot`` calls it (dead channels from the fill's result, settings from the
result or the config), so the chart shows exactly what the detector judged and the plot
shows: each live channel's rate normalised to the median channel, and its ratio to the
leave-one-out reference of the other live channels, 1 = normal. When the detector cannot be
imported or fails on the series, a simpler view computed here stands in (``source`` says
which): ``norm = rate / median(rate > 0)``, reference = median of the other live channels'
``norm``, ratio normalised to median 1 over the fill.

Everything is then binned in time to at most ``points`` bins (mean, and min/max of the ratio so
that short spikes and dropouts stay visible); empty bins are ``null`` (data gaps).
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
LABELS = {
    "detector": {
        "norm": "normalised rate (rate over the channel's median ratio to the median channel)",
        "ratio": "ratio to the reference (the other live channels), as the detector judges it",
    },
    "fallback": {
        "norm": "normalised rate (rate / channel median)",
        "ratio": "ratio to the reference (median of the other live channels), median 1",
    },
}


class SeriesError(Exception):
    """The series file is missing or unusable; ``str()`` is fit for a page."""


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN, on purpose
        return np.nanmedian(a, axis=axis)


def read_series(path: Path) -> pd.DataFrame:
    """The fill series (all columns the detector may use); SeriesError when unusable."""
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
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise SeriesError(f"{path.name} is unreadable (half-written?): {exc}") from exc


def wide_rates(df: pd.DataFrame) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(times, channels, rates[time, channel]), one row per NB4 on the detector's time grid
    (distinct timestamps rounded to the ms; a duplicated (NB4, channel) keeps its last row)."""
    if df.empty:
        return np.empty(0), [], np.empty((0, 0))
    ts = pd.to_numeric(df["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    ch = pd.to_numeric(df["channel"], errors="coerce").to_numpy(dtype=np.float64)
    rate = pd.to_numeric(df["rate"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(ts) & np.isfinite(ch) & (ch >= 0) & (ch < 256)
    ts, ch_i, rate = ts[keep], ch[keep].astype(np.int64), rate[keep]
    times, row = np.unique(np.round(ts, 3), return_inverse=True)
    channels = sorted(set(ch_i.tolist()))
    col = np.searchsorted(channels, ch_i)
    rates = np.full((times.size, len(channels)), np.nan)
    rates[row, col] = rate
    return times, channels, rates


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
        good = ratio[:, j][np.isfinite(ratio[:, j]) & (ratio[:, j] > 0)]
        if good.size:  # normalised to 1 over the fill, as the detector does
            ratio[:, j] /= np.median(good)
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


def _align(
    times: np.ndarray, channels: list[int], values: np.ndarray, t: np.ndarray, chans: list[int]
) -> np.ndarray:
    """values[times, channels] re-indexed onto (t, chans); missing cells NaN."""
    out = np.full((t.size, len(chans)), np.nan)
    if times.size == 0 or t.size == 0:
        return out
    idx = np.clip(np.searchsorted(times, t), 0, times.size - 1)
    hit = np.isclose(times[idx], t, rtol=0, atol=5e-4)
    for j, c in enumerate(chans):
        if c in channels:
            out[hit, j] = values[idx[hit], channels.index(c)]
    return out


def _detector_view(
    df: pd.DataFrame, fill_result: dict[str, Any], settings: Any
) -> tuple[np.ndarray, list[int], set[int], np.ndarray, np.ndarray]:
    """(times, channels, live, normalised, ratio) from pltanomaly.channels.detect.ratio_view,
    called as pltanomaly.channels.plot does: the result's own settings first; when a newer
    detector refuses them (a renamed setting), the current config's."""
    from pltanomaly.channels.detect import ratio_view

    dead = sorted(int(c) for c, v in fill_result["channels"].items() if v["status"] == "dead")
    attempts = []
    if isinstance(fill_result.get("settings"), dict):
        attempts.append(dict(fill_result["settings"]))
    attempts.append(settings)
    for k, attempt in enumerate(attempts):
        try:
            view = ratio_view(
                df,
                fill=fill_result["fill"],
                year=fill_result["year"],
                settings=attempt,
                dead_channels=dead,
            )
            break
        except ValueError:
            if k == len(attempts) - 1:
                raise
    chans = [int(c) for c in view.channels]
    live = {c for c, ok in zip(chans, view.live, strict=True) if ok}
    return np.asarray(view.times, float), chans, live, view.normalised, view.ratio


def channel_view(
    path: Path,
    fill_result: dict[str, Any],
    *,
    points: int = DEFAULT_POINTS,
    channels: list[int] | None = None,
    settings: Any = None,
) -> dict[str, Any]:
    """The JSON the fill page's chart draws: see the module doc."""
    df = read_series(path)
    t_raw, chans_raw, rates_raw = wide_rates(df)
    status = {int(c): info["status"] for c, info in fill_result["channels"].items()}
    source = "pltanomaly.channels.detect"
    try:
        if df.empty:
            raise ValueError("the series has no row")
        t, chans, live, norm, ratio = _detector_view(df, fill_result, settings)
        rates = _align(t_raw, chans_raw, rates_raw, t, chans)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reference = _nanmedian(norm[:, [j for j, c in enumerate(chans) if c in live]], 1)
    except Exception as exc:  # ImportError, or a series the detector refuses
        source = f"review fallback ({type(exc).__name__}: {exc})"
        t, chans, rates = t_raw, chans_raw, rates_raw
        live = {c for c in chans if status.get(c, "normal") != "dead"}
        norm, ratio, reference = normalise(rates, chans, live)
    out: dict[str, Any] = {
        "fill": fill_result["fill"],
        "year": fill_result["year"],
        "n_nb4": int(t.size),
        "t": [],
        "reference": [],
        "channels": {},
        "source": source,
        "labels": LABELS["detector" if source == "pltanomaly.channels.detect" else "fallback"],
    }
    if t.size == 0:
        return out
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
        settings: Any = None,
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
            repr(settings),
            repr(fill_result.get("settings")),
        )
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        view = channel_view(path, fill_result, points=points, channels=channels, settings=settings)
        with self._lock:
            self._items[key] = view
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return view
