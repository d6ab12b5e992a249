"""Steps: lasting level changes of the log ratio.

On the log ratio binned in ``bin_s`` medians (steady NB4s, dropouts and spikes removed),
``delta`` is the difference of the medians of the ``step_window_s`` after and before each
bin; its peaks (one per window) are candidate changes, placed to the bin by the best
two-mean split. A change's size is its *sharpness*: ``delta`` minus the mean of ``delta``
one window earlier and later (the step for a step, ~0 for a steady drift or pileup trend).
Its threshold is the false-alarm number of normal spreads of the sharpness (the channel's
own along the fill, at least the typical channel's, at least the spread across the live
channels at the same time, and at least the locally observed noise), and at least
``step_min``. A step ends where an opposite change brings the
ratio back (within half its size), else at the end of the fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.calibration import detector_z, robust_scale, typical_scale
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.kernels import bin_median, window_shift
from pltanomaly.channels.detect.reference import rolling_max
from pltanomaly.channels.detect.score import Candidate, Findings

REMOVED_FRACTION = 0.5
"""Level changes of at least this fraction of the step threshold are removed before drifts
are looked for (so a small step is not also a drift)."""


@dataclass
class Steps:
    findings: Findings
    corrected: np.ndarray
    """(bins, live channels) binned log ratio with its level changes removed."""
    bin_noise: np.ndarray
    """(bins, live channels) noise of one bin median, from the observed per-NB4 noise."""
    z: float


def find_steps(ctx: FillContext, point_rows: np.ndarray, observed: np.ndarray) -> Steps:
    cfg = ctx.cfg
    level_d = np.where(point_rows | ~ctx.masks.steady[:, None], np.nan, ctx.d)
    bin_rows = ctx.bin_rows
    b = bin_median(level_d, bin_rows, max(1, bin_rows // 2))
    w = max(2, round(cfg.step_window_s / ctx.bin_seconds))
    delta = window_shift(b, w, max(2, w // 3))
    before = np.full(delta.shape, np.nan)
    after = np.full(delta.shape, np.nan)
    before[w:] = delta[:-w]
    after[:-w] = delta[w:]
    sharp = delta - 0.5 * (np.nan_to_num(before) + np.nan_to_num(after))
    obs_bins = bin_median(np.where(np.isfinite(observed), observed, ctx.sigma), bin_rows, 1)
    bin_noise = 1.25 * np.where(np.isfinite(obs_bins), obs_bins, 0.0) / math.sqrt(bin_rows)
    local = 1.25 * math.sqrt(2.0 / w) * rolling_max(bin_noise, w)
    own = np.asarray(robust_scale(sharp, axis=0))
    spread = np.fmax(np.nan_to_num(own, nan=0.0), np.nan_to_num(typical_scale(own), nan=0.0))
    # what the other channels do at the same time: at scan and levelling steps the channels'
    # responses (what is left of their pileup dependence) spread, and a step must stand out
    across = np.nan_to_num(np.asarray(robust_scale(sharp, axis=1)), nan=0.0)
    across = rolling_max(across, max(1, w // 2))
    normal = np.fmax(np.fmax(spread[None, :], across[:, None]), local)
    z_alarm = detector_z(cfg.false_alarm_rate, cfg.step_window_s)
    threshold = np.maximum(cfg.step_min, z_alarm * normal)
    with np.errstate(all="ignore"):
        x_step = np.abs(sharp) / threshold
    findings = Findings("step")
    corrected = b.copy()
    for j, ch in enumerate(ctx.channels):
        removed = REMOVED_FRACTION * threshold[:, j]
        peaks = [_refine(b[:, j], k, w) for k in _change_points(delta[:, j], w, removed)]
        changes = [k for k in peaks if abs(sharp[k, j]) >= removed[k]]
        used: set[int] = set()
        for i, k in enumerate(changes):
            if k in used:
                continue
            event = x_step[k, j] >= 1.0
            size = float(sharp[k, j])
            end_row = ctx.n_rows - 1
            for other in changes[i + 1 :]:
                back = float(sharp[other, j])
                if back * size < 0 and abs(size + back) <= 0.5 * abs(size):
                    if event:  # a near miss leaves the change back to its own
                        used.add(other)
                    end_row = max(ctx.bin_first(other) - 1, ctx.bin_first(k))
                    break
            candidate = Candidate(
                "step", ctx.bin_first(k), end_row, float(x_step[k, j]), math.expm1(size), "relative"
            )
            if event:
                findings.add(ch, candidate)
            else:
                findings.add_near(ch, candidate)
        findings.note(ch, x_step[:, j])
        for k in changes:
            corrected[k:, j] -= sharp[k, j]
            corrected[max(0, k - 2) : k + 3, j] = np.nan
    return Steps(findings, corrected, bin_noise, z_alarm)


def _change_points(delta: np.ndarray, w: int, minimum: np.ndarray) -> list[int]:
    """Bins of the largest level changes: greedy local extremes of ``|delta|`` of at least
    ``minimum``, no two within ``w`` bins; in time order."""
    size = np.nan_to_num(np.abs(delta), nan=0.0)
    taken = np.zeros(len(size), dtype=bool)
    points = []
    for k in np.argsort(-size, kind="stable"):
        if size[k] < minimum[k]:
            continue
        if taken[max(0, k - w) : k + w + 1].any():
            continue
        taken[k] = True
        points.append(int(k))
    return sorted(points)


def _refine(b: np.ndarray, k: int, w: int) -> int:
    """The best split of ``b`` near ``k``: the largest t-statistic of the two sides' mean
    difference within ``[k - w, k + w)`` places the change to the bin."""
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
    return lo + int(idx[int(np.argmax(stat)) + 1])
