"""What the detector compares, for plots and the review app."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pltanomaly.channels.detect.pipeline import Analysis, prepare
from pltanomaly.channels.detect.settings import DetectorSettings


@dataclass
class RatioView:
    """Per NB4 and channel (``channels`` order)."""

    times: np.ndarray
    channels: list[int]
    live: np.ndarray
    """(channels,) bool: live channels (the others are dead)."""
    normalised: np.ndarray
    """(rows, channels) rate over the channel's median ratio to the median channel."""
    ratio: np.ndarray
    """(rows, channels) ratio to the leave-one-out reference, pileup dependence removed,
    1 = normal (NaN: not judged)."""
    level: np.ndarray
    """(rows,) reference level relative to its bright level."""


def ratio_view(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> RatioView:
    """The normalised rates and ratios the detectors look at (without running them)."""
    return view_of(
        prepare(series, fill=fill, year=year, settings=settings, dead_channels=dead_channels)
    )


def view_of(analysis: Analysis) -> RatioView:
    """The view of an analysis already made (by :func:`ratio_view` or the detector)."""
    shape = analysis.grid.rate.shape
    ratios, masks = analysis.ratios, analysis.masks
    return RatioView(
        times=analysis.grid.times,
        channels=analysis.grid.channels,
        live=analysis.liveness.live,
        normalised=ratios.normalised if ratios else np.full(shape, np.nan),
        ratio=np.exp(ratios.log_ratio) if ratios else np.full(shape, np.nan),
        level=masks.level if masks else np.full(shape[0], np.nan),
    )
