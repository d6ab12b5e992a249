"""Excess noise: the channel's NB4-to-NB4 scatter (the mean square of its pulls, clipped,
over ``noise_window_s``) against the noise it normally has
(:class:`~pltanomaly.channels.detect.calibration.NoiseModel`: statistical ~1/rate plus jitter, times
the channel's own factor), relative to the other live channels at the same time. Its
variance factor ``f`` is an event when it is at least
``noise_min_factor`` and ``log f`` stands out of its normal spread (measured along the fill
and across the live channels) by the false-alarm threshold, for at least ``noise_min_s``.
NB4 pairs across a jump of the reference (scan and levelling steps), in dropouts or outside
steady beam are not used."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.calibration import (
    detector_z,
    nanmedian,
    noisiest_normal_scale,
    robust_scale,
    variance_factor,
)
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.intervals import close_runs, runs
from pltanomaly.channels.detect.score import Candidate, Findings, peak_run


@dataclass
class Noise:
    findings: Findings
    observed: np.ndarray
    """(rows, live channels) observed noise of one NB4's log ratio (running)."""
    z: float


def find_noise(ctx: FillContext, low: np.ndarray) -> Noise:
    cfg = ctx.cfg
    steady = ctx.masks.steady[:, None]
    clean = np.where(low | ~steady, np.nan, ctx.d)
    z = np.full(clean.shape, np.nan)
    with np.errstate(all="ignore"):
        z[1:] = np.abs(np.diff(clean, axis=0)) / np.sqrt(ctx.sigma[1:] ** 2 + ctx.sigma[:-1] ** 2)
    z[1:][ctx.level_jump] = np.nan
    factor = variance_factor(z, ctx.grid.rows(cfg.noise_window_s))
    # relative to the other channels at the same time: what the noise model misses in common
    # (the reference's own noise, a jitter that changes along the fill) is no channel's excess
    typical = nanmedian(factor, axis=1)
    factor = factor / np.where(np.isfinite(typical) & (typical > 0), typical, 1.0)[:, None]
    q = np.sqrt(factor)
    observed = q * ctx.sigma
    with np.errstate(all="ignore"):
        log_factor = np.log(factor)
    log_factor[~np.broadcast_to(steady, log_factor.shape)] = np.nan
    spread = noisiest_normal_scale(robust_scale(log_factor, axis=0))
    z_alarm = detector_z(cfg.false_alarm_rate, cfg.noise_window_s)
    floor = math.log(max(cfg.noise_min_factor, 1.0 + 1e-6))
    threshold = max(floor, z_alarm * spread) if math.isfinite(spread) else floor
    x_noise = log_factor / threshold
    min_rows = ctx.grid.rows(cfg.noise_min_s)
    findings = Findings("noise")
    hole = ctx.grid.rows(cfg.noise_window_s / 2)
    for j, ch in enumerate(ctx.channels):
        in_event = np.zeros(ctx.n_rows, dtype=bool)
        for first, last in runs(close_runs(np.nan_to_num(x_noise[:, j]) >= 1.0, hole)):
            in_event[first : last + 1] = True
            # the size from the median pull (the clipped mean square saturates), relative to
            # the other channels' at the time; the evidence from whichever is larger
            pull = float(nanmedian(np.abs(z[first : last + 1, j]))) / 0.6745
            size = pull**2 / float(nanmedian(typical[first : last + 1]))
            peak = max(float(np.nanmax(x_noise[first : last + 1, j])), math.log(size) / threshold)
            x = min(peak, (last - first + 1) / min_rows)
            findings.add(ch, Candidate("noise", first, last, x, size, "variance factor"))
        findings.note(ch, x_noise[:, j])
        near = peak_run(np.where(in_event, np.nan, x_noise[:, j]))
        if near is not None:
            first, last, x = near
            size = math.exp(x * threshold)
            findings.add_near(ch, Candidate("noise", first, last, x, size, "variance factor"))
    return Noise(findings, observed, z_alarm)
