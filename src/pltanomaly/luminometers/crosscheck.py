"""Per-fill cross-check: each luminometer against the consensus of the others, LS by LS.

Each luminometer's log ratio to the median of the others (STABLE BEAMS LS, values > 0) is
compared with what is normal, learnt from the fill itself, never from labels:

* **offsets**: the fill-level offset (``median_ratio``) and per-run offsets (each run anchored
  on its first LS: steps of 1-3 % at run boundaries are normal, a step inside a run is not);
* **linearity**: the ratio's dependence on the luminosity (SBIL within a fill), fitted with
  Huber weights jointly with the run offsets, its slope bounded by what linearity can do;
* **noise**: per-LS noise from LS-to-LS differences (robust, local: low-luminosity tails get
  their own), slow wander from differences 30 LS apart (at most a tenth of the fill), and
  how heavy the tails are (single-LS blips measured apart, on the LS judged);
* **wander**: how far the smoothed ratio strays over the rest of the fill; an excursion
  longer than a blip that comes back within its run must leave it (slow 1-2 % excursions
  the experts keep), one lasting to the end of its run, or followed only by LS that cannot
  be judged, is a step judged on the noise;
* **beam**: where the others' luminosity jumps (scans, dumps, levelling, fill edges) only an
  excursion larger than the jump is flagged, none where it moves by more than 10 %;
* **data losses**: a luminometer without data or under ``lost_fraction`` of what the others
  expect has lost data there (not judged); the LS beside a loss are partly integrated: a
  downward excursion beside its own loss, any beside the others' loss or a dump, is not
  judged. The validation log lists such LS as missing, not as anomalies.

A luminometer is flagged where its residual leaves ``threshold`` robust spreads (short
scale: against a running median; long scale: the running median itself, against its own
spread: the noise averaged by it, or the slow wander); ``threshold`` follows from a
false-alarm rate per LS (Gaussian tail), and departures under ``min_magnitude`` are not
reported. An excursion counts only if the luminometer also departs from each other
luminometer on its own (pair by pair, by at least half its move against the consensus),
which names the one off, and at least two others have data there (against one alone, which
of the two is off is unknown): an excursion two luminometers share is nobody's (a timing
effect); the echo a huge excursion leaves in the others' consensus is dropped. Short
excursions give ``dip``/``spike``, longer ones ``step``, ``drift`` or ``wave``; a chain of
many, or a stretch whose LS-to-LS noise exceeds what the luminometer's own noise (growing as
1/sqrt(luminosity) below the fill median) allows, in its ratio to every other, is ``noise``;
a whole fill or run off by more than ``scale_limit`` against every other gives ``scale``
(not for a luminometer whose LS-to-LS noise exceeds that limit); zero or negative values
while the others see beam give ``gap``.
With two luminometers only the disagreement is known: both are ``undecided``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.bril import LS_SECONDS
from pltanomaly.core.robust import MAD_TO_SIGMA, robust_sigma
from pltanomaly.luminometers.brilcalc import (
    BrilcalcError,
    luminometer_columns,
    read_fills,
    stable_values,
)

log = logging.getLogger(__name__)


def _gaussian_isf(tail: float) -> float:
    """The standard normal deviate with probability ``tail`` above it (the standard
    library's, so a fill job need not import scipy for one number)."""
    return NormalDist().inv_cdf(1.0 - tail)


@dataclass(frozen=True)
class CrosscheckConfig:
    """Knobs of the cross-check; ``false_alarm_per_ls`` sets every threshold."""

    false_alarm_per_ls: float = 1e-6
    """Two-sided probability per LS and test that Gaussian noise crosses the threshold."""
    min_present_ls: int = 20
    """A luminometer with fewer valid STABLE BEAMS LS in the fill is ``absent``."""
    local_window: int = 31
    """LS of the running median a short excursion is measured against (dips up to half)."""
    long_window: int = 9
    """LS of the running median a long excursion (step, drift) is measured on."""
    noise_window: int = 41
    """LS over which the local noise is measured."""
    max_slope: float = 0.03
    """Largest linearity slope fitted, per unit of luminosity relative to the fill median:
    published slopes (0.05-0.3 % per Hz/ub of SBIL) move a ratio by ~1 % over a fill whose
    luminosity falls by a factor 2-3."""
    run_anchor_ls: int = 30
    """A run's offset is the median of its first this many LS (a step inside a run is then
    an excursion from it; steps at run boundaries are normal)."""
    wander_lag: int = 30
    """LS apart of the differences that measure the slow wander of a ratio (a step moves only
    this many of them, so it cannot hide itself by inflating the wander)."""
    wander_quantile: float | None = 0.9
    """Quantile of the smoothed residual that measures the slow wander (:func:`slow_wander`)."""
    run_min_ls: int = 20
    """Runs with fewer LS share the fill-level offset."""
    scan_pad: int = 3
    """LS either side of a beam change (scan, edge) it still covers; the first and last LS of
    the fill are never flagged."""
    scan_step: float = 0.10
    """Where the others' luminosity moves by more than this within ``scan_pad`` LS (a scan,
    a dump: not levelling), nothing is flagged: ratios there follow the timing of each
    luminometer's LS, not its health."""
    min_relative_lumi: float = 0.05
    """LS where the others' luminosity is below this fraction of its fill median (beam dump,
    ramp) are not judged: ratios of near-zero values mean nothing."""
    lost_fraction: float = 0.2
    """A luminometer reading under this fraction of what the others expect has lost data
    there (like a zero: not judged, and the LS beside it are partial). The validation log
    lists such single LS (-78 to -99 %) as missing; the deepest drops it calls anomalies
    ("drop") keep 30 % of the luminosity."""
    scale_limit: float = 0.10
    """A whole fill or run off by more than this (relative) is a ``scale`` event: beyond the
    spread of calibrations between luminometers (fill medians 0.92-1.12 in 2015). Only a
    luminometer whose LS-to-LS noise is under it is judged so: one noisier than that (RAMSES
    in a van-der-Meer fill, 27-62 % per LS) is at its background floor, where its response
    is not linear and its median means no calibration."""
    min_magnitude: float = 0.01
    """Smallest departure reported (relative). Under 1 %, luminometers differ by how they
    integrate an LS, by linearity and by calibration drifts; the smallest anomaly the two
    validation logs of ``shared/real-data/lumi`` record that the data show is 1.1 % (a PLT
    drop in 2017; their 0.2-0.3 % drift in a pixel temperature test is not seen against the
    other luminometers)."""
    short_max: int = 20
    """Events up to this many LS are dips or spikes."""
    merge_gap: int = 5
    """Flagged LS this close are one event."""
    min_gap_ls: int = 10
    """Consecutive zero/negative LS that make a ``gap`` event (shorter ones are left to the
    experts' missing lists)."""
    pair_share: float = 0.5
    """Against each other luminometer an excursion must move by at least this share of its
    size: one that another luminometer follows (two at once: a beam or timing effect, or
    undecidable) is no single luminometer's."""
    pair_spare: bool = False
    """With four or more others, let one of them disagree."""
    echo_ratio: float = 3.0
    """An event facing an opposite one of another luminometer this many times larger, at
    the same LS, is that one's echo in the consensus and is dropped."""
    tail_quantile: float | None = 0.9
    """Quantile of the short-scale residual that measures how heavy the noise's tails are."""
    far_tail_quantile: float = 0.99
    far_tail_cap: float = 2.0
    """The far tail (this quantile) may raise the threshold by at most ``far_tail_cap``."""
    spike_tail: bool = True
    """Measure the tail of single-LS blips apart (:func:`spike_tail_factor`, not capped)."""
    blip_quantile: float = 0.99
    """Quantile of the blips that measures their tail."""
    blip_ls: int = 2
    """Excursions up to this many LS are blips, judged against that tail."""
    usual_wander_cap: float = 3.0
    """Judged again with the year's usual measures of normal, a fill's slow wander counts
    at most this many times the luminometer's usual one (its tails at most the usual ones)."""
    noise_gap: int = 200
    noise_min_events: int = 3
    """Short excursions of one luminometer closer than ``noise_gap`` LS to each other, at
    least ``noise_min_events`` of them, are one ``noise`` event (a jumpy luminometer)."""

    @property
    def threshold(self) -> float:
        """Robust spreads a residual must leave to be flagged."""
        return _gaussian_isf(self.false_alarm_per_ls / 2)


def nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """Median of the finite values of each row; NaN for a row with none (handled here, so
    that all-missing LS raise no warning)."""
    out = np.full(values.shape[0], np.nan)
    some = np.isfinite(values).any(axis=1)
    if some.any():
        out[some] = np.nanmedian(values[some], axis=1)
    return out


def nanmedian_all(values: np.ndarray) -> float:
    """Median of the finite values (NaN when there are none)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy(float)


def heavy_tail_factor(z: np.ndarray, quantile: float) -> float:
    """How much wider than Gaussian the tails of a luminometer's residual are (>= 1): its
    ``quantile`` of ``|z|`` over the Gaussian one. Dividing by it keeps the false-alarm rate
    of a jumpy luminometer (RAMSES at low luminosity, BCM1FSI) near the nominal one; short
    anomalies cover far fewer LS than ``1 - quantile`` of a fill and do not move it."""
    finite = np.abs(z[np.isfinite(z)])
    if finite.size < 50:
        return 1.0
    gaussian = _gaussian_isf((1 - quantile) / 2)
    return max(1.0, float(np.quantile(finite, quantile)) / gaussian)


def tail_factor(z: np.ndarray, config: CrosscheckConfig, far_tail: bool = True) -> float:
    """The heavy-tail factor of a luminometer's short-scale residual: the larger of the one at
    ``config.tail_quantile`` and the one at ``config.far_tail_quantile``, the latter capped at
    ``config.far_tail_cap`` (an anomaly filling the top of the far tail raises its own
    threshold by no more than that); without ``far_tail``, the one at ``tail_quantile``."""
    if not config.tail_quantile:
        return 1.0
    near = heavy_tail_factor(z, config.tail_quantile)
    if not far_tail:
        return near
    far = min(heavy_tail_factor(z, config.far_tail_quantile), config.far_tail_cap)
    return max(near, far)


def spike_tail_factor(
    residual: np.ndarray,
    sigma: np.ndarray,
    config: CrosscheckConfig,
    judged: np.ndarray | None = None,
) -> float:
    """How much wider than Gaussian the tail of a luminometer's single-LS outliers is in this
    fill (>= 1): the far-tail factor (``config.far_tail_quantile``, not capped) of its
    residual against a 3-LS running median, where a bump or step of a few LS and more
    cancels and only one- or two-LS blips remain. A luminometer that jumps for single LS
    all fill long (BCM1FSI, RAMSES or PCC at low luminosity) gets its blips measured here,
    and an anomaly lasting longer cannot raise this factor. Only the ``judged`` LS count
    (not scans, dumps or data losses, where nothing is flagged either)."""
    if not config.spike_tail:
        return 1.0
    blips = (residual - _rolling_median(residual, 3)) / sigma
    if judged is not None:
        blips = blips[judged]
    return heavy_tail_factor(blips, config.blip_quantile)


def lagged_wander(residual: np.ndarray, config: CrosscheckConfig) -> float:
    """The slow wander of a residual as a per-LS spread: the robust spread of its differences
    ``config.wander_lag`` LS apart, over sqrt(2). The lag is at most a tenth of the fill: each
    edge of a step moves only ``lag`` of the differences, so that a step cannot hide itself by
    inflating this (with a 30-LS lag, a step over a third of a 1-h fill moved half of them)."""
    lag = max(1, min(config.wander_lag, residual.size // 10))
    if residual.size <= lag:
        return 0.0
    return robust_sigma(residual[lag:] - residual[:-lag]) / math.sqrt(2)


def long_sigma(
    smooth: np.ndarray,
    noise: np.ndarray,
    wander: float,
    config: CrosscheckConfig,
    smooth_wander: float | None = None,
) -> np.ndarray:
    """Per LS, the spread of the smoothed residual ``smooth`` (a running median over
    ``config.long_window`` LS) that a long excursion is judged on: the running median
    averages the LS-to-LS ``noise`` down (its standard error is sqrt(pi/2) / sqrt(window) of
    it) but not the slow wander, which the lagged differences of ``smooth`` itself measure
    (:func:`lagged_wander`), at most the residual's own ``wander`` (smoothing adds none: more
    is an excursion spreading over many of the lagged differences); the larger of the two.
    ``smooth_wander``: that lagged wander of ``smooth``, when already known (or capped)."""
    averaged = noise * math.sqrt(math.pi / 2 / config.long_window)
    if smooth_wander is None:
        smooth_wander = lagged_wander(smooth, config)
    return np.maximum(averaged, min(smooth_wander, wander))


def usual_cap(measure: str, usual: Mapping[str, float], config: CrosscheckConfig) -> float:
    """The most a fill's own ``measure`` of normal (``wander``, ``smooth_wander``, ``tail``
    or ``long_tail``) counts when the fill is judged against the luminometer's ``usual``
    ones of the year: ``config.usual_wander_cap`` times the usual wanders, the usual tail
    factors themselves."""
    if measure in ("wander", "smooth_wander"):
        return config.usual_wander_cap * usual[measure]
    return max(usual[measure], 1.0)


def capped(
    value: float, measure: str, usual: Mapping[str, float] | None, config: CrosscheckConfig
) -> float:
    """A fill's own ``measure`` of normal, at most what the year's ``usual`` ones allow
    (:func:`usual_cap`); as it is without them."""
    return min(value, usual_cap(measure, usual, config)) if usual else value


def slow_wander(
    smooth: np.ndarray, config: CrosscheckConfig, excursion: tuple[int, int] | None = None
) -> float:
    """How far a luminometer's smoothed residual wanders over the fill, as a Gaussian spread:
    its ``config.wander_quantile`` of ``|smooth - median|`` over the Gaussian one. Slow
    excursions of 1-2 % that come back (an offset held for hours, then gone) are this
    wander, which the experts keep; an excursion longer than a blip that comes back within
    its run must leave it (one that lasts to the end of its run is a step, judged on the
    noise). The ``excursion`` under test (first, last), and ``config.wander_lag`` LS either
    side, are left out: an excursion covering much of a short fill would otherwise be its
    own wander. With under 50 LS left the wander is unknown (0: judged on the noise)."""
    if not config.wander_quantile:
        return 0.0
    if excursion is not None:
        smooth = smooth.copy()
        first, last = excursion
        smooth[max(0, first - config.wander_lag) : last + config.wander_lag + 1] = np.nan
    finite = smooth[np.isfinite(smooth)]
    if finite.size < 50:
        return 0.0
    spread = np.quantile(np.abs(finite - np.median(finite)), config.wander_quantile)
    return float(spread / _gaussian_isf((1 - config.wander_quantile) / 2))


def comes_back(
    first: int, last: int, run_ends: np.ndarray, calm: np.ndarray, config: CrosscheckConfig
) -> bool:
    """Whether an excursion over ``first``..``last`` comes back within its run: the run goes
    on beyond ``config.merge_gap`` LS after it, with an LS judged there and found ``calm``
    (an excursion followed only by LS nothing can be judged on, such as the fill's end,
    lasts as far as anyone knows)."""
    if run_ends[last : last + config.merge_gap + 1].any():
        return False
    run_end = last + int(np.argmax(run_ends[last:]))
    return bool(calm[last + 1 : run_end + 1].any())


def blips_within_tail(
    size: np.ndarray, flags: np.ndarray, limit: float, config: CrosscheckConfig
) -> np.ndarray:
    """Flagged excursions of at most ``config.blip_ls`` LS whose peak ``size`` (in robust
    spreads) stays under ``limit``: single-LS jumps within what the luminometer's own
    blips do in this fill."""
    within = np.zeros_like(flags)
    for first, last in _segments(flags, 0):
        if last - first + 1 <= config.blip_ls and np.max(size[first : last + 1]) <= limit:
            within[first : last + 1] = True
    return within


def _consensus_offsets(logs: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Each luminometer's fill-level log offset to the median of all (robust to one off)."""
    offsets = np.zeros(logs.shape[1])
    for _ in range(iterations):
        consensus = nanmedian_rows(logs - offsets)
        offsets = nanmedian_rows((logs - consensus[:, None]).T)
        offsets -= nanmedian_all(offsets)
    return offsets


