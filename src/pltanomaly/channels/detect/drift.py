"""Drifts: lasting slow changes of the ratio that the luminosity does not explain.

After the pileup dependence (:mod:`~pltanomaly.channels.detect.reference`) and the level changes
(:mod:`~pltanomaly.channels.detect.step`) are removed, the log ratio is binned in :data:`BLOCK_S`
medians (levelling steps and scans, common to all channels, have cancelled in the ratio to
the other channels). A drift is looked for over windows of ``drift_window_s`` and longer,
up to the whole fill, anchored anywhere from the fill's first block to its last. Its
*lasting change* is the level after the window minus the level before it (medians over up
to :data:`SIDE_S`): a change that comes back does not last. Where the fill starts or ends
before such a level exists, the least-squares trend of the window's part next to that edge
(up to :data:`SIDE_S`), continued to the edge, gives the level there.

The threshold is the false-alarm number of normal spreads of the same change over the same
time: the largest of the spread across the live channels over the same window (what every
channel does then), the spread over all windows of that length and all live channels
(pooled: one drifting channel does not inflate it; at least that of the shorter windows, as
wander changes the level more over a longer time), the channel's own spread on the rest of
the fill (the windows apart from this one, where enough are left) and the statistical noise
of the two levels; and at least ``drift_min_change``. ``x`` is the change over its
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.calibration import (
    detector_z,
    nanmedian,
    robust_scale,
    typical_scale,
)
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.kernels import bin_median
from pltanomaly.channels.detect.score import Candidate, Findings

BLOCK_S = 300.0
"""The level is binned in medians of this length."""
SPAN_RATIO = 1.5
"""Successive window lengths grow by this factor, up to the whole fill; each length is a test
of its own, sharing the drift false-alarm rate, made every block (a window starts at each)."""
SIDE_S = 1800.0
"""The level before and after a window is the median over up to this time (less where the
fill ends; at least :data:`MIN_SIDE` blocks, else the trend gives it)."""
MIN_SIDE = 2
"""Fewest blocks with a level for the median before or after a window."""
MIN_REST = 5
"""Fewest windows apart from the candidate for the channel's own spread to be used."""
MAX_DRIFTS = 3
"""At most this many drifts per channel and fill, each apart from the others' levels."""
MEDIAN_VARIANCE = math.pi / 2
"""Variance of a median over that of a mean (Gaussian values)."""


@dataclass
class Windows:
    """Every window of one length: ``(anchors, live channels)`` arrays."""

    span: int
    """Length in blocks (last block minus first)."""
    change: np.ndarray
    """Lasting change of the log ratio (level after minus level before)."""
    trend: np.ndarray
    """Least-squares trend over the window times its length."""
    threshold: np.ndarray
    pooled: float
    """The spread of the change over all windows and live channels, at least that of the
    shorter windows (wander changes the level more over a longer time)."""


