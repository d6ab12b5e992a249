"""One fill series -> its analysis: grid, dead channels, reference, calibration, detectors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pltanomaly.channels.detect.calibration import fit_noise_model, nanmedian
from pltanomaly.channels.detect.context import FillContext
from pltanomaly.channels.detect.dead import Liveness, find_dead
from pltanomaly.channels.detect.drift import find_drifts
from pltanomaly.channels.detect.dropout import find_dropouts
from pltanomaly.channels.detect.errors import DetectorInputError
from pltanomaly.channels.detect.faults import find_gaps, find_stuck
from pltanomaly.channels.detect.grid import Grid, build_grid
from pltanomaly.channels.detect.noise import find_noise
from pltanomaly.channels.detect.reference import BeamMasks, Ratios, beam_masks, ratios
from pltanomaly.channels.detect.score import Findings
from pltanomaly.channels.detect.settings import DetectorSettings
from pltanomaly.channels.detect.spike import find_spikes
from pltanomaly.channels.detect.step import find_steps


@dataclass
class Analysis:
    """Everything the detector worked out for one fill."""

    fill: int
    year: int
    cfg: DetectorSettings
    configured: set[int]
    grid: Grid
    liveness: Liveness
    masks: BeamMasks | None = None
    ratios: Ratios | None = None
    findings: list[Findings] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    noise_model: dict[str, float] = field(default_factory=dict)
    """The expected noise per NB4 the fill was judged with (calibration.NoiseModel)."""
    false_alarm_z: dict[str, float] = field(default_factory=dict)
    """Per calibrated detector, the normal spreads its threshold stands at."""


def prepare(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None,
    dead_channels: Iterable[int],
    compare: bool = True,
) -> Analysis:
    """Grid, dead channels and (with ``compare`` and enough live channels) the beam masks and
    ratios of a fill: what the detectors and the plots start from."""
    try:
        cfg = DetectorSettings.of(settings)
    except ValueError as exc:
        raise DetectorInputError(fill, str(exc)) from exc
    try:
        configured = {int(c) for c in dead_channels}
    except (TypeError, ValueError) as exc:
        raise DetectorInputError(fill, f"bad dead channel list {dead_channels!r}") from exc
    grid = build_grid(series, fill, configured)
    analysis = Analysis(fill, year, cfg, configured, grid, find_dead(grid, configured, cfg))
    live = analysis.liveness.live
    n_live = int(live.sum())
    if n_live == 0:
        analysis.notes.append("no live channel: nothing to compare")
        return analysis
    analysis.masks = beam_masks(grid, live, cfg)
    if n_live < cfg.min_reference_channels + 1:
        analysis.notes.append(
            f"only {n_live} live channel(s): no reference for ratio-based detectors"
        )
    elif compare:
        analysis.ratios = ratios(grid, live, analysis.masks, cfg)
    return analysis


def analyse(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> Analysis:
    """Run every detector on one fill series."""
    analysis = prepare(series, fill=fill, year=year, settings=settings, dead_channels=dead_channels)
    grid, cfg, live = analysis.grid, analysis.cfg, analysis.liveness.live
    if not live.any():
        return analysis
    analysis.findings += [find_gaps(grid, live, cfg), find_stuck(grid, live, cfg)]
    if analysis.ratios is None or analysis.masks is None:
        return analysis
    ctx = _context(analysis, analysis.masks, analysis.ratios)
    dropouts = find_dropouts(ctx)
    noise = find_noise(ctx, dropouts.low)
    spikes = find_spikes(ctx, dropouts.low, noise.observed)
    steps = find_steps(ctx, dropouts.rows | spikes.rows, noise.observed)
    drifts = find_drifts(ctx, steps.corrected, steps.bin_noise)
    analysis.findings += [dropouts.findings, noise.findings, spikes.findings]
    analysis.findings += [steps.findings, drifts]
    analysis.noise_model = {
        "k": round(ctx.noise.k, 6),
        "k_reference": round(ctx.noise.k_ref, 6),
        "jitter": round(ctx.noise.jitter, 6),
    }
    analysis.false_alarm_z = {
        "spike": round(spikes.z, 3),
        "noise": round(noise.z, 3),
        "step": round(steps.z, 3),
    }
    return analysis


def _context(analysis: Analysis, masks: BeamMasks, ratio: Ratios) -> FillContext:
    grid, cfg = analysis.grid, analysis.cfg
    live_idx = np.flatnonzero(analysis.liveness.live)
    d = np.ascontiguousarray(ratio.log_ratio[:, live_idx])
    rate = grid.rate[:, live_idx]
    with np.errstate(all="ignore"):
        level_jump = np.abs(np.diff(np.log(masks.level))) > cfg.level_jump
    steady_pair = masks.steady[1:] & masks.steady[:-1] & ~level_jump
    pairs = np.broadcast_to(steady_pair[:, None], (len(steady_pair), d.shape[1]))
    noise = fit_noise_model(d, rate, pairs, grid.rows(cfg.noise_window_s))
    return FillContext(
        grid=grid,
        cfg=cfg,
        masks=masks,
        channels=[grid.channels[c] for c in live_idx],
        d=d,
        rate=rate,
        noise=noise,
        sigma=noise.sigma(rate, nanmedian(rate, axis=1)),
        level_jump=level_jump,
    )
