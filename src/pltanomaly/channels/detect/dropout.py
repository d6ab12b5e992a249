"""Dropouts: the ratio below ``dropout_level`` of the channel's running level (binned
medians over ``dropout_window_s``: robust to dropouts shorter than half the window).
Evidence ``x = log(depth) / log(dropout_level)`` (a drop to 1 % scores ~3.8)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.intervals import close_runs, runs
from pltanomaly.channels.detect.kernels import bin_median, rolling_median
from pltanomaly.channels.detect.score import Candidate, Findings, peak_run


@dataclass
class Dropouts:
    findings: Findings
    low: np.ndarray
    """(rows, live channels) NB4s below the dropout level."""
    rows: np.ndarray
    """(rows, live channels) NB4s inside a dropout event."""


def find_dropouts(ctx: FillContext) -> Dropouts:
    cfg = ctx.cfg
    ratio = np.exp(ctx.d)
    half = max(1, round(ctx.grid.rows(cfg.dropout_window_s / 2) / ctx.bin_rows))
    level_bins = bin_median(ratio, ctx.bin_rows, max(1, ctx.bin_rows // 2))
    running = ctx.unbin(rolling_median(level_bins, -half, half + 1, 1))
    running = np.where(np.isfinite(running), running, 1.0)
    relative = ratio / running
    log_level = math.log(min(max(cfg.dropout_level, 1e-3), 0.999))
    with np.errstate(all="ignore"):
        x_drop = np.log(np.clip(relative, 1e-3, None)) / log_level
    low = np.isfinite(relative) & (relative < cfg.dropout_level)
    findings = Findings("dropout")
    rows = np.zeros(low.shape, dtype=bool)
    for j, ch in enumerate(ctx.channels):
        for first, last in runs(close_runs(low[:, j], 2)):
            x = float(np.nanmax(x_drop[first : last + 1, j]))
            seconds = (last - first + 1) * ctx.grid.period
            findings.add(ch, Candidate("dropout", first, last, x, seconds, "seconds"))
            rows[first : last + 1, j] = True
        findings.note(ch, np.where(low[:, j], np.nan, x_drop[:, j]))
        near = peak_run(np.where(low[:, j] | rows[:, j], np.nan, x_drop[:, j]))
        if near is not None:
            first, last, x = near
            seconds = (last - first + 1) * ctx.grid.period
            findings.add_near(ch, Candidate("dropout", first, last, x, seconds, "seconds"))
    return Dropouts(findings, low, rows)
