"""The fill series as (NB4, channel) matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pltanomaly.channels.detect.errors import DetectorInputError
from pltanomaly.channels.layout import N_CHANNELS, NB4_SECONDS

__all__ = ["DetectorInputError", "Grid", "build_grid"]


@dataclass
class Grid:
    """The fill as matrices (NB4, channel); a missing row is NaN in ``rate``."""

    times: np.ndarray
    channels: list[int]
    rate: np.ndarray
    present: np.ndarray
    stuck: np.ndarray
    period: float

    @property
    def usable(self) -> np.ndarray:
        """Rows present, finite and not repeating the previous row."""
        return self.present & ~self.stuck & np.isfinite(self.rate)

    def rows(self, seconds: float, minimum: int = 1) -> int:
        """``seconds`` as a number of NB4 rows (at least ``minimum``)."""
        return max(minimum, round(seconds / self.period))


def build_grid(series: pd.DataFrame, fill: int, configured: set[int]) -> Grid:
    """Pivot a fill series (columns ``timestamp``, ``channel``, ``rate``, optional
    ``stuck``) into a :class:`Grid` holding every channel 0-15 and the configured ones."""
    if not isinstance(series, pd.DataFrame):
        raise DetectorInputError(fill, f"series must be a pandas DataFrame, not {type(series)}")
    if len(series) == 0:
        raise DetectorInputError(fill, "series has no row")
    missing = {"timestamp", "channel", "rate"} - set(series.columns)
    if missing:
        raise DetectorInputError(fill, f"series lacks column(s) {', '.join(sorted(missing))}")
    timestamp = pd.to_numeric(series["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    channel = pd.to_numeric(series["channel"], errors="coerce").to_numpy(dtype=np.float64)
    rate = pd.to_numeric(series["rate"], errors="coerce").to_numpy(dtype=np.float64)
    if "stuck" in series.columns:
        stuck = series["stuck"].fillna(False).to_numpy(dtype=bool)
    else:
        stuck = np.zeros(len(series), dtype=bool)
    keep = np.isfinite(timestamp) & np.isfinite(channel) & (channel >= 0) & (channel < 256)
    if not keep.any():
        raise DetectorInputError(fill, "series has no row with a valid timestamp and channel")
    timestamp, channel, rate, stuck = timestamp[keep], channel[keep], rate[keep], stuck[keep]
    channel_i = channel.astype(np.int64)
    times, row = np.unique(np.round(timestamp, 3), return_inverse=True)
    channels = sorted(set(range(N_CHANNELS)) | set(channel_i.tolist()) | configured)
    col = np.searchsorted(channels, channel_i)
    shape = (len(times), len(channels))
    rates = np.full(shape, np.nan)
    present = np.zeros(shape, dtype=bool)
    stuck_m = np.zeros(shape, dtype=bool)
    finite = np.isfinite(rate)
    # a duplicated (NB4, channel) keeps its last row
    rates[row[finite], col[finite]] = rate[finite]
    present[row[finite], col[finite]] = True
    stuck_m[row[finite], col[finite]] = stuck[finite]
    steps = np.diff(times)
    period = float(np.median(steps)) if len(steps) else NB4_SECONDS
    if not np.isfinite(period) or period <= 0:
        period = NB4_SECONDS
    return Grid(times, channels, rates, present, stuck_m, period)
