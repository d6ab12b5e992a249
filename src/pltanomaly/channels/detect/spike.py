"""Spikes: the log ratio above its running median (over ``spike_window_s``) by more than
``spike_min`` and by more than the false-alarm threshold times the NB4's noise (expected or,
when larger, locally observed, so a noisy period is reported as noise, not spikes; the
noise's scale is checked on the whole fill), for at most ``spike_max_s``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.calibration import detector_z, noisiest_normal_scale, robust_scale
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.intervals import runs
from pltanomaly.channels.detect.kernels import rolling_median
from pltanomaly.channels.detect.score import Candidate, Findings, peak_run


@dataclass
class Spikes:
    findings: Findings
    rows: np.ndarray
    """(rows, live channels) NB4s inside a spike event."""
    z: float


def find_spikes(ctx: FillContext, low: np.ndarray, observed: np.ndarray) -> Spikes:
    cfg = ctx.cfg
    half = ctx.grid.rows(cfg.spike_window_s / 2)
    base = rolling_median(ctx.d, -half, half + 1, 3)
    excess = ctx.d - base
    noise = np.fmax(ctx.sigma, np.where(np.isfinite(observed), observed, 0.0))
    with np.errstate(all="ignore"):
        pulls = excess / noise
    spread = noisiest_normal_scale(robust_scale(pulls, axis=0))
    spread = spread if math.isfinite(spread) else 1.0
    z_alarm = detector_z(cfg.false_alarm_rate, ctx.grid.period)
    threshold = np.maximum(math.log1p(cfg.spike_min), z_alarm * spread * noise)
    with np.errstate(all="ignore"):
        x_spike = excess / threshold
    x_spike[~np.broadcast_to(ctx.masks.point_ok[:, None], x_spike.shape) | low] = np.nan
    longest = ctx.grid.rows(cfg.spike_max_s)
    findings = Findings("spike")
    rows = np.zeros(x_spike.shape, dtype=bool)
    for j, ch in enumerate(ctx.channels):
        for first, last in runs(np.nan_to_num(x_spike[:, j], nan=0.0) >= 1.0):
            if last - first + 1 > longest:
                continue
            x = float(np.nanmax(x_spike[first : last + 1, j]))
            factor = float(np.exp(np.nanmax(excess[first : last + 1, j])))
            findings.add(ch, Candidate("spike", first, last, x, factor, "factor"))
            rows[first : last + 1, j] = True
        findings.note(ch, x_spike[:, j])
        near = peak_run(np.where(rows[:, j], np.nan, x_spike[:, j]), longest)
        if near is not None:
            first, last, x = near
            factor = float(np.exp(np.nanmax(excess[first : last + 1, j])))
            findings.add_near(ch, Candidate("spike", first, last, x, factor, "factor"))
    return Spikes(findings, rows, z_alarm)
