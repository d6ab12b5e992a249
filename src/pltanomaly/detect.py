"""Per-channel anomaly detector: one fill series -> the fill result of the results contract.

Design (every threshold and window below is a field of :class:`DetectorSettings`):

1. **Grid.** The series is pivoted to a (NB4, channel) matrix of rates; a missing row is NaN.
   Only NB4s in which at least one channel has a row exist, so gaps common to all channels
   never show.
2. **Dead channels.** Channels configured dead are dead. Among the others, a channel is found
   dead when, while the beam is on, it has almost no row that is present and not stuck, or
   its median rate is below ``dead_fraction`` (no hits) or ``weak_fraction`` (a weak,
   masked channel such as channel 9 in Run 3) of the median channel. Dead channels are
   reported as ``dead`` with a ``reason`` and never as anomalous.
3. **Reference and ratio.** Each live channel's rate is normalised by its median ratio to
   the median channel; its reference is the median of the *other* live channels'
   normalised rates in the same NB4 (leave-one-out, :func:`detect_kernels.loo_median`),
   and its ratio to the reference, normalised to 1 over the first ``baseline_s`` of steady
   beam, is what the detectors look at. Everything common to all channels (luminosity
   decay, levelling, emittance scans, run boundaries) cancels in the ratio. NB4s in which
   the reference is below ``min_level`` of its bright level (no beam, after the dump) are
   not judged; level detectors (step, drift, noise) also skip NB4s below
   ``steady_fraction`` of the running maximum of the reference (the low points of emittance
   scans, where the small mu dependence of each channel's response shows).
4. **Detectors**, each giving candidates with an *evidence* ``x`` (1 = exactly at the
   decision threshold; a candidate is an event when ``x >= 1``):

   - ``gap``: runs of at least ``gap_min_rows`` NB4s without the channel's row while most
     live channels have theirs; ``x = rows / gap_min_rows``.
   - ``stuck``: runs of at least ``stuck_min_rows`` rows repeating the previous row exactly
     (the series' ``stuck`` column), unless most live channels are stuck at the same time;
     ``x = rows / stuck_min_rows``.
   - ``dropout``: ratio below ``dropout_level`` of the channel's running level (median over
     ``dropout_window_s``); ``x = log(depth) / log(dropout_level)``.
   - ``spike``: ratio above its running median by more than ``spike_min`` and more than
     ``spike_sigma`` times the expected statistical noise (and the locally observed noise),
     for at most ``spike_max_s`` seconds.
   - ``noise``: the running robust scatter (over ``noise_window_s``) of NB4-to-NB4 ratio
     changes exceeds ``noise_factor`` times the statistical expectation (noise ~ 1/sqrt(rate),
     calibrated on all live channels of the fill, so low-rate channels and scan points are
     judged by their own larger noise) and ``noise_min_sigma`` in relative terms, for at
     least ``noise_min_s``; pairs across a jump of the reference (``level_jump``: scan and
     levelling steps) are not used.
   - ``step``: on the log ratio binned in ``bin_s`` medians, the difference ``delta`` of the
     medians of the ``step_window_s`` after and before each bin; its peaks (one per window)
     are candidate changes, placed to the bin by the best two-mean split. The change's
     size is its "sharpness": ``delta`` minus the mean of ``delta`` one window earlier and
     later (the step size for a step, ~0 for a steady drift). At least ``step_min`` (and
     ``step_sigma`` times its noise) is a step; ``x = min(size / step_min, size /
     (step_sigma * noise))``. A step ends where an opposite change brings the ratio back
     (within half its size), else at the end of the fill.
   - ``drift``: after removing the level changes larger than ``segment_min`` (and
     ``step_sigma`` times their noise), the least-squares slope of the binned log ratio over
     ``drift_window_s``; a stretch whose slope reaches ``drift_min_slope`` per hour (and
     ``drift_sigma`` times its noise) with a total change (the slope integrated over the
     stretch) of at least ``drift_min_change`` is a drift; ``x`` is the smaller of the two
     ratios to their thresholds.

   The level detectors' thresholds scale with the locally observed noise, so a noisy
   period is reported as ``noise`` and not also as steps and drifts.

5. **Scores.** A channel's evidence is the largest ``x`` of all its candidates, events or
   not; its score is ``x**p / (1 + x**p)`` (``p = score_exponent``): monotone in the
   evidence, 0.5 exactly at the decision threshold, so a channel is anomalous if and only
   if its score is at least 0.5. Dead channels score 0.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from pltanomaly import __version__
from pltanomaly.atomic import write_json_atomic
from pltanomaly.detect_kernels import (
    bin_median,
    loo_median,
    rolling_median,
    rolling_slope,
    window_shift,
)

log = logging.getLogger(__name__)

N_CHANNELS = 16
NB4_SECONDS = 16384 * 3564 / 40.0789e6
DECISION_SCORE = 0.5
"""Channels (and events) scoring at least this are anomalous."""


class DetectorInputError(ValueError):
    """A fill series the detector cannot use (missing columns, no row, bad settings)."""

    def __init__(self, fill: int | None, reason: str) -> None:
        self.fill = fill
        self.reason = reason
        super().__init__(f"fill {fill}: {reason}")


@dataclass
class DetectorSettings:
    """Detector thresholds and windows. Durations are in seconds; relative sizes are
    fractions of the channel's ratio to the reference (0.02 = 2 %)."""

    # usable data
    min_level: float = 0.02
    """NB4s whose reference is below this fraction of its bright level are not judged."""
    steady_fraction: float = 0.5
    """Level detectors skip NB4s below this fraction of the reference's running maximum."""
    steady_window_s: float = 600.0
    """Window of that running maximum (longer than an emittance scan step)."""
    min_reference_channels: int = 2
    """Ratio-based detectors need at least this many other live channels."""
    # dead channels
    dead_fraction: float = 0.02
    """A channel below this fraction of the median channel's rate is dead (no hits)."""
    weak_fraction: float = 0.3
    """A channel below this fraction of the median channel's rate is dead (weak, masked)."""
    dead_missing_fraction: float = 0.9
    """A channel missing or stuck in more than this fraction of beam-on NB4s is dead."""
    # point anomalies
    gap_min_rows: int = 2
    """Fewest consecutive missing NB4s (while most channels have theirs) for a gap."""
    stuck_min_rows: int = 3
    """Fewest consecutive repeated rows for stuck data."""
    dropout_level: float = 0.3
    """Ratio below this fraction of the channel's running level is a dropout."""
    dropout_window_s: float = 900.0
    """Window of the running level dropouts are measured against."""
    spike_min: float = 0.2
    """Smallest relative excess over the running median for a spike."""
    spike_sigma: float = 10.0
    """A spike also exceeds this many times the expected and the observed local noise."""
    spike_max_s: float = 8.0
    """Longest spike; longer excursions are left to the level detectors."""
    spike_window_s: float = 30.0
    """Window of the running median spikes are measured against."""
    # noise
    noise_factor: float = 4.0
    """Excess noise: observed scatter above this many times the statistical expectation..."""
    noise_min_sigma: float = 0.005
    """...and above this relative scatter per NB4."""
    noise_window_s: float = 120.0
    """Window of the running scatter."""
    noise_min_s: float = 120.0
    """Shortest excess-noise period."""
    level_jump: float = 0.02
    """NB4 pairs across a relative jump of the reference above this (scan and levelling
    steps) are not used to measure noise."""
    noise_floor: float = 2e-4
    """Relative noise added to the statistical expectation (non-statistical jitter)."""
    # level changes
    bin_s: float = 12.0
    """The ratio is binned in medians of this length for the level detectors."""
    step_min: float = 0.015
    """Smallest relative step reported."""
    step_sigma: float = 6.0
    """A step also exceeds this many times the noise of its estimate."""
    baseline_s: float = 1800.0
    """Ratios are normalised to 1 over the first this-many seconds of steady beam."""
    step_window_s: float = 300.0
    """Length of the windows compared before and after a step."""
    segment_min: float = 0.008
    """Level changes above this are removed before the slope is measured."""
    drift_min_slope: float = 0.012
    """Smallest relative drift per hour reported."""
    drift_sigma: float = 6.0
    """A drift also exceeds this many times the noise of its slope."""
    drift_window_s: float = 1800.0
    """Window of the running slope."""
    drift_min_change: float = 0.015
    """Smallest total relative change of a drift (its slope integrated over its length);
    the same as ``step_min`` by default: a level change is reported from the same size
    whether it is fast or slow (and a small step that is not removed before the slope is
    measured scores the same as a drift as it does as a step)."""
    # scores
    score_exponent: float = 2.0
    """Score = x**p / (1 + x**p) for evidence x (1 = at the decision threshold)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> DetectorSettings:
        """Settings from a mapping; unknown keys or values of the wrong kind are an error."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown detector setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        converted: dict[str, Any] = {}
        for name, value in values.items():
            kind = int if isinstance(getattr(cls, name), int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"detector setting {name} must be a number, not {value!r}")
            if kind is int and float(value) != int(value):
                raise ValueError(f"detector setting {name} must be an integer, not {value!r}")
            if not math.isfinite(float(value)) or value < 0:
                raise ValueError(f"detector setting {name} must be finite and >= 0: {value!r}")
            converted[name] = kind(value)
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _settings(settings: DetectorSettings | Mapping[str, Any] | None) -> DetectorSettings:
    if settings is None:
        return DetectorSettings()
    if isinstance(settings, DetectorSettings):
        return settings
    return DetectorSettings.from_mapping(settings)


