"""The reference each channel is compared with, and its ratio to it.

Each live channel's rate is normalised by its median ratio to the median channel; its
reference is the median of the *other* live channels' normalised rates in the same NB4
(leave-one-out, :func:`kernels.loo_median`), and the log of its ratio to the reference,
normalised to 0 over the first ``baseline_s`` of steady beam, is what the detectors look at.
Everything common to all channels (luminosity decay, levelling, emittance scans, run
boundaries) cancels in the ratio.

**Pileup dependence** does not cancel: a channel's response depends slightly on mu, so its
ratio follows the luminosity (fill decay, levelling steps, scans). Its coefficient is fitted
per channel on the *fast* part of the ratio's and the luminosity's changes (each minus its
running median over ``pileup_window_s``): scan and levelling steps move the luminosity within
minutes, which no drift does, so a drift does not bias the fit; without such steps the
coefficient shrinks to 0 (a fill that only decays cannot tell pileup from drift, and the
calibrated drift threshold then carries the channels' spread). The fitted dependence is
removed from the ratio, and so is what the channels' fits leave in common.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pltanomaly.channels.detect.calibration import nanmedian, robust_scale
from pltanomaly.channels.detect.grid import Grid
from pltanomaly.channels.detect.kernels import bin_median, loo_median, rolling_median
from pltanomaly.channels.detect.settings import DetectorSettings

PILEUP_PRIOR = 0.3
"""Prior standard deviation of a pileup coefficient (ratio change per unit of relative
luminosity): wide; it only matters when the fill has no fast luminosity change."""
PILEUP_MIN_LEVEL = 0.25
"""The fit uses NB4s at this fraction of the bright level or more: the bottoms of a scan
would weigh a curvature of the response, which the linear dependence does not hold."""


@dataclass
class BeamMasks:
    """Per NB4: the reference level relative to its bright level, and where it is judged."""

    level: np.ndarray
    point_ok: np.ndarray
    """Beam on: the point detectors judge these NB4s."""
    steady: np.ndarray
    """Beam on and near its running maximum (not a scan's low points): the level detectors
    judge these NB4s."""


def beam_masks(grid: Grid, live: np.ndarray, cfg: DetectorSettings) -> BeamMasks:
    rate_u = np.where(grid.usable, grid.rate, np.nan)
    raw_level = nanmedian(rate_u[:, live], axis=1)
    finite = np.isfinite(raw_level)
    bright_level = float(np.percentile(raw_level[finite], 95)) if finite.any() else 0.0
    level = raw_level / bright_level if bright_level > 0 else raw_level * np.nan
    point_ok = np.isfinite(level) & (level >= cfg.min_level)
    running_max = rolling_max(level, grid.rows(cfg.steady_window_s / 2))
    steady = point_ok & (level >= cfg.steady_fraction * running_max)
    return BeamMasks(level, point_ok, steady)


@dataclass
class Ratios:
    """(rows, channels) arrays, NaN where a channel is dead or an NB4 not judged."""

    normalised: np.ndarray
    """Rate over the channel's median ratio to the median channel."""
    log_ratio: np.ndarray
    """Log of the ratio to the leave-one-out reference, pileup dependence removed, 0 at the
    start of the fill."""
    baseline: dict[int, float]
    """Per live column, the ratio the log ratio was normalised by."""
    pileup: dict[int, float]
    """Per live column, the fitted pileup coefficient (ratio change per unit of level)."""


def ratios(grid: Grid, live: np.ndarray, masks: BeamMasks, cfg: DetectorSettings) -> Ratios:
    rate_u = np.where(grid.usable, grid.rate, np.nan)
    live_idx = np.flatnonzero(live)
    raw_level = nanmedian(rate_u[:, live], axis=1)
    scale = np.ones(len(grid.channels))
    good = masks.steady
    for c in live_idx:
        with np.errstate(all="ignore"):
            value = nanmedian(rate_u[good, c] / raw_level[good]) if good.any() else np.nan
        scale[c] = value if np.isfinite(value) and value > 0 else 1.0
    normalised = rate_u / scale
    reference = loo_median(np.ascontiguousarray(normalised), live)
    with np.errstate(all="ignore"):
        raw_ratio = normalised / reference
        log_ratio = np.where(np.isfinite(raw_ratio), np.log(np.clip(raw_ratio, 1e-3, None)), np.nan)
    log_ratio[~masks.point_ok] = np.nan
    pileup = _remove_pileup(log_ratio, live_idx, masks, grid, cfg)
    # the channels' fits share their errors (same luminosity history): what they leave in
    # common is no channel's, as nothing common survives the ratio to the other channels
    common = nanmedian(log_ratio[:, live_idx], axis=1)
    log_ratio[:, live_idx] -= np.nan_to_num(common, nan=0.0)[:, None]
    early = good & (np.cumsum(good) <= grid.rows(cfg.baseline_s))
    baseline = {}
    for c in live_idx:
        column = log_ratio[:, c]
        norm = nanmedian(column[early]) if np.isfinite(column[early]).sum() >= 20 else np.nan
        if not np.isfinite(norm):
            norm = nanmedian(column[good]) if np.isfinite(column[good]).any() else 0.0
        log_ratio[:, c] -= norm
        baseline[int(c)] = float(np.exp(norm))
    return Ratios(normalised, log_ratio, baseline, pileup)


def _remove_pileup(
    log_ratio: np.ndarray,
    live_idx: np.ndarray,
    masks: BeamMasks,
    grid: Grid,
    cfg: DetectorSettings,
) -> dict[int, float]:
    """Fit and remove (in place) each live channel's dependence on the reference level
    ``L``: ``b1 (L - 1) + b2 (L - 1)^2`` (the ratio of two linear responses is not linear in
    its log). Returns ``b1`` per live column."""
    bin_rows = grid.rows(cfg.bin_s)
    half = max(2, round(grid.rows(cfg.pileup_window_s / 2) / bin_rows))
    offset = np.where(masks.point_ok, masks.level, np.nan) - 1.0
    regressors = np.column_stack([offset, offset**2])
    x_bins = bin_median(regressors, bin_rows, max(1, bin_rows // 2))
    x_fast = x_bins - rolling_median(x_bins, -half, half + 1, 3)
    d_bins = bin_median(np.ascontiguousarray(log_ratio[:, live_idx]), bin_rows, 1)
    d_fast = d_bins - rolling_median(d_bins, -half, half + 1, 3)
    level_bins = 1.0 + np.nan_to_num(x_bins[:, 0], nan=-1.0)
    coefficients = {}
    for j, c in enumerate(live_idx):
        y = d_fast[:, j]
        ok = np.isfinite(x_fast).all(axis=1) & np.isfinite(y) & (level_bins >= PILEUP_MIN_LEVEL)
        beta = np.zeros(2)
        if ok.sum() >= 10:
            beta = _huber_ridge(x_fast[ok], y[ok], level_bins[ok])
        coefficients[int(c)] = round(float(beta[0]), 5)
        log_ratio[:, c] -= regressors @ beta
    return coefficients


def _huber_ridge(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted least squares of ``y ~ x @ beta`` with a Gaussian prior of width
    :data:`PILEUP_PRIOR` on each coefficient and Huber reweighting (steps, spikes and
    dropouts do not pull); ``weight`` is the statistical weight (~ rate)."""
    beta = np.zeros(x.shape[1])
    noise = max(float(robust_scale(y)), 1e-6)
    for _ in range(3):
        resid = y - x @ beta
        scale = max(float(robust_scale(resid)), 1e-6)
        w = weight * np.minimum(1.0, 2.0 * scale / np.maximum(np.abs(resid), 1e-12))
        ridge = np.mean(w) * (noise / PILEUP_PRIOR) ** 2
        normal = (x * w[:, None]).T @ x + ridge * np.eye(x.shape[1])
        beta = np.linalg.solve(normal, (x * w[:, None]).T @ y)
    return beta


def rolling_max(x: np.ndarray, half: int) -> np.ndarray:
    """Centred running maximum over ``2 * half + 1`` rows (per column), ignoring NaN."""
    values = pd.DataFrame(np.where(np.isfinite(x), x, -np.inf))
    out = values.rolling(2 * half + 1, center=True, min_periods=1).max().to_numpy()
    out = np.where(np.isfinite(out), out, np.nan)
    return out[:, 0] if np.ndim(x) == 1 else out
