"""Zero counting: from the per-bunch zero counts of a row to the channel rate.

``mu_bx = -ln(zeros_bx / orbits)`` (zeros clipped to [1, orbits]); the channel rate of a row
is the sum of ``mu_bx`` over colliding bunches. Rows also get the mean mu of empty bunches
(pedestal and afterglow), a checksum of all 3564 counts (to see stuck, repeated data) and
a validity flag (no count outside [0, orbits], no NaN).

The numba kernels are small and pure; :func:`reduce_rows_reference` is the plain numpy
version of :func:`reduce_rows` used to check it in the tests.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from pltanomaly.channels.io import N_BX
from pltanomaly.core.jit import _jit, prange

CountsMode = Literal["zeros", "hits"]

_CHECKSUM_MIX = np.uint64(0x9E3779B97F4A7C15)
KNOWN_ORBITS = (4096, 16384)
"""Orbits per row: one lumi nibble (2016 files) and one NB4."""


def mu_table(orbits: int, mode: CountsMode = "zeros") -> np.ndarray:
    """Lookup table ``mu[count]`` for every integer count in ``[0, orbits]``.

    With ``mode="hits"`` the counts are orbits with a coincidence, so zeros = orbits - hits.
    """
    counts = np.arange(orbits + 1, dtype=np.float64)
    zeros = counts if mode == "zeros" else orbits - counts
    return -np.log(np.clip(zeros, 1.0, float(orbits)) / orbits)


@_jit()
def row_is_valid(row: np.ndarray, orbits: int) -> bool:
    """True when every count of the row is a number in ``[0, orbits]``."""
    for j in range(row.shape[0]):
        value = row[j]
        if not (value >= 0 and value <= orbits):
            return False
    return True


@_jit()
def row_checksum(row: np.ndarray) -> np.uint64:
    """Position-weighted checksum of a row's integer counts (equal rows give equal sums)."""
    plain = np.uint64(0)
    weighted = np.uint64(0)
    for j in range(row.shape[0]):
        count = np.uint64(np.int64(row[j]))
        plain += count
        weighted += count * np.uint64(j + 1)
    return plain ^ (weighted * _CHECKSUM_MIX)


@_jit()
def mu_sum(row: np.ndarray, bunches: np.ndarray, table: np.ndarray) -> float:
    """Sum of mu over the bunch indices ``bunches`` of a valid row."""
    total = 0.0
    for k in range(bunches.shape[0]):
        total += table[np.int64(row[bunches[k]])]
    return total


@_jit(parallel=True)
def reduce_rows(
    data: np.ndarray,
    colliding: np.ndarray,
    empty: np.ndarray,
    table: np.ndarray,
    rate: np.ndarray,
    empty_mu: np.ndarray,
    checksum: np.ndarray,
    valid: np.ndarray,
) -> None:
    """Fill ``rate``, ``empty_mu``, ``checksum`` and ``valid`` for every row of ``data``.

    ``colliding`` and ``empty`` are bunch indices; ``table`` is :func:`mu_table`. Invalid
    rows get NaN rate and empty level.
    """
    orbits = table.shape[0] - 1
    n_empty = empty.shape[0]
    for i in prange(data.shape[0]):
        row = data[i]
        checksum[i] = row_checksum(row)
        if not row_is_valid(row, orbits):
            valid[i] = False
            rate[i] = np.nan
            empty_mu[i] = np.nan
            continue
        valid[i] = True
        rate[i] = mu_sum(row, colliding, table)
        empty_mu[i] = mu_sum(row, empty, table) / n_empty if n_empty > 0 else 0.0