# ---------------------------------------------------------------- helpers


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of the runs of True in ``mask`` (inclusive)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _close_runs(mask: np.ndarray, max_hole: int) -> np.ndarray:
    """Fill holes of at most ``max_hole`` False values between True runs."""
    out = np.asarray(mask, dtype=bool).copy()
    pieces = runs(mask)
    for (_, last), (first, _) in itertools.pairwise(pieces):
        if first - last - 1 <= max_hole:
            out[last + 1 : first] = True
    return out


def _rolling_max(x: np.ndarray, half: int) -> np.ndarray:
    """Centred running maximum over ``2 * half + 1`` rows (per column), ignoring NaN."""
    values = pd.DataFrame(np.where(np.isfinite(x), x, -np.inf))
    out = values.rolling(2 * half + 1, center=True, min_periods=1).max().to_numpy()
    out = np.where(np.isfinite(out), out, np.nan)
    return out[:, 0] if np.ndim(x) == 1 else out


def _nanmedian(x: np.ndarray, axis: int | None = None) -> Any:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.nan
    finite = np.isfinite(x)
    if axis is None:
        return float(np.median(x[finite])) if finite.any() else np.nan
    masked = np.where(finite, x, np.nan)
    out = np.full(masked.shape[1 - axis] if masked.ndim == 2 else (), np.nan)
    has = finite.any(axis=axis)
    if has.any():
        with np.errstate(all="ignore"):
            if axis == 1:
                out[has] = np.nanmedian(masked[has], axis=1)
            else:
                out[has] = np.nanmedian(masked[:, has], axis=0)
    return out


