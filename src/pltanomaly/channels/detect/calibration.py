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

import itertools
import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, overload

import numpy as np

from pltanomaly.channels.layout import ORBITS_PER_NB4
from pltanomaly.core.robust import MAD_TO_SIGMA

CALIBRATED_DETECTORS = 4
"""spike, noise, step and drift share the false-alarm rate."""


def nanmedian(x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> Any:
    """Median of the finite values (NaN, silently, for a slice without any). Along an axis
    by one sort (numpy's nanmedian loops over the slices of a 2-D array)."""
    values = np.where(np.isfinite(x), x, np.nan)
    if axis is None or values.ndim == 1:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(values, axis=axis, keepdims=keepdims)
    ordered = np.sort(values, axis=axis)  # NaN last
    count = np.sum(np.isfinite(values), axis=axis, keepdims=True)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0), axis=axis)
    high = np.take_along_axis(ordered, np.minimum(count // 2, ordered.shape[axis] - 1), axis=axis)
    median = np.where(count > 0, 0.5 * (low + high), np.nan)
    return median if keepdims else np.squeeze(median, axis=axis)


@overload
def robust_scale(x: np.ndarray, axis: None = None) -> float: ...
@overload
def robust_scale(x: np.ndarray, axis: int) -> np.ndarray: ...
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
    """Expected relative noise per NB4 of the log ratio: the channel's statistical noise
    ``k^2 / rate``, its reference's ``k_ref^2 / typical rate`` (the median live channel's)
    and a jitter, ``sqrt(k^2/rate + k_ref^2/typical + jitter^2)``, times the channel's own
    ``factor``."""

    k: float
    k_ref: float
    jitter: float
    factor: np.ndarray

    def sigma(self, rate: np.ndarray, typical: np.ndarray) -> np.ndarray:
        """(rows, live channels) expected noise of one NB4's log ratio; ``typical`` is the
        (rows,) median live rate."""
        with np.errstate(all="ignore"):
            own = self.k**2 / np.where(rate > 0, rate, np.nan)
            ref = self.k_ref**2 / np.where(typical > 0, typical, np.nan)[:, None]
            base = np.sqrt(own + ref + self.jitter**2)
        return base * self.factor[None, :]


CLIP_PULL = 5.0
"""Pulls (an NB4-to-NB4 change over its expected noise) are clipped here before they are
squared and averaged: a spike or a step must not make a noisy period."""
CLIPPED_MEAN = (
    1.0
    - 2 * CLIP_PULL * math.exp(-(CLIP_PULL**2) / 2) / math.sqrt(2 * math.pi)
    - (1 - CLIP_PULL**2) * math.erfc(CLIP_PULL / math.sqrt(2))
)
"""Mean of a clipped squared standard normal (~1)."""


def variance_factor(pulls: np.ndarray, window: int) -> np.ndarray:
    """Running mean over ``window`` rows of the clipped squared pulls: the observed variance
    over the expected one (1 for normal noise), NaN where too few pulls are finite."""
    import pandas as pd

    squared = pd.DataFrame(np.minimum(np.abs(pulls), CLIP_PULL) ** 2)
    mean = squared.rolling(window, center=True, min_periods=max(2, window // 2)).mean()
    return mean.to_numpy() / CLIPPED_MEAN


def fit_noise_model(d: np.ndarray, rate: np.ndarray, pairs: np.ndarray, window: int) -> NoiseModel:
    """Fit :class:`NoiseModel` on the NB4-to-NB4 changes of the log ratio ``d`` (rows, live
    channels) where ``pairs`` (rows - 1, live channels) says a change is usable.

    The change of two NB4s has variance ``k^2 (1/r1 + 1/r2) + k_ref^2 (1/t1 + 1/t2) +
    2 jitter^2`` (``t``: the typical rate; ``k^2`` at least the ``1 / orbits`` of zero
    counting): per channel and quartile of its ``1/r1 + 1/r2``,
    the median square is a point, and the plane is fitted through the points of all channels
    with Huber weights (an anomalous channel is an outlier, not the model). A channel's
    factor is its own normal noise over the model: the lower quartile of its variance factor
    over ``window`` rows along the fill (a noisy period raises the upper ones), over the
    lower quartile a normal channel has, bounded by the spread of the other channels'."""
    typical = nanmedian(rate, axis=1)
    with np.errstate(all="ignore"):
        change = np.diff(d, axis=0)
        inverse = 1.0 / rate[1:] + 1.0 / rate[:-1]
        inverse_typical = np.broadcast_to(
            (1.0 / typical[1:] + 1.0 / typical[:-1])[:, None], change.shape
        )
    ok = pairs & np.isfinite(change) & np.isfinite(inverse) & (inverse > 0)
    ok &= np.isfinite(inverse_typical)
    n_live = d.shape[1]
    points: list[tuple[float, float, float]] = []
    for j in range(n_live):
        x, t, y = inverse[ok[:, j], j], inverse_typical[ok[:, j], j], change[ok[:, j], j] ** 2
        if len(x) < 40:
            continue
        edges = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
        for lo, hi in itertools.pairwise(edges):
            inside = (x >= lo) & (x <= hi)
            median_square = float(np.median(y[inside])) / 0.4549  # median of chi2(1)
            points.append((float(np.median(x[inside])), float(np.median(t[inside])), median_square))
    if not points:
        return NoiseModel(0.01, 0.0, 0.0, np.ones(n_live))
    xs, ts, vs = (np.array(column) for column in zip(*points, strict=True))
    # zero counting alone gives k^2 >= 1 / orbits: the fit adds to that floor (without it, a
    # fill whose rates change little cannot tell the channel's statistics from a jitter)
    floor = 1.0 / ORBITS_PER_NB4
    extra, k2_ref, j2 = _robust_plane(np.column_stack([xs, ts, np.ones_like(xs)]), vs, xs * floor)
    k2 = floor + extra
    model = NoiseModel(math.sqrt(k2), math.sqrt(k2_ref), math.sqrt(j2 / 2.0), np.ones(n_live))
    with np.errstate(all="ignore"):
        pulls = np.where(ok, change / np.sqrt(k2 * inverse + k2_ref * inverse_typical + j2), np.nan)
    factor = variance_factor(pulls, window)
    middle = nanmedian(factor, axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(np.where(np.isfinite(factor), factor, np.nan), 0.25, axis=0)
    with np.errstate(all="ignore"):
        typical_low = nanmedian(low / middle)
    own = np.sqrt(low / typical_low) if math.isfinite(typical_low) and typical_low > 0 else low
    own = np.where(np.isfinite(own) & (own > 0), own, 1.0)
    log_own = np.log(own)
    centre = float(np.median(log_own))
    spread = max(float(robust_scale(log_own)), 0.05)
    model.factor = np.exp(np.clip(log_own, centre - 3 * spread, centre + 3 * spread))
    return model


def _robust_plane(x: np.ndarray, v: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``v ~ known + x @ c`` with ``c >= 0``, in relative terms, with Tukey's biweight (the
    points of an anomalous channel get no weight)."""
    coef = _nonnegative_fit(x, v - known, 1.0 / np.maximum(v, 1e-30) ** 2)
    for _ in range(8):
        fitted = np.maximum(known + x @ coef, 1e-30)
        relative = (v - fitted) / fitted
        scale = max(float(robust_scale(relative)), 1e-3)
        u = relative / (4.685 * scale)
        weight = np.where(np.abs(u) < 1.0, (1.0 - u**2) ** 2, 0.0)
        coef = _nonnegative_fit(x, v - known, weight / fitted**2)
    return coef


def _nonnegative_fit(x: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares of ``v ~ x @ c`` with every ``c >= 0`` (the best of the fits
    on each subset of the columns: there are only a few)."""
    sqrt_w = np.sqrt(w)
    best, best_cost = np.zeros(x.shape[1]), math.inf
    for size in range(1, x.shape[1] + 1):
        for columns in itertools.combinations(range(x.shape[1]), size):
            sub = x[:, columns]
            coef, *_ = np.linalg.lstsq(sub * sqrt_w[:, None], v * sqrt_w, rcond=None)
            if (coef < 0).any():
                continue
            cost = float(np.sum(w * (v - sub @ coef) ** 2))
            if cost < best_cost:
                best_cost = cost
                best = np.zeros(x.shape[1])
                best[list(columns)] = coef
    return best