def reduce_rows_reference(
    data: np.ndarray,
    colliding: np.ndarray,
    empty: np.ndarray,
    orbits: int,
    mode: CountsMode = "zeros",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain numpy version of :func:`reduce_rows`: ``(rate, empty_mu, checksum, valid)``."""
    values = np.asarray(data, dtype=np.float64)
    valid = np.all((values >= 0) & (values <= orbits), axis=1)
    counts = np.where(np.isfinite(values), values, 0).astype(np.int64)
    zeros = counts if mode == "zeros" else orbits - counts
    mu = -np.log(np.clip(zeros, 1, orbits) / orbits)
    rate = np.where(valid, mu[:, colliding].sum(axis=1), np.nan)
    empty_level = mu[:, empty].mean(axis=1) if len(empty) else np.zeros(len(values))
    empty_mu = np.where(valid, empty_level, np.nan)
    unsigned = counts.astype(np.uint64)
    weights = np.arange(1, values.shape[1] + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        plain = unsigned.sum(axis=1, dtype=np.uint64)
        weighted = (unsigned * weights).sum(axis=1, dtype=np.uint64)
        checksum = plain ^ (weighted * _CHECKSUM_MIX)
    return rate, empty_mu, checksum, valid


def empty_bunches(
    colliding: np.ndarray, filled: np.ndarray | None = None, afterglow: int = 5
) -> np.ndarray:
    """Mask of empty bunches: not filled (when known), not colliding, and not within
    ``afterglow`` slots after a colliding bunch (the orbit wraps around)."""
    colliding = np.asarray(colliding, dtype=bool)
    near = colliding.copy()
    for shift in range(1, afterglow + 1):
        near |= np.roll(colliding, shift)
    empty = ~near
    if filled is not None:
        empty &= ~np.asarray(filled, dtype=bool)
    return empty


def infer_colliding(mean_mu: np.ndarray) -> np.ndarray:
    """Colliding bunches from the mean mu per bunch, where no filling scheme is known.

    A bunch collides when its mu is above the geometric mean of the empty level (1st
    percentile) and the colliding level (99th percentile). Without a clear separation
    (no beam), no bunch collides.
    """
    low = max(float(np.percentile(mean_mu, 1)), 1e-6)
    high = float(np.percentile(mean_mu, 99))
    if high < max(20.0 * low, 1e-3):
        return np.zeros(mean_mu.shape, dtype=bool)
    return mean_mu > np.sqrt(low * high)


def detect_counts_mode(sample: np.ndarray, hits_orbits: int = 4096) -> tuple[CountsMode, int]:
    """Tell zeros from hits, and the orbits per row, from a sample of rows.

    In zeros mode every bunch is near the orbit count (empty bunches at it); in hits mode
    the empty bunches are near 0. Zeros mode: orbits = the smallest known row length (4096
    orbits per nibble, 16384 per NB4) not below the typical row maximum; the nearest
    multiple of 1024 is wrong when a sample has no empty bunch. Hits mode: the maximum says
    little about the orbit count, so ``hits_orbits`` (4096 for a nibble) is used.
    """
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.all(np.isfinite(values), axis=1)]
    if values.size == 0:
        raise ValueError("no finite row to tell the counts mode from")
    row_max = values.max(axis=1)
    row_low = np.percentile(values, 5, axis=1)
    live = row_max > 0
    if not live.any():
        return "hits", hits_orbits
    zeros_votes = np.count_nonzero(row_low[live] > 0.5 * row_max[live])
    if zeros_votes * 2 >= np.count_nonzero(live):
        typical_max = float(np.median(row_max[live]))
        orbits = next((n for n in KNOWN_ORBITS if typical_max <= n), KNOWN_ORBITS[-1])
        return "zeros", orbits
    return "hits", hits_orbits


def repeats_previous(channel: np.ndarray, checksum: np.ndarray) -> np.ndarray:
    """For rows sorted by time: True where the row's checksum equals the same channel's
    previous row's (the data is stuck)."""
    order = np.lexsort((np.arange(len(channel)), channel))
    same_channel = channel[order][1:] == channel[order][:-1]
    same_sum = checksum[order][1:] == checksum[order][:-1]
    stuck_sorted = np.concatenate([[False], same_channel & same_sum])
    stuck = np.empty(len(channel), dtype=bool)
    stuck[order] = stuck_sorted
    return stuck


__all__ = [
    "N_BX",
    "CountsMode",
    "detect_counts_mode",
    "empty_bunches",
    "infer_colliding",
    "mu_table",
    "reduce_rows",
    "reduce_rows_reference",
    "repeats_previous",
    "row_checksum",
    "row_is_valid",
]
