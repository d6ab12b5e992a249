"""The production check (DTOccupancyTest, as dt-occupancy.md describes it) and a plain
zero-fraction rule: the baselines the detector is compared with. Both count cells with
exactly 0 hits among the existing cells (negative cells do not exist)."""

from __future__ import annotations

import numpy as np

from pltanomaly.chambers.kernels import longest_zero_run

PRODUCTION_MIN_ENTRIES = 2200
CODE_LIMITS = (0.2, 0.5, 0.75, 0.9)
"""Live-cell fraction below which the code is 4, 3, 2, 1 (else 0)."""
ZERO_FRACTION_LIMIT = 0.05


def live_fraction(hits: np.ndarray) -> float:
    """1 - dead cells / existing cells (DTOccupancyTest's chamberPercentage)."""
    existing = hits >= 0
    cells = int(existing.sum())
    return 1.0 - float((hits[existing] == 0).sum()) / cells if cells else 0.0


def production_code(hits: np.ndarray) -> int:
    """The 0-4 status of a chamber (or of a layer) from its live-cell fraction."""
    fraction = live_fraction(hits)
    for code, limit in zip((4, 3, 2, 1), CODE_LIMITS, strict=True):
        if fraction < limit:
            return code
    return 0


def layer_statistics(row: np.ndarray) -> dict[str, float | int]:
    """The production statistics of one layer: dead-cell fraction, longest zero run."""
    existing = row[row >= 0]
    dead = float((existing == 0).mean()) if len(existing) else 0.0
    return {"dead_fraction": round(dead, 4), "longest_zero_run": int(longest_zero_run(row))}


def production_layers(hits: np.ndarray, layers: tuple[int, ...]) -> dict[int, tuple[bool, float]]:
    """Per layer (bad, score) of the production rule applied per layer: not judged (never
    bad) below the minimum entries, else bad when its code is 1 or more; score 1 - live."""
    judged = float(hits[hits >= 0].sum()) >= PRODUCTION_MIN_ENTRIES
    out: dict[int, tuple[bool, float]] = {}
    for layer in layers:
        row = hits[layer - 1]
        score = 1.0 - live_fraction(row)
        out[layer] = (judged and production_code(row) > 0, score if judged else 0.0)
    return out


def zero_fraction_layers(
    hits: np.ndarray, layers: tuple[int, ...]
) -> dict[int, tuple[bool, float]]:
    """Per layer (bad, score): bad when more than 5 % of its cells hold 0 hits."""
    out: dict[int, tuple[bool, float]] = {}
    for layer in layers:
        zero = 1.0 - live_fraction(hits[layer - 1])
        out[layer] = (zero > ZERO_FRACTION_LIMIT, zero)
    return out
