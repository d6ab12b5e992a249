"""Robust spreads shared by the families."""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826
"""The median absolute deviation times this is the standard deviation of Gaussian values."""


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of the finite values (0 if none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))
