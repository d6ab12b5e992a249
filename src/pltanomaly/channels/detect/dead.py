"""Dead channels: configured, or found in the data (no usable rows, no hits, pure noise).

Weak is not dead: a live channel at 20 % efficiency gives a usable, noisier signal and is
analysed like the others; its ``efficiency`` (rate relative to the median live channel)
says that it is weak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pltanomaly.channels.detect.calibration import nanmedian, robust_scale
from pltanomaly.channels.detect.grid import Grid
from pltanomaly.channels.detect.settings import DetectorSettings


@dataclass
class Liveness:
    """Which channels are live, why the others are dead, and the live ones' efficiency."""

    live: np.ndarray
    """(channels,) bool, in ``Grid.channels`` order."""
    reason: dict[int, str] = field(default_factory=dict)
    efficiency: dict[int, float] = field(default_factory=dict)


def find_dead(grid: Grid, configured: set[int], cfg: DetectorSettings) -> Liveness:
    """Configured channels are dead; among the others a channel is dead when, while the beam
    is on, it is missing or stuck in most NB4s, has no hits, or its rate does not follow the
    luminosity at all (its NB4-to-NB4 scatter around it exceeds ``dead_scatter``). The
    median channel is recomputed until no more channel is found dead."""
    live = np.array([c not in configured for c in grid.channels])
    result = Liveness(live, {ch: "configured dead" for ch in grid.channels if ch in configured})
    usable = grid.usable
    for _ in range(4):
        if not live.any():
            break
        level = nanmedian(np.where(usable[:, live], grid.rate[:, live], np.nan), axis=1)
        finite = np.isfinite(level)
        bright_level = float(np.percentile(level[finite], 95)) if finite.any() else np.nan
        if not np.isfinite(bright_level) or bright_level <= 0:
            bright = np.ones(len(level), dtype=bool)
        else:
            bright = finite & (level >= 0.2 * bright_level)
        changed = False
        result.efficiency.clear()
        for c, ch in enumerate(grid.channels):
            if not live[c]:
                continue
            why = _dead_reason(grid.rate[bright, c], usable[bright, c], level[bright], cfg)
            if why is None:
                ok = usable[bright, c]
                rel = float(np.median(grid.rate[bright, c][ok] / level[bright][ok]))
                result.efficiency[ch] = round(rel, 4)
                continue
            live[c] = False
            result.reason[ch] = why
            changed = True
        if not changed:
            break
    return result


def _dead_reason(
    rate: np.ndarray, usable: np.ndarray, level: np.ndarray, cfg: DetectorSettings
) -> str | None:
    """Why a channel with these beam-on rows is dead, or None when it is live."""
    frac = float(usable.mean()) if len(usable) else 0.0
    if frac < 1.0 - cfg.dead_missing_fraction:
        return f"no usable data ({100 * frac:.0f}% of beam-on NB4s present, not stuck)"
    ok = usable & np.isfinite(level) & (level > 0)
    if not ok.any():
        return "no usable data (no beam-on NB4 with a reference)"
    relative = rate[ok] / level[ok]
    efficiency = float(np.median(relative))
    if not np.isfinite(efficiency) or efficiency < cfg.dead_fraction:
        return "no hits (rate ~0)"
    scatter = float(robust_scale(np.diff(relative))) / np.sqrt(2.0) / efficiency
    if len(relative) > 10 and scatter > cfg.dead_scatter:
        return f"pure noise (rate scatters by {100 * scatter:.0f}% around the luminosity)"
    return None