def fit_linearity(
    ratio: np.ndarray,
    lumi: np.ndarray,
    run: np.ndarray,
    run_min_ls: int,
    max_slope: float = np.inf,
    anchor: int = 0,
    iterations: int = 10,
) -> tuple[np.ndarray, float]:
    """Robust fit of a log ratio as per-run offset + slope x luminosity (Huber weights,
    offsets and slope solved jointly; runs shorter than ``run_min_ls`` share one offset).

    ``lumi`` is the consensus luminosity relative to its fill median. Returns the fitted
    values and the slope (per unit relative luminosity), at most ``max_slope`` in size: a
    ratio that moves more with the luminosity than linearity does is an anomaly (a drift or
    step), not something to fit away. With ``anchor``, each run's offset is the median of its
    first ``anchor`` LS, so that a step inside a run stays in the residual after it."""
    x = np.clip(lumi, 0.0, 3.0) - 1.0
    _, run_index, counts = np.unique(run, return_inverse=True, return_counts=True)
    group = np.where(counts[run_index] >= run_min_ls, run_index, -1)
    _, group = np.unique(group, return_inverse=True)
    weight = np.ones_like(ratio)
    fitted, slope = np.full_like(ratio, np.median(ratio)), 0.0
    for _ in range(iterations):
        total = np.bincount(group, weight)
        x_mean = np.bincount(group, weight * x) / total
        y_mean = np.bincount(group, weight * ratio) / total
        xc, yc = x - x_mean[group], ratio - y_mean[group]
        denominator = np.sum(weight * xc * xc)
        slope = float(np.sum(weight * xc * yc) / denominator) if denominator > 0 else 0.0
        slope = float(np.clip(slope, -max_slope, max_slope))
        y_mean = np.bincount(group, weight * (ratio - slope * x)) / total + slope * x_mean
        fitted = y_mean[group] + slope * xc
        residual = ratio - fitted
        scale = max(robust_sigma(residual), 1e-6)
        weight = np.minimum(1.0, 1.345 * scale / np.maximum(np.abs(residual), 1e-12))
    if anchor:
        detrended = ratio - slope * x
        firsts = np.array([np.median(detrended[group == g][:anchor]) for g in range(total.size)])
        fitted = firsts[group] + slope * x
    return fitted, slope