def _sub_max(x: np.ndarray) -> float:
    """Largest finite evidence below 1 (how close a channel came to an event)."""
    below = x[np.isfinite(x) & (x < 1.0)]
    return round(float(below.max()), 4) if below.size else 0.0


def _change_points(sharp: np.ndarray, w: int, minimum: float) -> list[int]:
    """Bins of the largest level changes: greedy local extremes of ``|sharp|`` at least
    ``minimum``, no two within ``w`` bins; in time order."""
    size = np.nan_to_num(np.abs(sharp), nan=0.0)
    taken = np.zeros(len(size), dtype=bool)
    points = []
    for k in np.argsort(-size, kind="stable"):
        if size[k] < minimum:
            break
        if taken[max(0, k - w) : k + w + 1].any():
            continue
        taken[k] = True
        points.append(int(k))
    return sorted(points)


def _refine(b: np.ndarray, k: int, w: int) -> int:
    """The best split of ``b`` near ``k``: the window medians place a step anywhere within
    half a window, the largest mean difference (t-statistic of the two sides) within
    ``[k - w, k + w)`` places it to the bin."""
    lo, hi = max(k - w, 0), min(k + w, len(b))
    values = b[lo:hi]
    ok = np.isfinite(values)
    if ok.sum() < 4:
        return k
    y = values[ok]
    idx = np.flatnonzero(ok)
    n = len(y)
    left = np.cumsum(y)[:-1]
    n_left = np.arange(1, n)
    diff = (y.sum() - left) / (n - n_left) - left / n_left
    stat = np.abs(diff) * np.sqrt(n_left * (n - n_left) / n)
    best = int(np.argmax(stat))
    return lo + int(idx[best + 1])


def evidence_score(x: float, exponent: float = 2.0) -> float:
    """Score in [0, 1) of evidence ``x`` (0.5 at ``x = 1``), monotone increasing."""
    if not np.isfinite(x) or x <= 0:
        return 0.0 if not (np.isposinf(x)) else 1.0
    power = x**exponent
    return float(power / (1.0 + power)) if np.isfinite(power) else 1.0


@dataclass
class _Candidate:
    type: str
    first: int
    last: int
    x: float
    magnitude: float
    unit: str
    start_time: float | None = None
    end_time: float | None = None


@dataclass
class _Grid:
    """The fill as matrices (NB4, channel)."""

    times: np.ndarray
    channels: list[int]
    rate: np.ndarray
    present: np.ndarray
    stuck: np.ndarray
    period: float


