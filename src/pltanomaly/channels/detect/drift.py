"""Drifts: lasting slow changes of the ratio that the luminosity does not explain.

After the pileup dependence (:mod:`~pltanomaly.channels.detect.reference`) and the level changes
(:mod:`~pltanomaly.channels.detect.step`) are removed, stretches where the least-squares slope of
the binned log ratio (over ``drift_window_s`` and twice that) stands out are candidates. What
decides is the *lasting change* over the stretch: the smoothed level at its end minus the
level at its start. Wander that comes back and what is left of the pileup dependence change
every channel's level too, so the threshold is the false-alarm number of the normal spread
of level changes over the same time lag, measured on every live channel of the fill at
every time and pooled (a drifting channel's own spread would hide its drift), or across the
live channels over the same stretch when that is larger, and at least
``drift_min_change``. ``x`` is the change over its threshold.
"""

from __future__ import annotations

import math

import numpy as np

from pltanomaly.channels.detect.calibration import detector_z, noisiest_normal_scale, robust_scale
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.intervals import runs
from pltanomaly.channels.detect.kernels import rolling_median, rolling_slope
from pltanomaly.channels.detect.reference import rolling_max
from pltanomaly.channels.detect.score import Candidate, Findings

SCALES = (1.0, 2.0)
"""Slope windows, in units of ``drift_window_s``; they share the drift false-alarm rate."""
LEVEL_WINDOW_S = 300.0
"""The level at either end of a stretch is the running median over this time."""
SEARCH = 0.5
"""Stretches whose slope reaches this fraction of its threshold are candidates."""


class LevelChanges:
    """The normal spread of the live channels' level changes over a time lag: pooled over the
    fill, and across the channels over one stretch (the channels' responses to the same
    luminosity changes spread)."""

    def __init__(self, level: np.ndarray) -> None:
        self.level = level
        self._spread: dict[int, float] = {}

    def spread(self, lag: int) -> float:
        lag = max(1, min(lag, self.level.shape[0] - 1))
        if lag not in self._spread:
            change = self.level[lag:] - self.level[:-lag]
            value = noisiest_normal_scale(np.asarray(robust_scale(change, axis=0)))
            self._spread[lag] = value if math.isfinite(value) else 0.0
        return self._spread[lag]

    def across(self, first: int, last: int) -> float:
        """The spread of the live channels' level changes from bin ``first`` to ``last``."""
        value = robust_scale(self.level[last] - self.level[first])
        return float(value) if math.isfinite(value) else 0.0


def find_drifts(ctx: FillContext, corrected: np.ndarray, bin_noise: np.ndarray) -> Findings:
    findings = Findings("drift")
    per_hour = 3600.0 / ctx.bin_seconds
    n_bins = corrected.shape[0]
    half_level = max(1, round(LEVEL_WINDOW_S / 2 / ctx.bin_seconds))
    changes = LevelChanges(rolling_median(corrected, -half_level, half_level + 1, 3))
    covered: dict[int, list[tuple[int, int]]] = {ch: [] for ch in ctx.channels}
    for scale in SCALES:
        window = scale * ctx.cfg.drift_window_s
        half = max(2, round(window / 2 / ctx.bin_seconds))
        if 2 * half + 1 > n_bins:
            continue
        slope = rolling_slope(corrected, half, half) * per_hour
        n_fit = 2 * half + 1
        noise = rolling_max(bin_noise, half) / math.sqrt(n_fit * (n_fit**2 - 1) / 12.0) * per_hour
        spread = noisiest_normal_scale(np.asarray(robust_scale(slope, axis=0)))
        spread = spread if math.isfinite(spread) else 0.0
        z_alarm = detector_z(ctx.cfg.false_alarm_rate / len(SCALES), window)
        with np.errstate(all="ignore"):
            x_slope = np.abs(slope) / np.maximum(z_alarm * np.fmax(noise, spread), 1e-12)
        for j, ch in enumerate(ctx.channels):
            stretches = _stretches(slope[:, j], x_slope[:, j], covered[ch])
            for first_bin, last_bin, sign in stretches:
                lag = last_bin - first_bin
                change = sign * float(changes.level[last_bin, j] - changes.level[first_bin, j])
                z_lag = detector_z(
                    ctx.cfg.false_alarm_rate / len(SCALES), max(lag, 1) * ctx.bin_seconds
                )
                normal = max(changes.spread(lag), changes.across(first_bin, last_bin))
                threshold = max(ctx.cfg.drift_min_change, z_lag * normal)
                x = change / threshold if math.isfinite(change) else 0.0
                hours = max(lag, 1) / per_hour
                last_row = min(ctx.bin_first(last_bin) + ctx.bin_rows - 1, ctx.n_rows - 1)
                candidate = Candidate(
                    "drift",
                    ctx.bin_first(first_bin),
                    last_row,
                    x,
                    math.expm1(sign * change / hours) if math.isfinite(change) else 0.0,
                    "relative per hour",
                )
                if x < 1.0:
                    findings.note(ch, x)
                    findings.add_near(ch, candidate)
                    continue
                covered[ch].append((first_bin, last_bin))
                findings.add(ch, candidate)
            findings.note(ch, 0.0)
    return findings


def _stretches(
    slope: np.ndarray, x_slope: np.ndarray, covered: list[tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """``(first bin, last bin, sign)`` of the stretches where the slope stands out, each
    extended to where the centred slope falls below half its typical value (a window centred
    on the start of a ramp sees half its slope); stretches whose peak a shorter window
    already found are skipped."""
    n_bins = len(slope)
    found = []
    for sign in (1.0, -1.0):
        directed = np.nan_to_num(sign * slope, nan=0.0)
        above = (directed > 0) & (np.nan_to_num(x_slope, nan=0.0) >= SEARCH)
        for first, last in runs(above):
            typical = float(np.percentile(directed[first : last + 1], 90))
            peak = first + int(np.argmax(directed[first : last + 1]))
            if any(a <= peak <= b for a, b in covered):
                continue
            first_bin = last_bin = peak
            while first_bin > 0 and directed[first_bin - 1] >= 0.5 * typical:
                first_bin -= 1
            while last_bin < n_bins - 1 and directed[last_bin + 1] >= 0.5 * typical:
                last_bin += 1
            found.append((first_bin, last_bin, sign))
    return found