def beam_change_size(logs: np.ndarray, threshold: float, pad: int) -> np.ndarray:
    """Per LS, how much the beam changes around it (scans, levelling, edges): the sum of the
    relative steps of the luminosity within ``pad`` LS that are unlike its smooth decay (by
    more than ``threshold`` robust spreads); 0 elsewhere, infinite at the fill edges. In a
    scan luminometers that integrate an LS a little apart differ by up to that sum.

    ``logs`` (LS x luminometer, log luminosity) holds the luminometers that judge: the others
    than the one judged (so that its own excursion never counts as a beam change), or both
    when there are only two (then both must step the same way). An excursion smaller than
    the beam change around it is something every luminometer follows."""
    n = logs.shape[0]
    if n < 3:
        return np.full(n, np.inf)
    filled = pd.DataFrame(logs).interpolate(limit_direction="both").to_numpy()
    columns = [nanmedian_rows(filled)] if logs.shape[1] > 2 else list(filled.T)
    big = np.ones(n - 1, dtype=bool)
    signs = np.zeros(n - 1)
    size = np.full(n - 1, np.inf)
    for series in columns:
        step = np.diff(series)
        centred = step - nanmedian_all(step)
        big &= np.abs(centred) > threshold * max(robust_sigma(step), 1e-6)
        signs += np.sign(centred)
        size = np.minimum(size, np.abs(centred))
    jump = np.where(big & (np.abs(signs) == len(columns)), size, 0.0)
    width = 2 * pad + 2
    spread = pd.Series(np.r_[jump, 0.0]).rolling(width, center=True, min_periods=1).sum()
    spread = spread.to_numpy().copy()
    spread[: min(n, pad)] = np.inf
    spread[max(0, n - pad) :] = np.inf
    return spread