def _build_grid(series: pd.DataFrame, fill: int, configured: set[int]) -> _Grid:
    missing = {"timestamp", "channel", "rate"} - set(series.columns)
    if missing:
        raise DetectorInputError(fill, f"series lacks column(s) {', '.join(sorted(missing))}")
    timestamp = pd.to_numeric(series["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    channel = pd.to_numeric(series["channel"], errors="coerce").to_numpy(dtype=np.float64)
    rate = pd.to_numeric(series["rate"], errors="coerce").to_numpy(dtype=np.float64)
    if "stuck" in series.columns:
        stuck = series["stuck"].fillna(False).to_numpy(dtype=bool)
    else:
        stuck = np.zeros(len(series), dtype=bool)
    keep = np.isfinite(timestamp) & np.isfinite(channel) & (channel >= 0) & (channel < 256)
    if not keep.any():
        raise DetectorInputError(fill, "series has no row with a valid timestamp and channel")
    timestamp, channel, rate, stuck = timestamp[keep], channel[keep], rate[keep], stuck[keep]
    channel_i = channel.astype(np.int64)
    times, row = np.unique(np.round(timestamp, 3), return_inverse=True)
    channels = sorted(set(range(N_CHANNELS)) | set(channel_i.tolist()) | configured)
    col = np.searchsorted(channels, channel_i)
    shape = (len(times), len(channels))
    rates = np.full(shape, np.nan)
    present = np.zeros(shape, dtype=bool)
    stuck_m = np.zeros(shape, dtype=bool)
    finite = np.isfinite(rate)
    # a duplicated (NB4, channel) keeps its last row
    rates[row[finite], col[finite]] = rate[finite]
    present[row[finite], col[finite]] = True
    stuck_m[row[finite], col[finite]] = stuck[finite]
    steps = np.diff(times)
    period = float(np.median(steps)) if len(steps) else NB4_SECONDS
    if not np.isfinite(period) or period <= 0:
        period = NB4_SECONDS
    return _Grid(times, channels, rates, present, stuck_m, period)


def _rows(seconds: float, period: float, minimum: int = 1) -> int:
    return max(minimum, round(seconds / period))


# ---------------------------------------------------------------- detector


def detect_fill(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> dict[str, Any]:
    """Detect the anomalies of one fill; returns the ``fills/{fill}.json`` dict.

    Raises :class:`DetectorInputError` for a series the detector cannot use (no column
    ``timestamp``/``channel``/``rate``, or no valid row) or invalid settings.
    """
    try:
        cfg = _settings(settings)
    except ValueError as exc:
        raise DetectorInputError(fill, str(exc)) from exc
    try:
        configured = {int(c) for c in dead_channels}
    except (TypeError, ValueError) as exc:
        raise DetectorInputError(fill, f"bad dead channel list {dead_channels!r}") from exc
    if not isinstance(series, pd.DataFrame):
        raise DetectorInputError(fill, f"series must be a pandas DataFrame, not {type(series)}")
    if len(series) == 0:
        raise DetectorInputError(fill, "series has no row")
    grid = _build_grid(series, fill, configured)
    return _Detector(grid, cfg, fill=fill, year=year, configured=configured).run()


class _Detector:
    def __init__(
        self, grid: _Grid, cfg: DetectorSettings, *, fill: int, year: int, configured: set[int]
    ) -> None:
        self.grid = grid
        self.cfg = cfg
        self.fill = fill
        self.year = year
        self.configured = configured
        self.n_rows, self.n_channels = grid.rate.shape
        self.status: dict[int, str] = {}
        self.reason: dict[int, str] = {}
        self.candidates: dict[int, list[_Candidate]] = {c: [] for c in grid.channels}
        self.extra: dict[int, dict[str, Any]] = {c: {} for c in grid.channels}
        self.notes: list[str] = []

    # -- dead channels and normalisation
    def _find_dead(self) -> np.ndarray:
        g, cfg = self.grid, self.cfg
        live = np.array([c not in self.configured for c in g.channels])
        for ch in g.channels:
            if ch in self.configured:
                self.status[ch] = "dead"
                self.reason[ch] = "configured dead"
        usable = g.present & ~g.stuck & np.isfinite(g.rate)
        for _ in range(3):
            if not live.any():
                break
            level = _nanmedian(np.where(usable[:, live], g.rate[:, live], np.nan), axis=1)
            bright_level = np.nanpercentile(level, 95) if np.isfinite(level).any() else np.nan
            if not np.isfinite(bright_level) or bright_level <= 0:
                bright = np.ones(self.n_rows, dtype=bool)
                bright_level = np.nan
            else:
                bright = level >= 0.2 * bright_level
            changed = False
            for c, ch in enumerate(g.channels):
                if not live[c]:
                    continue
                ok = usable[bright, c]
                frac = float(ok.mean()) if len(ok) else 0.0
                rel = np.nan
                if np.isfinite(bright_level) and ok.any():
                    rel = _nanmedian(g.rate[bright, c][ok] / level[bright][ok])
                if frac < 1.0 - cfg.dead_missing_fraction:
                    why = f"no usable data ({100 * frac:.0f}% of beam-on NB4s present, not stuck)"
                elif not np.isfinite(rel) or rel < cfg.dead_fraction:
                    why = "no hits (rate ~0)"
                elif rel < cfg.weak_fraction:
                    why = f"weak ({100 * rel:.0f}% of the median channel)"
                else:
                    self.extra[ch]["efficiency"] = round(float(rel), 4)
                    continue
                live[c] = False
                self.status[ch] = "dead"
                self.reason[ch] = why
                changed = True
            if not changed:
                break
        return live

    def run(self) -> dict[str, Any]:
        live = self._find_dead()
        self.live = live
        n_live = int(live.sum())
        self.n_live = n_live
        if n_live == 0:
            self.notes.append("no live channel: nothing to compare")
        else:
            self._analyse(live)
        return self._result()

    def _analyse(self, live: np.ndarray) -> None:
        g, cfg = self.grid, self.cfg
        usable = g.present & ~g.stuck & np.isfinite(g.rate)
        rate_u = np.where(usable, g.rate, np.nan)
        raw_level = _nanmedian(rate_u[:, live], axis=1)
        bright_level = np.nanpercentile(raw_level, 95) if np.isfinite(raw_level).any() else 0.0
        self.level = raw_level / bright_level if bright_level > 0 else raw_level * np.nan
        self.point_ok = np.isfinite(self.level) & (self.level >= cfg.min_level)
        steady_half = _rows(cfg.steady_window_s / 2, g.period)
        running_max = _rolling_max(self.level, steady_half)
        self.steady = self.point_ok & (self.level >= cfg.steady_fraction * running_max)
        # common-mode masks
        n_present = g.present[:, live].sum(axis=1)
        self.most_present = n_present >= 0.5 * self.n_live
        n_stuck = (g.stuck & g.present)[:, live].sum(axis=1)
        self.common_stuck = n_stuck > 0.5 * np.maximum(n_present, 1)
        # gaps and stuck need no reference
        for c in np.flatnonzero(live):
            self._gaps_and_stuck(int(c))
        if self.n_live < cfg.min_reference_channels + 1:
            self.notes.append(
                f"only {self.n_live} live channel(s): no reference for ratio-based detectors"
            )
            return
        # normalised rates and leave-one-out reference
        scale = np.ones(self.n_channels)
        good = self.steady
        for c in np.flatnonzero(live):
            scale[c] = _nanmedian(rate_u[good, c] / raw_level[good])
            if not np.isfinite(scale[c]) or scale[c] <= 0:
                scale[c] = 1.0
        normalised = rate_u / scale
        reference = loo_median(np.ascontiguousarray(normalised), live)
        with np.errstate(all="ignore"):
            ratio = normalised / reference
        ratio[~self.point_ok] = np.nan
        # normalise each ratio to its start of fill (the first baseline_s of steady beam)
        early = good & (np.cumsum(good) <= max(_rows(cfg.baseline_s, g.period), 1))
        for c in np.flatnonzero(live):
            norm = _nanmedian(ratio[early, c])
            if not np.isfinite(norm) or np.isfinite(ratio[early, c]).sum() < 20:
                norm = _nanmedian(ratio[good, c])
            if np.isfinite(norm) and norm > 0:
                ratio[:, c] /= norm
            self.extra[g.channels[c]]["ratio_median"] = round(float(norm), 5)
        self.ratio = ratio
        self.reference = reference
        self.normalised = normalised
        # statistical noise model: var(ratio) ~ k^2 / rate, k calibrated on all live channels
        ks = []
        for c in np.flatnonzero(live):
            d = np.log(np.clip(ratio[:, c], 1e-3, None))
            r = g.rate[:, c]
            ok = np.isfinite(d) & self.steady & (r > 0)
            pair = ok[1:] & ok[:-1]
            if pair.sum() < 10:
                continue
            with np.errstate(all="ignore"):
                s = np.sqrt(1.0 / r[1:] + 1.0 / r[:-1])
            z = np.abs(np.diff(d))[pair] / s[pair]
            ks.append(float(np.median(z)) / 0.6745)
        self.k = float(np.median(ks)) if ks else 0.01
        self._ratio_detectors(np.flatnonzero(live))

    def _gaps_and_stuck(self, c: int) -> None:
        g, cfg = self.grid, self.cfg
        ch = g.channels[c]
        missing = ~g.present[:, c] & self.most_present
        for first, last in runs(missing):
            n = last - first + 1
            x = n / max(cfg.gap_min_rows, 1)
            self.candidates[ch].append(_Candidate("gap", first, last, x, n * g.period, "seconds"))
        stuck = g.stuck[:, c] & g.present[:, c] & ~self.common_stuck
        for first, last in runs(stuck):
            n = last - first + 1
            x = n / max(cfg.stuck_min_rows, 1)
            first_shown = max(first - 1, 0)  # the repeated row itself
            self.candidates[ch].append(
                _Candidate("stuck", first_shown, last, x, (n + 1) * g.period, "seconds")
            )

    def _ratio_detectors(self, live_idx: np.ndarray) -> None:
        """All ratio-based detectors; kernels run on (rows, live channels) at once."""
        g, cfg = self.grid, self.cfg
        period = g.period
        ratio = np.ascontiguousarray(self.ratio[:, live_idx])
        rate = g.rate[:, live_idx]
        n_rows = ratio.shape[0]
        with np.errstate(all="ignore"):
            sigma = np.sqrt(self.k**2 / np.where(rate > 0, rate, np.nan) + cfg.noise_floor**2)
            d = np.log(np.clip(ratio, 1e-3, None))
        d[~np.isfinite(ratio)] = np.nan
        point_ok = self.point_ok[:, None]
        steady = self.steady[:, None]

        bin_rows = _rows(cfg.bin_s, period)
        bin_seconds = bin_rows * period
        n_bins = -(-n_rows // bin_rows)
        min_in_bin = max(1, bin_rows // 2)

        def unbin(b: np.ndarray) -> np.ndarray:
            return np.repeat(b, bin_rows, axis=0)[:n_rows]

        # running level of the ratio (binned medians: robust to dropouts shorter than half
        # the window) and dropouts below a fraction of it
        level_half = max(1, _rows(cfg.dropout_window_s / 2, bin_seconds))
        level_bins = bin_median(ratio, bin_rows, min_in_bin)
        running = unbin(rolling_median(level_bins, -level_half, level_half + 1, 1))
        running = np.where(np.isfinite(running), running, 1.0)
        with np.errstate(all="ignore"):
            relative = ratio / running
            # evidence: depth in log scale, 1 at dropout_level (a drop to 1 % scores ~3.8)
            x_drop = np.log(np.clip(relative, 1e-3, None)) / math.log(
                min(max(cfg.dropout_level, 1e-3), 0.999)
            )
        low = np.isfinite(relative) & (relative < cfg.dropout_level)

        # observed noise: running robust scatter of NB4-to-NB4 changes, in units of the
        # expected statistical noise (q ~ 1 for a normal channel)
        clean = d.copy()
        clean[low | ~steady] = np.nan
        z = np.full(d.shape, np.nan)
        with np.errstate(all="ignore"):
            z[1:] = np.abs(np.diff(clean, axis=0)) / np.sqrt(sigma[1:] ** 2 + sigma[:-1] ** 2)
            # NB4 pairs across a jump of the reference (scan and levelling steps), where the
            # channels' slightly different response to mu shows, say nothing about noise
            jump = np.abs(np.diff(np.log(self.level))) > cfg.level_jump
        z[1:][jump] = np.nan
        noise_half = _rows(cfg.noise_window_s / 2, period)
        # running median of |z| over noise_window_s, computed on bin medians (cheaper)
        z_bins = bin_median(z, bin_rows, min_in_bin)
        half_bins = max(1, round(noise_half / bin_rows))
        q = unbin(rolling_median(z_bins, -half_bins, half_bins + 1, max(2, half_bins // 2)))
        q /= 0.6745
        observed = q * sigma
        with np.errstate(all="ignore"):
            x_noise = np.minimum(q / cfg.noise_factor, observed / cfg.noise_min_sigma)
        x_noise[~np.broadcast_to(steady, x_noise.shape)] = np.nan
        noise_min_rows = _rows(cfg.noise_min_s, period)

        # spikes: excess over the running median, above the expected and observed noise
        spike_half = _rows(cfg.spike_window_s / 2, period)
        base = rolling_median(ratio, -spike_half, spike_half + 1, 3)
        with np.errstate(all="ignore"):
            excess = ratio / base - 1.0
            threshold = np.maximum(
                cfg.spike_min,
                cfg.spike_sigma * np.fmax(sigma, np.where(np.isfinite(observed), observed, 0)),
            )
            x_spike = excess / threshold
        x_spike[~np.broadcast_to(point_ok, x_spike.shape) | low] = np.nan
        spike_max = _rows(cfg.spike_max_s, period)

        point_rows = np.zeros(ratio.shape, dtype=bool)
        for j, c in enumerate(live_idx):
            ch = g.channels[c]
            evidence = self.extra[ch].setdefault("evidence", {})
            cands = self.candidates[ch]
            for first, last in runs(_close_runs(low[:, j], 2)):
                x = float(np.nanmax(x_drop[first : last + 1, j]))
                cands.append(
                    _Candidate("dropout", first, last, x, (last - first + 1) * period, "seconds")
                )
                point_rows[first : last + 1, j] = True
            evidence["dropout"] = _sub_max(np.where(low[:, j], np.nan, x_drop[:, j]))
            for first, last in runs(_close_runs(x_noise[:, j] >= 1.0, noise_half)):
                n = last - first + 1
                x = min(float(np.nanmax(x_noise[first : last + 1, j])), n / noise_min_rows)
                typical = float(np.nanmedian(observed[first : last + 1, j]))
                cands.append(_Candidate("noise", first, last, x, typical, "relative sigma"))
            evidence["noise"] = _sub_max(x_noise[:, j])
            for first, last in runs(np.nan_to_num(x_spike[:, j], nan=0.0) >= 1.0):
                if last - first + 1 > spike_max:
                    continue
                x = float(np.nanmax(x_spike[first : last + 1, j]))
                factor = float(np.nanmax(excess[first : last + 1, j])) + 1.0
                cands.append(_Candidate("spike", first, last, x, factor, "factor"))
                point_rows[first : last + 1, j] = True
            evidence["spike"] = _sub_max(x_spike[:, j])

        # level changes on the binned log ratio (steady NB4s, point anomalies removed)
        level_d = d.copy()
        level_d[~np.broadcast_to(steady, d.shape) | point_rows] = np.nan
        b = bin_median(level_d, bin_rows, min_in_bin)
        w = max(2, _rows(cfg.step_window_s, bin_seconds))
        delta = window_shift(b, w, max(2, w // 3))
        shifted_before = np.full(delta.shape, np.nan)
        shifted_after = np.full(delta.shape, np.nan)
        shifted_before[w:] = delta[:-w]
        shifted_after[:-w] = delta[w:]
        sharp = delta - 0.5 * (np.nan_to_num(shifted_before) + np.nan_to_num(shifted_after))
        # noise of the bin medians from the observed per-NB4 noise (the largest within a
        # window, so that a window reaching into a noisy period is judged by its noise)
        obs_bins = bin_median(np.where(np.isfinite(observed), observed, sigma), bin_rows, 1)
        bin_noise = 1.25 * np.where(np.isfinite(obs_bins), obs_bins, 0.0) / math.sqrt(bin_rows)
        noise_step = 1.25 * math.sqrt(2.0 / w) * _rolling_max(bin_noise, w)
        with np.errstate(all="ignore"):
            x_step = np.minimum(
                np.abs(sharp) / cfg.step_min,
                np.abs(sharp) / np.maximum(cfg.step_sigma * noise_step, 1e-12),
            )

        def bin_first(k: int) -> int:
            return min(k * bin_rows, n_rows - 1)

        corrected = b.copy()
        for j, c in enumerate(live_idx):
            ch = g.channels[c]
            # change points: peaks of |delta|; their sharpness is the level change (a steady
            # drift gives peaks with no sharpness)
            peaks = [
                _refine(b[:, j], k, w) for k in _change_points(delta[:, j], w, cfg.segment_min)
            ]
            changes = [
                k
                for k in peaks
                if abs(sharp[k, j]) >= max(cfg.segment_min, cfg.step_sigma * noise_step[k, j])
            ]
            used: set[int] = set()
            for i, k in enumerate(changes):
                if k in used or x_step[k, j] < 1.0:
                    continue
                size = float(sharp[k, j])
                end_row = n_rows - 1
                for other in changes[i + 1 :]:
                    back = float(sharp[other, j])
                    if back * size < 0 and abs(size + back) <= 0.5 * abs(size):
                        used.add(other)
                        end_row = max(bin_first(other) - 1, bin_first(k))
                        break
                self.candidates[ch].append(
                    _Candidate(
                        "step",
                        bin_first(k),
                        end_row,
                        float(x_step[k, j]),
                        math.expm1(size),
                        "relative",
                    )
                )
            self.extra[ch]["evidence"]["step"] = _sub_max(x_step[:, j])
            for k in changes:
                corrected[k:, j] -= sharp[k, j]
                corrected[max(0, k - 2) : k + 3, j] = np.nan

        # drifts: running slope of the binned log ratio with its level changes removed
        half = max(2, _rows(cfg.drift_window_s / 2, bin_seconds))
        per_hour = 3600.0 / bin_seconds
        slope = rolling_slope(corrected, half, half) * per_hour
        n_fit = 2 * half + 1
        slope_noise = (
            _rolling_max(bin_noise, half) / math.sqrt(n_fit * (n_fit**2 - 1) / 12.0) * per_hour
        )
        with np.errstate(all="ignore"):
            x_slope = np.minimum(
                np.abs(slope) / cfg.drift_min_slope,
                np.abs(slope) / np.maximum(cfg.drift_sigma * slope_noise, 1e-12),
            )
        for j, c in enumerate(live_idx):
            ch = g.channels[c]
            best_sub = 0.0
            covered: list[tuple[int, int]] = []
            for sign in (1.0, -1.0):
                above = (np.nan_to_num(sign * slope[:, j], nan=0.0) > 0) & (
                    np.nan_to_num(x_slope[:, j], nan=0.0) >= 0.5
                )
                for first, last in runs(above):
                    # the drift runs where the centred slope is at least half its typical
                    # value (a window centred on the start of a ramp sees half its slope);
                    # its total change is the integral of the slope over that stretch (for
                    # a step, that integral is the step: small level changes that were not
                    # removed give small totals, a sustained drift a large one)
                    directed = np.nan_to_num(sign * slope[:, j], nan=0.0)
                    typical = float(np.percentile(directed[first : last + 1], 90))
                    peak = first + int(np.argmax(directed[first : last + 1]))
                    if any(a <= peak <= b for a, b in covered):
                        continue
                    first_bin = last_bin = peak
                    while first_bin > 0 and directed[first_bin - 1] >= 0.5 * typical:
                        first_bin -= 1
                    while last_bin < n_bins - 1 and directed[last_bin + 1] >= 0.5 * typical:
                        last_bin += 1
                    covered.append((first_bin, last_bin))
                    change = float(directed[first_bin : last_bin + 1].sum()) / per_hour
                    x = min(
                        float(np.nanmax(x_slope[first : last + 1, j])),
                        change / cfg.drift_min_change,
                    )
                    if x < 1.0:
                        best_sub = max(best_sub, x)
                        continue
                    last_row = min(bin_first(last_bin) + bin_rows - 1, n_rows - 1)
                    self.candidates[ch].append(
                        _Candidate(
                            "drift",
                            bin_first(first_bin),
                            last_row,
                            x,
                            math.expm1(sign * typical),
                            "relative per hour",
                        )
                    )
            self.extra[ch]["evidence"]["drift"] = round(best_sub, 4)

    # -- result
    def _result(self) -> dict[str, Any]:
        g, cfg = self.grid, self.cfg
        end_time = float(g.times[-1] + g.period)
        channels: dict[str, Any] = {}
        any_anomalous = False
        for ch in g.channels:
            if self.status.get(ch) == "dead":
                channels[str(ch)] = {
                    "status": "dead",
                    "score": 0.0,
                    "events": [],
                    "reason": self.reason.get(ch, "dead"),
                    **self.extra[ch],
                }
                continue
            events = []
            best = 0.0
            for cand in self.candidates[ch]:
                best = max(best, cand.x)
                if cand.x < 1.0:
                    continue
                start = float(g.times[cand.first])
                last_time = float(g.times[cand.last]) + g.period
                end = end_time if cand.last >= self.n_rows - 1 else last_time
                events.append(
                    {
                        "type": cand.type,
                        "start": start,
                        "end": end,
                        "score": round(evidence_score(cand.x, cfg.score_exponent), 6),
                        "magnitude": round(float(cand.magnitude), 6),
                        "unit": cand.unit,
                        "evidence": round(float(cand.x), 4),
                    }
                )
            for value in self.extra[ch].get("evidence", {}).values():
                best = max(best, min(float(value), 0.999))
            events.sort(key=lambda e: cast(float, e["start"]))
            score = evidence_score(best, cfg.score_exponent)
            status = "anomalous" if events else "normal"
            if status == "normal":
                score = min(score, 0.4999)
            any_anomalous |= bool(events)
            entry: dict[str, Any] = {
                "status": status,
                "score": round(score, 6),
                "events": events,
                "evidence": round(best, 4),
            }
            entry.update({k: v for k, v in self.extra[ch].items() if k != "evidence"})
            by_type = dict(self.extra[ch].get("evidence", {}))
            for cand in self.candidates[ch]:
                by_type[cand.type] = round(max(by_type.get(cand.type, 0.0), cand.x), 4)
            entry["evidence_by_type"] = by_type
            if ch in self.configured:
                entry["reason"] = "configured dead"
            channels[str(ch)] = entry
        return {
            "fill": int(self.fill),
            "year": int(self.year),
            "start": float(g.times[0]),
            "end": end_time,
            "anomalous": any_anomalous,
            "channels": channels,
            "n_nb4": int(self.n_rows),
            "n_live": int(getattr(self, "n_live", 0)),
            "notes": self.notes,
            "version": __version__,
            "settings": cfg.to_dict(),
        }


@dataclass
class RatioView:
    """What the detector compares, for plots: per NB4 and channel (``channels`` order)."""

    times: np.ndarray
    channels: list[int]
    live: np.ndarray
    """(channels,) bool: live channels (the others are dead)."""
    normalised: np.ndarray
    """(rows, channels) rate over the channel's median ratio to the median channel."""
    ratio: np.ndarray
    """(rows, channels) ratio to the leave-one-out reference, 1 = normal (NaN: not judged)."""
    level: np.ndarray
    """(rows,) reference level relative to its bright level."""


def ratio_view(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> RatioView:
    """The normalised rates and ratios the detector looks at (runs the detector)."""
    cfg = _settings(settings)
    configured = {int(c) for c in dead_channels}
    if len(series) == 0:
        raise DetectorInputError(fill, "series has no row")
    grid = _build_grid(series, fill, configured)
    detector = _Detector(grid, cfg, fill=fill, year=year, configured=configured)
    detector.run()
    shape = grid.rate.shape
    nan = np.full(shape, np.nan)
    return RatioView(
        times=grid.times,
        channels=grid.channels,
        live=detector.live,
        normalised=getattr(detector, "normalised", nan),
        ratio=getattr(detector, "ratio", nan),
        level=getattr(detector, "level", np.full(shape[0], np.nan)),
    )


# ---------------------------------------------------------------- files and CLI


def load_settings(path: str | Path | None) -> DetectorSettings:
    """Settings from a JSON or YAML file (a top-level ``detector:`` section is accepted)."""
    if path is None:
        return DetectorSettings()
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # type: ignore[import-untyped]

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("detector"), dict):
        data = data["detector"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: detector settings must be a mapping")
    return DetectorSettings.from_mapping(data)


def detect_file(
    parquet_path: str | Path,
    json_out: str | Path,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> dict[str, Any]:
    """Run :func:`detect_fill` on a fill series Parquet file and write the result atomically."""
    try:
        series = pd.read_parquet(parquet_path)
    except (OSError, ValueError) as exc:
        raise DetectorInputError(fill, f"cannot read {parquet_path}: {exc}") from exc
    result = detect_fill(
        series, fill=fill, year=year, settings=settings, dead_channels=dead_channels
    )
    write_json_atomic(json_out, result)
    return result


def _parse_dead(text: str) -> list[int]:
    text = text.strip()
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--dead wants channel numbers like 6,8,9: {text}"
        ) from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("detect", help="find anomalies in one fill series")
    parser.add_argument("series", type=Path, help="fill series Parquet file")
    parser.add_argument("out", type=Path, help="result JSON to write")
    parser.add_argument("--fill", type=int, required=True)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--settings", type=Path, default=None, help="JSON or YAML settings")
    parser.add_argument("--dead", type=_parse_dead, default=[], help="dead channels, e.g. 6,8,9")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.settings)
        result = detect_file(
            args.series,
            args.out,
            fill=args.fill,
            year=args.year,
            settings=settings,
            dead_channels=args.dead,
        )
    except (DetectorInputError, ValueError, OSError) as exc:
        print(f"pltanomaly detect: {exc}")
        return 2
    bad = [c for c, v in result["channels"].items() if v["status"] == "anomalous"]
    dead = [c for c, v in result["channels"].items() if v["status"] == "dead"]
    print(f"fill {args.fill}: anomalous channels {bad or 'none'}; dead {dead}; wrote {args.out}")
    return 0