def find_drifts(ctx: FillContext, corrected: np.ndarray, bin_noise: np.ndarray) -> Findings:
    """Drifts of every live channel from ``corrected`` (bins, live channels: the binned log
    ratio with its steps removed) and ``bin_noise`` (the noise of one bin)."""
    findings = Findings("drift")
    block_bins = max(1, round(BLOCK_S / ctx.bin_seconds))
    block_s = block_bins * ctx.bin_seconds
    level = bin_median(corrected, block_bins, max(1, block_bins // 3))
    with np.errstate(all="ignore"):
        bin_sigma = nanmedian(np.where(bin_noise > 0, bin_noise, np.nan), axis=0)
    block_sigma = 1.25 * np.nan_to_num(np.asarray(bin_sigma), nan=0.0) / math.sqrt(block_bins)
    side = max(MIN_SIDE, round(SIDE_S / block_s))
    roughness = _roughness(level, block_sigma)
    local_sigma = 1.25 * bin_median(bin_noise, block_bins, 1) / math.sqrt(block_bins)
    # blocks without a level (beam dumped, scans) weigh nothing
    local_sigma = np.where(np.isfinite(level), np.fmax(local_sigma, block_sigma), block_sigma)
    all_windows = []
    shorter = 0.0
    lengths = spans(level.shape[0], block_s, ctx.cfg.drift_window_s)
    for span in lengths:
        windows = _windows(
            level, span, side, local_sigma, roughness, block_s, ctx, shorter, len(lengths)
        )
        all_windows.append(windows)
        shorter = windows.pooled
    for j, ch in enumerate(ctx.channels):
        candidates = []
        for w in all_windows:
            with np.errstate(all="ignore"):
                x = np.abs(w.change[:, j]) / w.threshold[:, j]
            agrees = np.sign(w.change[:, j]) == np.sign(w.trend[:, j])
            x = np.where(np.isfinite(x) & agrees, x, 0.0)
            candidates += [(float(x[a]), a, w.span, float(w.change[a, j])) for a in range(len(x))]
        candidates.sort(key=lambda c: -c[0])
        taken: list[tuple[int, int]] = []
        for x, first, span, change in candidates:
            if len(taken) >= MAX_DRIFTS or (x < 1.0 and taken):
                break
            if any(first - side <= b and a <= first + span + side for a, b in taken):
                continue
            first, last, placed = _place(level[:, j], first, first + span, side)
            change = placed if math.isfinite(placed) and placed * change > 0 else change
            hours = max(last - first, 1) * block_s / 3600.0
            candidate = Candidate(
                "drift",
                ctx.bin_first(first * block_bins),
                min((last + 1) * block_bins * ctx.bin_rows, ctx.n_rows) - 1,
                x,
                math.expm1(abs(change) / hours),
                "relative per hour",
            )
            if x < 1.0:
                findings.note(ch, x)
                findings.add_near(ch, candidate)
                break
            taken.append((first, last))
            findings.add(ch, candidate)
        findings.note(ch, 0.0)
    return findings


def _place(level: np.ndarray, first: int, last: int, side: int) -> tuple[int, int, float]:
    """Where in blocks ``first..last`` of one channel's ``level`` the drift starts and ends,
    and its change: the ramp, flat before and after, that fits the level from ``side``
    blocks before to ``side`` after best (least squares)."""
    lo, hi = max(0, first - side), min(len(level), last + side + 1)
    t = np.arange(lo, hi, dtype=np.float64)
    y = level[lo:hi]
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    pairs = [(a, b) for a in range(first, last) for b in range(a + 1, last + 1)]
    if len(y) < 3 or not pairs:
        return first, last, math.nan
    a, b = (np.array(v, dtype=np.float64)[:, None] for v in zip(*pairs, strict=True))
    ramp = np.clip((t[None, :] - a) / (b - a), 0.0, 1.0)
    r_mean = ramp.mean(axis=1, keepdims=True)
    dr = ramp - r_mean
    with np.errstate(all="ignore"):
        change = (dr * (y - y.mean())).sum(axis=1) / (dr**2).sum(axis=1)
    residual = (y - y.mean()) - change[:, None] * dr
    best = int(np.nanargmin(np.where(np.isfinite(change), (residual**2).sum(axis=1), np.inf)))
    return pairs[best][0], pairs[best][1], float(change[best])


def spans(n_blocks: int, block_s: float, shortest_s: float) -> list[int]:
    """Window lengths in blocks: from ``shortest_s`` up by :data:`SPAN_RATIO`, and the whole
    fill."""
    shortest = max(2, math.ceil(shortest_s / block_s))
    out = set()
    span = float(shortest)
    while round(span) < n_blocks - 1:
        out.add(round(span))
        span *= SPAN_RATIO
    if n_blocks - 1 >= shortest:
        out.add(n_blocks - 1)
    return sorted(out)


def _windows(
    level: np.ndarray,
    span: int,
    side: int,
    local_sigma: np.ndarray,
    roughness: np.ndarray,
    block_s: float,
    ctx: FillContext,
    shorter: float,
    n_spans: int,
) -> Windows:
    """The lasting change and its threshold of every window of ``span`` blocks;
    ``shorter`` is the pooled spread of the shorter windows."""
    n_blocks, n_channels = level.shape
    n_anchors = n_blocks - span
    change = np.full((n_anchors, n_channels), np.nan)
    trend = np.full((n_anchors, n_channels), np.nan)
    noise = np.zeros((n_anchors, n_channels))
    reach = np.zeros((n_anchors, 2), dtype=int)
    edge = min(side, span + 1)
    for a in range(n_anchors):
        b = a + span
        slope = _trend(level[a : b + 1])[2]
        start, _, _, var_start, _ = _trend(level[a : a + edge])
        _, end, _, _, var_end = _trend(level[b + 1 - edge : b + 1])
        before, var_before = _side(level[max(0, a - side) : a])
        after, var_after = _side(level[b + 1 : b + 1 + side])
        before = np.where(np.isfinite(before), before, start)
        var_before = np.where(np.isfinite(var_before), var_before, var_start)
        after = np.where(np.isfinite(after), after, end)
        var_after = np.where(np.isfinite(var_after), var_after, var_end)
        change[a] = after - before
        trend[a] = slope * span
        local = local_sigma[max(0, a - side) : b + side + 1].max(axis=0)
        noise[a] = np.sqrt(var_before + var_after) * local
        reach[a] = (a - side, b + side)
    pooled = max(shorter, np.nan_to_num(robust_scale(change), nan=0.0))
    across = np.nan_to_num(np.asarray(robust_scale(change, axis=1)), nan=0.0)
    apart = (reach[:, None, 1] < reach[None, :, 0]) | (reach[None, :, 1] < reach[:, None, 0])
    rest = np.where(apart[:, :, None], change[None, :, :], np.nan)
    own = np.asarray(robust_scale(rest, axis=1))
    enough = np.isfinite(rest).sum(axis=1) >= MIN_REST
    own = np.where(enough, own, 0.0)
    wander = pooled * roughness
    normal = np.fmax(np.fmax(across[:, None], wander), np.fmax(own, noise))
    z = detector_z(ctx.cfg.false_alarm_rate / n_spans, block_s)
    threshold = np.maximum(ctx.cfg.drift_min_change, z * normal)
    return Windows(span, change, trend, threshold, pooled)


def _roughness(level: np.ndarray, block_sigma: np.ndarray) -> np.ndarray:
    """Per channel, how much more it wanders than the typical live channel (at least 1): the
    spread of the level's second differences (a steady drift has none) beyond the
    statistical noise, over the typical channel's."""
    if level.shape[0] < 3:
        return np.ones(level.shape[1])
    second = level[2:] - 2.0 * level[1:-1] + level[:-2]
    wander = np.fmax(np.asarray(robust_scale(second, axis=0)) ** 2 - 6.0 * block_sigma**2, 0.0)
    typical = typical_scale(wander)
    if not math.isfinite(typical) or typical <= 0:
        return np.ones(level.shape[1])
    return np.sqrt(np.fmax(np.nan_to_num(wander / typical, nan=1.0), 1.0))


def _side(level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the median level of ``level`` (blocks, channels) and its variance in
    units of one block's; NaN with fewer than :data:`MIN_SIDE` finite blocks."""
    count = np.isfinite(level).sum(axis=0)
    enough = count >= MIN_SIDE
    median = np.where(enough, nanmedian(level, axis=0), np.nan) if len(level) else np.nan
    with np.errstate(all="ignore"):
        variance = np.where(enough, MEDIAN_VARIANCE / count, np.nan)
    return np.broadcast_to(median, count.shape), variance


def _trend(
    level: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per channel, the least-squares line through ``level`` (blocks, channels): its values
    at the first and last block, its slope per block, and the variances of the two values in
    units of one block's."""
    t = np.arange(level.shape[0], dtype=np.float64)[:, None]
    ok = np.isfinite(level)
    n = ok.sum(axis=0).astype(np.float64)
    with np.errstate(all="ignore"):
        t_mean = np.where(ok, t, 0.0).sum(axis=0) / n
        y_mean = np.where(ok, level, 0.0).sum(axis=0) / n
        dt = np.where(ok, t - t_mean, 0.0)
        sxx = (dt**2).sum(axis=0)
        slope = (dt * np.where(ok, level, 0.0)).sum(axis=0) / sxx
        slope = np.where((n >= 3) & (sxx > 0), slope, np.nan)
        start = y_mean + slope * (0.0 - t_mean)
        end = y_mean + slope * (t[-1, 0] - t_mean)
        var_start = 1.0 / n + (0.0 - t_mean) ** 2 / sxx
        var_end = 1.0 / n + (t[-1, 0] - t_mean) ** 2 / sxx
    return start, end, slope, var_start, var_end