def lost_ls(
    ratio: np.ndarray, reference: np.ndarray, config: CrosscheckConfig
) -> tuple[np.ndarray, np.ndarray]:
    """LS that cannot be judged, as (the luminometer's own loss, the others' loss). Own: no
    data, or under ``config.lost_fraction`` of what the others expect (a data loss like a
    zero). Others': none of them with data, or the beam nearly gone (under
    ``config.min_relative_lumi`` of their fill median)."""
    with np.errstate(invalid="ignore"):
        beam = np.isfinite(reference) & (
            reference - nanmedian_all(reference) > math.log(config.min_relative_lumi)
        )
        own = np.isfinite(ratio) & (ratio - nanmedian_all(ratio) > math.log(config.lost_fraction))
    return ~own & beam, ~beam


def beside(lost: np.ndarray) -> np.ndarray:
    """LS next to a lost one and not lost themselves."""
    near = np.zeros_like(lost)
    near[1:] |= lost[:-1]
    near[:-1] |= lost[1:]
    return near & ~lost


def partial_ls(own_lost: np.ndarray, beam_lost: np.ndarray, z: np.ndarray) -> np.ndarray:
    """LS partly integrated at the edge of a loss, where an excursion is not judged: next to
    the luminometer's own loss a downward one (it can only have lost counts), next to the
    others' loss or the dump either (the reference itself is partial there)."""
    return (beside(own_lost) & (z < 0)) | beside(beam_lost)


