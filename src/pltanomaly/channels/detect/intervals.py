"""Runs of flagged NB4s (the intervals candidates are made of)."""

from __future__ import annotations

import itertools

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of the runs of True in ``mask`` (inclusive)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def close_runs(mask: np.ndarray, max_hole: int) -> np.ndarray:
    """Fill holes of at most ``max_hole`` False values between True runs."""
    out = np.asarray(mask, dtype=bool).copy()
    for (_, last), (first, _) in itertools.pairwise(runs(mask)):
        if first - last - 1 <= max_hole:
            out[last + 1 : first] = True
    return out
