"""What is normal, measured from the fill being analysed.

Every calibrated detector compares a statistic with its *normal spread*, estimated robustly
(median absolute deviation) along the fill and across the live channels, so that the few
anomalous channels of a fill do not inflate it, and sets its threshold at the number of
spreads that the false-alarm rate allows (:func:`z_threshold`, a two-sided Gaussian tail
over the statistic's independent tests per hour). The spread a threshold uses is that of the
noisiest normal channel (:func:`noisiest_normal_scale`) or, where a channel's own spread can
be trusted, the larger of its own and the typical channel's (:func:`typical_scale`). The
expected statistical noise per NB4 (:class:`NoiseModel`) is fitted the same way:
``var = k^2 / rate + jitter^2`` over all live channels, then a factor per channel (its own
normal noise, bounded by the other channels').
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

MAD_TO_SIGMA = 1.4826
"""Standard deviation of a Gaussian per unit of median absolute deviation."""
CALIBRATED_DETECTORS = 4
"""spike, noise, step and drift share the false-alarm rate."""


def nanmedian(x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> Any:
    """Median of the finite values (NaN, silently, for a slice without any)."""
    values = np.where(np.isfinite(x), x, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis, keepdims=keepdims)


def robust_scale(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Robust standard deviation (1.4826 x MAD) of the finite values (NaN if none)."""
    values = np.where(np.isfinite(x), x, np.nan)
    centre = nanmedian(values, axis=axis, keepdims=True)
    scale = MAD_TO_SIGMA * nanmedian(np.abs(values - centre), axis=axis)
    return float(scale) if axis is None else np.asarray(scale)


def typical_scale(per_channel: np.ndarray) -> float:
    """The normal spread of a statistic on a typical live channel: the median of theirs."""
    values = _positive(per_channel)
    return float(np.median(values)) if values.size else math.nan


def noisiest_normal_scale(per_channel: np.ndarray) -> float:
    """The normal spread of a statistic on the noisiest *normal* live channel: channels'
    spreads differ (wander, jitter), so their log spreads are taken as a Gaussian, measured
    robustly (median and MAD, so a few anomalous channels do not inflate it), and this is its
    expected largest of ``n`` channels. A drifting channel's own spread, which would hide its
    drift, is never used alone."""
    values = _positive(per_channel)
    if values.size == 0:
        return math.nan
    logs = np.log(values)
    spread = float(robust_scale(logs)) if values.size >= 3 else 0.0
    n = values.size
    expected_max = NormalDist().inv_cdf((n - 0.375) / (n + 0.25)) if n > 1 else 0.0
    return float(np.exp(np.median(logs) + expected_max * spread))


def _positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values) & (values > 0)]


def z_threshold(false_per_hour: float, tests_per_hour: float) -> float:
    """Spreads a two-sided Gaussian statistic must exceed for ``false_per_hour`` false alarms
    per channel-hour when it makes ``tests_per_hour`` independent tests an hour."""
    p = min(0.25, false_per_hour / (2.0 * max(tests_per_hour, 1e-9)))
    return NormalDist().inv_cdf(1.0 - p)


def detector_z(false_alarm_rate: float, window_s: float) -> float:
    """:func:`z_threshold` for one calibrated detector whose tests are ``window_s`` long."""
    return z_threshold(false_alarm_rate / CALIBRATED_DETECTORS, 3600.0 / max(window_s, 1e-9))


@dataclass
class NoiseModel:
    """Expected relative noise per NB4 of the log ratio: ``sqrt(k^2/rate + jitter^2)`` times
    the channel's own ``factor``."""

    k: float
    jitter: float
    factor: np.ndarray

    def sigma(self, rate: np.ndarray) -> np.ndarray:
        """(rows, live channels) expected noise of one NB4's log ratio."""
        with np.errstate(all="ignore"):
            base = np.sqrt(self.k**2 / np.where(rate > 0, rate, np.nan) + self.jitter**2)
        return base * self.factor[None, :]


def fit_noise_model(d: np.ndarray, rate: np.ndarray, pairs: np.ndarray) -> NoiseModel:
    """Fit :class:`NoiseModel` on the NB4-to-NB4 changes of the log ratio ``d`` (rows, live
    channels) where ``pairs`` (rows - 1, live channels) says a change is usable.

    The change of two NB4s has variance ``k^2 (1/r1 + 1/r2) + 2 jitter^2``: its median square
    is fitted in quantile bins of ``1/r1 + 1/r2`` pooled over the channels (a weak channel or a
    low-luminosity period spans the rate axis), then each channel's own median ratio to the
    model is its factor, bounded by the spread of the other channels' factors."""
    with np.errstate(all="ignore"):
        change = np.diff(d, axis=0)
        inverse = 1.0 / rate[1:] + 1.0 / rate[:-1]
    ok = pairs & np.isfinite(change) & np.isfinite(inverse) & (inverse > 0)
    n_live = d.shape[1]
    if ok.sum() < 20:
        return NoiseModel(0.01, 0.0, np.ones(n_live))
    x, y = inverse[ok], change[ok] ** 2
    edges = np.quantile(x, np.linspace(0.0, 1.0, 11))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 9)
    xs, vs = [], []
    for b in range(10):
        inside = which == b
        if inside.sum() >= 10:
            xs.append(float(np.median(x[inside])))
            vs.append(float(np.median(y[inside])) / 0.4549)  # median of chi2(1)
    k2, j2 = _nonnegative_line(np.array(xs), np.array(vs))
    model = NoiseModel(math.sqrt(k2), math.sqrt(j2 / 2.0), np.ones(n_live))
    with np.errstate(all="ignore"):
        expected = np.sqrt(k2 * inverse + j2)
        z = np.where(ok, np.abs(change) / expected, np.nan)
        own = nanmedian(z, axis=0) / 0.6745
    own = np.where(np.isfinite(own) & (own > 0), own, 1.0)
    log_own = np.log(own)
    centre = float(np.median(log_own))
    spread = max(float(robust_scale(log_own)), 0.05)
    model.factor = np.exp(np.clip(log_own, centre - 3 * spread, centre + 3 * spread))
    return model


def _nonnegative_line(x: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """``v ~ a x + b`` with ``a, b >= 0``, each point weighted by ``1 / v^2`` (relative)."""
    if len(x) == 0:
        return 1e-4, 0.0
    w = 1.0 / np.maximum(v, 1e-30) ** 2
    best: tuple[float, float, float] | None = None
    design = np.column_stack([x, np.ones_like(x)])
    solutions = []
    coef, *_ = np.linalg.lstsq(design * np.sqrt(w)[:, None], v * np.sqrt(w), rcond=None)
    solutions.append((float(coef[0]), float(coef[1])))
    solutions.append((float(np.sum(w * x * v) / np.sum(w * x * x)), 0.0))
    solutions.append((0.0, float(np.sum(w * v) / np.sum(w))))
    for a, b in solutions:
        if a < 0 or b < 0:
            continue
        cost = float(np.sum(w * (v - a * x - b) ** 2))
        if best is None or cost < best[0]:
            best = (cost, a, b)
    return (best[1], best[2]) if best else (1e-4, 0.0)