def _segments(flags: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """Runs of true values as (first, last) indices, merging gaps of up to ``merge_gap``."""
    where = np.flatnonzero(flags)
    if where.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(where) > merge_gap + 1)
    starts = np.r_[where[0], where[breaks + 1]]
    ends = np.r_[where[breaks], where[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _event_type(residual: np.ndarray, length: int, at_run_end: bool, short_max: int) -> str:
    """``dip``/``spike`` when short; else ``wave`` when the residual swings both ways,
    ``drift`` when it trends (more strongly required for an event reaching the end of its
    run, which a step also does), ``step`` otherwise."""
    magnitude = float(np.median(residual))
    if length <= short_max:
        return "dip" if magnitude < 0 else "spike"
    centred = residual - residual.mean()
    if (
        min(np.mean(centred > 0), np.mean(centred < 0)) > 0.3
        and np.mean(np.sign(residual) != np.sign(magnitude)) > 0.25
    ):
        return "wave"
    trend = np.corrcoef(np.arange(length), residual)[0, 1] if np.std(residual) > 0 else 0.0
    return "drift" if abs(trend) > (0.8 if at_run_end else 0.6) else "step"


def swings(z: np.ndarray, flags: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """The lobes of an excursion that swings both ways: the flagged LS of each stretch where
    ``z`` keeps its sign, merged within ``merge_gap`` LS but never across a change of sign;
    one lobe (the whole excursion) when fewer than a fifth of its flagged LS, or two, go
    the minority's way."""
    signs = np.sign(z) * flags
    up, down = int((signs > 0).sum()), int((signs < 0).sum())
    if min(up, down) < max(2, 0.2 * (up + down)):
        return [(0, len(z) - 1)]
    lobes: list[tuple[int, int]] = []
    for sign in (1, -1):
        for a, b in _segments(signs == sign, merge_gap):
            cut = np.flatnonzero(signs[a : b + 1] == -sign)
            edges = [a, *(a + int(c) for c in cut), b + 1]
            for lo, hi in itertools.pairwise(edges):
                kept = np.flatnonzero(signs[lo:hi] == sign)
                if kept.size:
                    lobes.append((lo + int(kept[0]), lo + int(kept[-1])))
    return sorted(lobes)


def _score(z: float, threshold: float) -> float:
    return float(1.0 - 0.5 ** (abs(z) / threshold))


def _span(first: int, last: int, stable: pd.DataFrame) -> dict:
    """Rows ``first``..``last`` of ``stable`` as ``first``/``last`` (``run:ls``), ``start``,
    ``end`` and ``n_ls``."""
    run, ls, time = stable["run"].to_numpy(), stable["ls"].to_numpy(), stable["time"].to_numpy()
    return {
        "first": f"{run[first]}:{ls[first]}",
        "last": f"{run[last]}:{ls[last]}",
        "start": float(time[first]),
        "end": float(time[last]) + LS_SECONDS,
        "n_ls": int(last - first + 1),
    }


def _event(kind, first, last, stable, magnitude, z, threshold) -> dict:
    span = _span(first, last, stable)
    return {
        "type": kind,
        **{k: span[k] for k in ("first", "last", "start", "end")},
        "magnitude": round(float(magnitude), 6),
        "score": round(_score(z, threshold), 4),
        "n_ls": span["n_ls"],
    }


def _luminometer_events(
    logs: np.ndarray,
    column: int,
    offsets: np.ndarray,
    present: list[int],
    stable: pd.DataFrame,
    lumi: np.ndarray,
    config: CrosscheckConfig,
    busy: dict[int, list[tuple[float, float]]] | None = None,
    usual: Mapping[str, float] | None = None,
) -> tuple[list[dict], dict]:
    """Events of one luminometer against the consensus of the others, and its summary.
    ``busy`` holds, per other luminometer, the (start, end) times of its own events: a pair
    with one that is itself off there neither confirms nor vetoes an excursion. ``usual``
    holds the luminometer's usual measures of the year
    (:data:`~pltanomaly.luminometers.year_normals.MEASURES`): the fill's own count at most
    ``config.usual_wander_cap`` times the usual wanders (the residual's ``wander``; the
    smoothed residual's ``smooth_wander``, for the long test and the :func:`slow_wander` an
    excursion must leave) and the usual tails themselves (an anomaly covering much of a
    short fill sets its own measures of normal otherwise)."""
    threshold = config.threshold
    times = stable["time"].to_numpy(float)
    others = [c for c in present if c != column]
    reference = nanmedian_rows(logs[:, others] - offsets[others])
    ratio = logs[:, column] - reference
    judges = others if len(others) >= 2 else present
    beam_change = beam_change_size(logs[:, judges], threshold, config.scan_pad)
    valid = np.flatnonzero(np.isfinite(ratio))
    summary: dict = {"median_ratio": round(float(math.exp(np.median(ratio[valid]))), 6)}
    if valid.size:
        summary["judged"] = _span(valid[0], valid[-1], stable)
    events: list[dict] = []
    run = stable["run"].to_numpy()[valid]
    fill_offset = float(np.median(ratio[valid]))
    resolves_scale = robust_sigma(np.diff(ratio[valid])) / math.sqrt(2) < config.scale_limit
    if (
        resolves_scale
        and abs(math.expm1(fill_offset)) > config.scale_limit
        and scale_by_pairs(logs, column, others, valid, None, config)
    ):
        events.append(
            _event(
                "scale",
                valid[0],
                valid[-1],
                stable,
                math.expm1(fill_offset),
                10 * threshold,
                threshold,
            )
        )
    run_medians = pd.Series(ratio[valid]).groupby(run).median()
    for run_number, run_offset in run_medians.items():
        shift = math.expm1(run_offset - fill_offset)
        rows = valid[run == run_number]
        if (
            resolves_scale
            and abs(shift) > config.scale_limit
            and rows.size >= config.run_min_ls
            and not events
            and scale_by_pairs(logs, column, others, rows, valid, config)
        ):
            events.append(
                _event("scale", rows[0], rows[-1], stable, shift, 10 * threshold, threshold)
            )
    if valid.size < 3:
        return events, summary
    y = ratio[valid]
    fitted, slope = fit_linearity(
        y, lumi[valid], run, config.run_min_ls, config.max_slope, config.run_anchor_ls
    )
    residual = y - fitted
    diffs = np.diff(residual)
    noise_floor = max(robust_sigma(diffs) / math.sqrt(2), 1e-5)
    local = (
        MAD_TO_SIGMA
        / math.sqrt(2)
        * pd.Series(np.abs(np.r_[diffs, diffs[-1:]] - np.median(diffs)))
        .rolling(config.noise_window, center=True, min_periods=1)
        .median()
        .to_numpy()
    )
    per_ls = np.maximum(local, noise_floor)
    own_wander = lagged_wander(residual, config)
    wander = capped(own_wander, "wander", usual, config)
    sigma = np.maximum(per_ls, max(wander, noise_floor))
    short = (residual - _rolling_median(residual, config.local_window)) / sigma
    lit = reference[valid] - np.median(reference[valid]) > math.log(config.min_relative_lumi)
    own_lost, beam_lost = lost_ls(ratio, reference, config)
    quiet_beam = lit & (beam_change[valid] < config.scan_step) & ~(own_lost | beam_lost)[valid]
    tail = tail_factor(short, config)
    # a long excursion is judged on the tails of the LS judged at all (those of scans and
    # edges, where luminometers integrate an LS apart, say nothing of it); and without the
    # far tail when there are under short_max / (1 - far_tail_quantile) of them: one dip or
    # spike alone would fill that tail and raise its own threshold
    long_tail = tail_factor(
        short[quiet_beam],
        config,
        far_tail=quiet_beam.sum() * (1 - config.far_tail_quantile) >= config.short_max,
    )
    own_tail, own_long_tail = tail, long_tail
    tail = capped(own_tail, "tail", usual, config)
    long_tail = capped(own_long_tail, "long_tail", usual, config)
    short /= tail
    smooth = _rolling_median(residual, config.long_window)
    own_smooth_wander = lagged_wander(smooth, config)
    smooth_wander = capped(own_smooth_wander, "smooth_wander", usual, config)
    long = smooth / (long_sigma(smooth, per_ls, wander, config, smooth_wander) * long_tail)
    near = config.tail_quantile
    if near and quiet_beam.sum() * (1 - near) >= config.short_max:
        # and on the long score's own tail, where no dip or spike can fill it: a run sitting a
        # little off its anchor for hours, or a slow excursion, widens it (at most x cap)
        long /= min(heavy_tail_factor(long[quiet_beam], near), config.far_tail_cap)
    sharp = np.abs(short) > np.abs(long)
    z = np.where(sharp, short, long)
    excursion = np.where(sharp, np.abs(short) * sigma * tail, np.abs(smooth))
    calm = (excursion > beam_change[valid]) & (beam_change[valid] < config.scan_step)
    z_all = np.zeros(ratio.shape)
    z_all[valid] = z
    unjudged = own_lost | beam_lost | partial_ls(own_lost, beam_lost, z_all)
    flags = (np.abs(z) > threshold) & calm & lit & ~unjudged[valid]
    judged = quiet_beam & ~unjudged[valid]
    spiky = spike_tail_factor(residual, sigma, config, judged)
    flags &= ~blips_within_tail(excursion / sigma, flags, threshold * max(spiky, tail), config)
    summary.update(
        slope=round(slope, 6),
        noise=round(noise_floor, 6),
        wander=round(own_wander, 6),
        smooth_wander=round(own_smooth_wander, 6),
        tail=round(own_tail, 3),
        long_tail=round(own_long_tail, 3),
        spike_tail=round(spiky, 3),
    )
    run_ends = np.r_[run[1:] != run[:-1], True]
    short_flags = (np.abs(short) > threshold) & flags
    size = np.maximum(np.abs(short) * sigma * tail, np.abs(smooth))
    queue = [(first, last, "new") for first, last in _segments(flags, config.merge_gap)]
    while queue:
        first, last, stage = queue.pop(0)
        if (
            stage == "new"
            and last - first + 1 > config.blip_ls
            and (
                last - first + 1 <= config.short_max
                or comes_back(first, last, run_ends, judged & ~flags, config)
            )
        ):
            # an excursion longer than a blip that comes back, or a dip or spike (ending
            # with its run or not), must leave the slow wander
            slow = capped(
                slow_wander(smooth, config, (first, last)), "smooth_wander", usual, config
            )
            beyond = flags[first : last + 1] & (size[first : last + 1] > threshold * slow)
            inner = _segments(beyond, config.merge_gap)
            queue += [(first + a, first + b, "wander") for a, b in inner]
            continue
        if stage != "lobe":
            # an excursion that swings both ways (a wave) has no median departure: each
            # lobe is judged on its own
            lobes = swings(z[first : last + 1], flags[first : last + 1], config.merge_gap)
            if len(lobes) > 1:
                queue += [(first + a, first + b, "lobe") for a, b in lobes]
                continue
        part = residual[first : last + 1]
        magnitude = math.expm1(float(np.median(part)))
        peak = float(np.max(np.abs(z[first : last + 1])))
        if abs(magnitude) < config.min_magnitude:
            continue
        persists = stage == "new" and last - first + 1 > config.short_max
        start, end = times[valid[first]], times[valid[last]] + LS_SECONDS
        excused = [
            o for o in others if any(a < end and b > start for a, b in (busy or {}).get(o, ()))
        ]
        if len(others) - len(excused) < 2:
            excused = []  # too few left to pin it on this one: all pairs count
        if not confirmed_by_pairs(
            logs,
            column,
            others,
            valid[first],
            valid[last],
            magnitude,
            config,
            ratio,
            persists,
            excused,
        ):
            # a long excursion the pairs do not confirm may hold a sharp one that they do
            if stage != "split" and last - first + 1 > config.short_max:
                inner = _segments(short_flags[first : last + 1], config.merge_gap)
                queue += [(first + a, first + b, "split") for a, b in inner]
            continue
        kind = _event_type(part, last - first + 1, bool(run_ends[last]), config.short_max)
        events.append(_event(kind, valid[first], valid[last], stable, magnitude, peak, threshold))
    expected = noise_floor * np.sqrt(np.clip(1.0 / np.maximum(lumi[valid], 1e-3), 1.0, 100.0))
    for first, last, excess in noisy_stretches(local, expected, judged, config):
        start, end = stable["time"].iat[valid[first]], stable["time"].iat[valid[last]] + LS_SECONDS
        taken = any(e["start"] < end and e["end"] > start for e in events)
        if taken or not noise_confirmed_by_pairs(
            logs, column, others, valid[first], valid[last], config
        ):
            continue
        level = float(np.median(local[first : last + 1]))
        events.append(
            _event("noise", valid[first], valid[last], stable, level, threshold * excess, threshold)
        )
    return events, summary


NOISE_MAD_SE = 1.17
"""Relative standard error of a MAD-based spread, times sqrt(number of values)."""


def noisy_stretches(
    local: np.ndarray, expected: np.ndarray, judged: np.ndarray, config: CrosscheckConfig
) -> list[tuple[int, int, float]]:
    """Stretches of at least ``config.noise_window // 4`` judged LS where the local noise
    (a running robust spread over ``config.noise_window`` LS) exceeds what the luminometer's
    own noise leads one to expect there (its fill-level LS-to-LS noise, growing as
    1/sqrt(luminosity) where the luminosity is under its fill median) by more than the
    false-alarm rate allows a MAD of that many values; as (first, last, excess in units of
    that allowance). A burst of noise raises a running median over only some
    ``noise_window / 2`` LS fewer than it lasts: a half-hour burst is a stretch of 10-20 LS."""
    allowance = NOISE_MAD_SE / math.sqrt(config.noise_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.log(local / expected) / allowance
    noisy = judged & (excess > config.threshold)
    out = []
    for first, last in _segments(noisy, config.merge_gap):
        if last - first + 1 >= config.noise_window // 4:
            out.append((first, last, float(np.nanmax(excess[first : last + 1]))))
    return out


def attributable(available: int, others: list[int]) -> bool:
    """Whether an excursion seen against ``available`` of the ``others`` can be pinned on one
    luminometer: against at least two of them, or against the one other of a fill of two
    (whose result is ``undecided`` anyway); against one alone of several, which of the two is
    off is unknown."""
    return available >= min(2, len(others))


def noise_confirmed_by_pairs(
    logs: np.ndarray,
    column: int,
    others: list[int],
    first: int,
    last: int,
    config: CrosscheckConfig,
) -> bool:
    """Whether the excess noise over LS ``first``..``last`` is this luminometer's: its ratio to
    each other luminometer with data there is noisier there than over the rest of the fill,
    by at least half the allowance the false-alarm rate gives a MAD of that many values."""
    agree = available = 0
    for other in others:
        pair = np.diff(logs[:, column] - logs[:, other])
        inside = pair[first:last]
        inside = inside[np.isfinite(inside)]
        if inside.size < 5:
            continue
        available += 1
        outside = np.r_[pair[:first], pair[last:]]
        ratio = robust_sigma(inside) / max(robust_sigma(outside), 1e-9)
        allowance = NOISE_MAD_SE / math.sqrt(inside.size)
        agree += ratio > math.exp(0.5 * config.threshold * allowance)
    return attributable(available, others) and agree == available


def is_wave(chain: Sequence[Mapping[str, Any]], config: CrosscheckConfig) -> bool:
    """Whether a chain of short excursions (sorted by time) is a wave: each goes the other
    way from the one before, and starts within ``2 * config.merge_gap`` LS of its end (a
    jumpy luminometer's jumps go either way, minutes apart)."""
    return all(
        np.sign(a["magnitude"]) != np.sign(b["magnitude"])
        and b["start"] - a["end"] <= 2 * config.merge_gap * LS_SECONDS
        for a, b in itertools.pairwise(chain)
    )


def merge_noise(events: list[dict], config: CrosscheckConfig) -> list[dict]:
    """Chains of short excursions (dips, spikes, waves) of one luminometer, each within
    ``config.noise_gap`` LS of the previous, become one event when they count
    ``config.noise_min_events`` or more: a ``wave`` (:func:`is_wave`; its magnitude the
    median size of its lobes) or ``noise``; other events are kept as they are."""
    short = sorted(
        (e for e in events if e["type"] in ("dip", "spike", "wave")), key=lambda e: e["start"]
    )
    kept = [e for e in events if e["type"] not in ("dip", "spike", "wave")]
    chain: list[dict] = []

    def close() -> None:
        if len(chain) >= config.noise_min_events:
            biggest = max(chain, key=lambda e: abs(e["magnitude"]))
            wave = is_wave(chain, config)
            kept.append(
                {
                    **biggest,
                    "type": "wave" if wave else "noise",
                    "magnitude": (
                        float(np.median([abs(e["magnitude"]) for e in chain]))
                        if wave
                        else biggest["magnitude"]
                    ),
                    "first": chain[0]["first"],
                    "last": chain[-1]["last"],
                    "start": chain[0]["start"],
                    "end": chain[-1]["end"],
                    "score": max(e["score"] for e in chain),
                    "n_ls": sum(e["n_ls"] for e in chain),
                    "n_excursions": len(chain),
                }
            )
        else:
            kept.extend(chain)
        chain.clear()

    for event in short:
        if chain and event["start"] - chain[-1]["end"] > config.noise_gap * LS_SECONDS:
            close()
        chain.append(event)
    close()
    return kept


def _gap_events(
    values: np.ndarray, column: int, present: list[int], raw: np.ndarray, config: CrosscheckConfig
) -> list[tuple[int, int]]:
    """(first, last) LS of zero/negative values of a present luminometer while two others
    see beam (LS without a row are not gaps: brilcalc was given a run/LS selection)."""
    others_live = np.sum(np.isfinite(values[:, [c for c in present if c != column]]), axis=1) >= 2
    with np.errstate(invalid="ignore"):
        dead = (raw <= 0) & others_live
    return [
        (first, last) for first, last in _segments(dead, 0) if last - first + 1 >= config.min_gap_ls
    ]


def scale_by_pairs(
    logs: np.ndarray,
    column: int,
    others: list[int],
    rows: np.ndarray,
    reference: np.ndarray | None,
    config: CrosscheckConfig,
) -> bool:
    """Whether luminometer ``column``'s median ratio to each other luminometer over LS ``rows``
    is off by more than ``config.scale_limit`` the same way (one may disagree when four or more
    others): from 1 for a whole fill (``reference`` None), else from that ratio over the
    ``reference`` LS (a run against its fill)."""
    needed = len(others) - (1 if len(others) >= 4 else 0)
    signs = []
    for other in others:
        pair = logs[:, column] - logs[:, other]
        inside = pair[rows][np.isfinite(pair[rows])]
        if inside.size == 0:
            continue
        base = 0.0
        if reference is not None:
            outside = pair[reference][np.isfinite(pair[reference])]
            base = float(np.median(outside)) if outside.size else 0.0
        shift = math.expm1(float(np.median(inside)) - base)
        signs.append(np.sign(shift) if abs(shift) > config.scale_limit else 0.0)
    if not signs:
        return False
    for sign in (1.0, -1.0):
        if sum(1 for s in signs if s == sign) >= needed:
            return True
    return False


def confirmed_by_pairs(
    logs: np.ndarray,
    column: int,
    others: list[int],
    first: int,
    last: int,
    magnitude: float,
    config: CrosscheckConfig,
    ratio: np.ndarray | None = None,
    persists: bool = False,
    excused: Sequence[int] = (),
) -> bool:
    """Whether luminometer ``column`` departs, over LS ``first``..``last``, from each other
    luminometer with data there (one may disagree when four or more and
    ``config.pair_spare``), and at least two of them do have data there when the fill has
    three luminometers or more (against one alone, which of the two is off is unknown, as in
    a fill of two): the ratio to that one moves the same way by at least half the
    threshold of that pair's local noise, measured against ``config.local_window`` LS either
    side, and by at least ``config.pair_share`` of the luminometer's own move against the
    consensus (``ratio``, its log ratio to it) on the same LS (without ``ratio``: of the
    largest pair's move). An event that only
    echoes another luminometer's excursion in the consensus, or that another luminometer
    shares, fails. An excursion that ``persists`` (a step lasting to its run's end, which may
    go on in the next run) is measured against the LS before it only. The ``excused`` others
    (off themselves there) are left out."""
    n = logs.shape[0]
    lo, hi = max(0, first - config.local_window), min(n, last + 1 + config.local_window)
    if persists:
        hi = last + 1
    shifts: list[float] = []
    owns: list[float] = []
    for other in others:
        if other in excused:
            continue
        pair = logs[:, column] - logs[:, other]
        inside = pair[first : last + 1]
        around = np.r_[pair[lo:first], pair[last + 1 : hi]]
        own = math.inf
        if ratio is not None:
            own_in, own_around = (
                ratio[first : last + 1],
                np.r_[ratio[lo:first], ratio[last + 1 : hi]],
            )
            keep_in = np.isfinite(inside) & np.isfinite(own_in)
            keep_around = np.isfinite(around) & np.isfinite(own_around)
            if keep_in.any() and keep_around.any():
                own = float(np.median(own_in[keep_in]) - np.median(own_around[keep_around]))
                own *= float(np.sign(magnitude))
        inside, around = inside[np.isfinite(inside)], around[np.isfinite(around)]
        if inside.size == 0:
            continue
        if around.size < 3:
            shifts.append(math.inf)
            owns.append(math.inf)
            continue
        window = pair[lo:hi]
        window = window[np.isfinite(window)]
        sigma = max(
            robust_sigma(np.diff(window)) / math.sqrt(2),
            robust_sigma(np.diff(pair[np.isfinite(pair)])) / math.sqrt(2),
            1e-5,
        )
        shift = float(np.median(inside) - np.median(around)) * float(np.sign(magnitude))
        sigma /= math.sqrt(min(inside.size, around.size, 16))
        noisy = shift < 0.5 * config.threshold * sigma
        shifts.append(
            0.0 if noisy or (math.isfinite(own) and shift < config.pair_share * own) else shift
        )
        owns.append(own)
    available = len(shifts)
    largest = max((x for x in shifts if math.isfinite(x)), default=0.0)
    agree = sum(
        1
        for x, own in zip(shifts, owns, strict=True)
        if x > 0 and (math.isfinite(own) or x >= config.pair_share * largest)
    )
    needed = available - (1 if available >= 4 and config.pair_spare else 0)
    return attributable(available, others) and agree >= needed


def echo_kind(event: Mapping[str, Any]) -> str | None:
    """What an event can echo as in another luminometer: a local shift (dip, spike, step,
    drift, wave) as a local shift of the other sign; a run off (``scale``) as a run off,
    before runs are anchored. ``noise`` (a spread, no sign) and ``gap`` (no data, which
    leaves the consensus to the others) echo as nothing: None."""
    kind = event.get("type")
    if kind in ("noise", "gap"):
        return None
    return "scale" if kind == "scale" else "shift"


def suppress_echoes(found: dict[str, list[dict]], ratio: float) -> None:
    """Drop, in place, an event that lies within (30 s) an opposite event of another
    luminometer at least ``ratio`` times larger, of the same :func:`echo_kind`: a huge
    excursion of one luminometer moves the consensus the others are judged against, and
    they show its echo. Run before short excursions are chained into ``noise``, so that an
    echo lies on one of the jumps, not anywhere in their chain."""
    flat = [(name, e) for name, events in found.items() for e in events]
    echoes = {
        id(event)
        for name, event in flat
        for other, big in flat
        if other != name
        and echo_kind(big) is not None
        and echo_kind(big) == echo_kind(event)
        and big["start"] - 30 <= event["start"]
        and event["end"] <= big["end"] + 30
        and np.sign(big["magnitude"]) != np.sign(event["magnitude"])
        and abs(big["magnitude"]) >= ratio * abs(event["magnitude"])
    }
    for name, events in found.items():
        found[name] = [e for e in events if id(e) not in echoes]


def crosscheck_fill(
    table: pd.DataFrame,
    fill: int,
    year: int | None = None,
    config: CrosscheckConfig | None = None,
    usual: Mapping[str, Mapping[str, float]] | None = None,
) -> dict:
    """The ``results/{year}/lumi/{fill}.json`` dict of one fill's per-LS table
    (:func:`pltanomaly.luminometers.brilcalc.fill_table`); with ``usual`` (luminometer ->
    its usual measures of normal of the year), judged against them too."""
    return _crosscheck(table, fill, year, config or CrosscheckConfig(), usual or {})


def _crosscheck(
    table: pd.DataFrame,
    fill: int,
    year: int | None,
    config: CrosscheckConfig,
    usual: Mapping[str, Mapping[str, float]],
) -> dict:
    names = luminometer_columns(table)
    stable, values = stable_values(table)
    times = (stable if len(stable) else table)["time"].to_numpy(float)
    result: dict = {
        "fill": int(fill),
        "year": year,
        "start": float(times.min()) if times.size else None,
        "end": float(times.max()) + LS_SECONDS if times.size else None,
        "source": "brilcalc",
        "anomalous": False,
        "n_ls": len(stable),
        "luminometers": {},
    }
    counts = np.sum(np.isfinite(values), axis=0) if len(stable) else np.zeros(len(names))
    present = [i for i, count in enumerate(counts) if count >= config.min_present_ls]
    entries = {name: {"status": "absent", "score": 0.0, "events": []} for name in names}
    if len(present) < 2:
        for i in present:
            entries[names[i]].update(status="undecided", reason="no other luminometer")
        result["luminometers"] = entries
        return result
    logs = np.log(values)
    offsets = np.zeros(len(names))
    offsets[present] = _consensus_offsets(logs[:, present])
    consensus = nanmedian_rows(logs[:, present] - offsets[present])
    lumi = np.exp(consensus - nanmedian_all(consensus))
    found: dict[str, list[dict]] = {}
    # a first pass says who is off where, alone: in the second, a pair with one of them
    # neither confirms nor vetoes another's excursion
    alone = {
        i: _luminometer_events(
            logs, i, offsets, present, stable, lumi, config, usual=usual.get(names[i])
        )
        for i in present
    }
    busy = {i: [(e["start"], e["end"]) for e in alone[i][0]] for i in present}
    for i in present:
        if any(busy[o] for o in present if o != i):
            events, summary = _luminometer_events(
                logs, i, offsets, present, stable, lumi, config, busy, usual.get(names[i])
            )
        else:  # no other is off anywhere: the second pass would be the first
            events, summary = alone[i]
        raw = stable[names[i]].to_numpy(float)
        for first, last in _gap_events(values, i, present, raw, config):
            events.append(
                _event("gap", first, last, stable, -1.0, 10 * config.threshold, config.threshold)
            )
        found[names[i]] = events
        entries[names[i]].update(summary)
    suppress_echoes(found, config.echo_ratio)
    for name, events in found.items():
        events = merge_noise(events, config)
        events.sort(key=lambda e: e["start"])
        status = "normal"
        if events:
            status = "anomalous" if len(present) >= 3 else "undecided"
        entries[name].update(
            status=status,
            score=max((e["score"] for e in events), default=0.0),
            events=events,
        )
    result["luminometers"] = entries
    result["anomalous"] = any(e["status"] == "anomalous" for e in entries.values())
    return result


def crosscheck_fills(
    tables: dict[int, pd.DataFrame], year: int | None = None, config: CrosscheckConfig | None = None
) -> dict[int, dict]:
    """:func:`crosscheck_fill` for every fill of ``tables`` (one year), with the fills off
    against the year and judged again with its usual measures of normal
    (:func:`pltanomaly.luminometers.year_normals.with_year`)."""
    from pltanomaly.luminometers.year_normals import with_year

    results = {fill: crosscheck_fill(table, fill, year, config) for fill, table in tables.items()}
    return with_year(results, tables, config)


def report_fields(result: dict) -> dict:
    """What ``report.parquet`` gains per fill from its cross-check result: the luminometers
    compared (not absent), those found anomalous and those undecided."""
    entries = result["luminometers"]
    return {
        "lumi_compared": sorted(n for n, e in entries.items() if e["status"] != "absent"),
        "lumi_anomalous": sorted(n for n, e in entries.items() if e["status"] == "anomalous"),
        "lumi_undecided": sorted(n for n, e in entries.items() if e["status"] == "undecided"),
    }


def write_result(result: dict, folder: str | Path) -> Path:
    """Write a fill's result atomically to ``folder/{fill}.json`` (``folder`` is
    ``results/{year}/lumi``); returns the path."""
    path = Path(folder) / f"{result['fill']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result)
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lumi-check", help="cross-check luminometers per fill from brilcalc --byls CSVs"
    )
    parser.add_argument("csv", nargs="+", type=Path, help="brilcalc --byls CSV files (.gz too)")
    parser.add_argument("--year", type=int, default=None, help="year written in each result")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for {fill}.json (results/{year}/lumi)"
    )
    parser.add_argument("--fills", type=int, nargs="*", default=None, help="only these fills")
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first bad line instead of dropping it"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    read = read_fills(args.csv, strict=args.strict)
    for error in read.dropped:
        log.warning("dropped: %s", error)
    for fill, errors in sorted(read.failed.items()):
        log.error("fill %d not checked: %s", fill, "; ".join(str(e) for e in errors))
    wanted = set(args.fills) if args.fills else None
    written = 0
    for fill, table in read.tables.items():
        if wanted is not None and fill not in wanted:
            continue
        result = crosscheck_fill(table, fill, args.year)
        write_result(result, args.out)
        written += 1
        flagged = [n for n, e in result["luminometers"].items() if e["status"] == "anomalous"]
        log.info("fill %d: %s", fill, ", ".join(flagged) if flagged else "no luminometer off")
    if written == 0 and read.failed:
        raise BrilcalcError(args.csv[0], None, "no fill could be read")
    print(
        f"{written} fills written to {args.out}; {len(read.failed)} failed; "
        f"{len(read.dropped)} rows dropped"
    )
    return 1 if read.failed else 0
