"""Data faults that need no reference: gaps (a channel's rows missing while most live
channels have theirs) and stuck data (rows repeating the previous row exactly, unless most
live channels are stuck at the same time)."""

from __future__ import annotations

import numpy as np

from pltanomaly.channels.detect.grid import Grid
from pltanomaly.channels.detect.intervals import runs
from pltanomaly.channels.detect.score import Candidate, Findings
from pltanomaly.channels.detect.settings import DetectorSettings


def find_gaps(grid: Grid, live: np.ndarray, cfg: DetectorSettings) -> Findings:
    """``x = rows / gap_min_rows``; magnitude in seconds."""
    findings = Findings("gap")
    most_present = grid.present[:, live].sum(axis=1) >= 0.5 * live.sum()
    for c in np.flatnonzero(live):
        for first, last in runs(~grid.present[:, c] & most_present):
            n = last - first + 1
            x = n / max(cfg.gap_min_rows, 1)
            findings.add(
                grid.channels[c], Candidate("gap", first, last, x, n * grid.period, "seconds")
            )
    return findings


def find_stuck(grid: Grid, live: np.ndarray, cfg: DetectorSettings) -> Findings:
    """``x = rows / stuck_min_rows``; the event starts at the repeated row itself."""
    findings = Findings("stuck")
    n_present = grid.present[:, live].sum(axis=1)
    n_stuck = (grid.stuck & grid.present)[:, live].sum(axis=1)
    common_stuck = n_stuck > 0.5 * np.maximum(n_present, 1)
    for c in np.flatnonzero(live):
        for first, last in runs(grid.stuck[:, c] & grid.present[:, c] & ~common_stuck):
            n = last - first + 1
            x = n / max(cfg.stuck_min_rows, 1)
            candidate = Candidate(
                "stuck", max(first - 1, 0), last, x, (n + 1) * grid.period, "seconds"
            )
            findings.add(grid.channels[c], candidate)
    return findings
