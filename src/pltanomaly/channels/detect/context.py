"""What every ratio detector of one fill reads: the live channels' log ratios, rates,
expected noise and beam masks, and the binning of the level detectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pltanomaly.channels.detect.calibration import NoiseModel
from pltanomaly.channels.detect.grid import Grid
from pltanomaly.channels.detect.reference import BeamMasks
from pltanomaly.channels.detect.settings import DetectorSettings


@dataclass
class FillContext:
    """Arrays are (rows, live channels); column ``j`` is grid channel ``channels[j]``."""

    grid: Grid
    cfg: DetectorSettings
    masks: BeamMasks
    channels: list[int]
    """Channel numbers of the live columns."""
    d: np.ndarray
    """Log ratio to the reference (0 = normal), NaN where not judged."""
    rate: np.ndarray
    noise: NoiseModel
    sigma: np.ndarray
    """Expected noise of one NB4's log ratio."""
    level_jump: np.ndarray
    """(rows - 1,) the reference jumps between these NB4s (scan and levelling steps)."""

    @property
    def n_rows(self) -> int:
        return int(self.d.shape[0])

    @property
    def bin_rows(self) -> int:
        return self.grid.rows(self.cfg.bin_s)

    @property
    def bin_seconds(self) -> float:
        return self.bin_rows * self.grid.period

    def unbin(self, binned: np.ndarray) -> np.ndarray:
        """Per-bin values repeated over the bin's rows."""
        return np.repeat(binned, self.bin_rows, axis=0)[: self.n_rows]

    def bin_first(self, k: int) -> int:
        """First row of bin ``k``."""
        return min(k * self.bin_rows, self.n_rows - 1)
