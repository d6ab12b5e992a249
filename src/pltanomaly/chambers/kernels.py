"""Per-layer kernels of the DT detector, each with a plain-numpy twin the tests compare with.

A layer is a 1-D float array of hits per wire where a negative value marks a cell that does
not exist (the GUI's -1); such cells are skipped, never counted as zero.
"""

from __future__ import annotations

import numpy as np

from pltanomaly.core.jit import _jit


@_jit()
def longest_zero_run(layer: np.ndarray) -> int:
    """The longest run of consecutive existing cells with exactly 0 hits (a missing cell
    ends a run)."""
    best = 0
    current = 0
    for value in layer:
        if value == 0.0:
            current += 1
            if current > best:
                best = current
        else:
            current = 0
    return best


def longest_zero_run_reference(layer: np.ndarray) -> int:
    zero = np.concatenate(([False], layer == 0, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(zero))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


@_jit()
def local_median(layer: np.ndarray, half_width: int) -> np.ndarray:
    """Per cell, the median of the existing cells within ``half_width`` wires, the cell
    itself excluded; NaN for a missing cell or one without neighbours."""
    n = layer.shape[0]
    out = np.full(n, np.nan)
    window = np.empty(2 * half_width)
    for i in range(n):
        if layer[i] < 0:
            continue
        count = 0
        for j in range(max(0, i - half_width), min(n, i + half_width + 1)):
            if j != i and layer[j] >= 0:
                window[count] = layer[j]
                count += 1
        if count > 0:
            out[i] = np.median(window[:count])
    return out


def local_median_reference(layer: np.ndarray, half_width: int) -> np.ndarray:
    out = np.full(len(layer), np.nan)
    for i, value in enumerate(layer):
        if value < 0:
            continue
        around = np.r_[layer[max(0, i - half_width) : i], layer[i + 1 : i + half_width + 1]]
        around = around[around >= 0]
        if len(around):
            out[i] = np.median(around)
    return out


@_jit()
def deficit_scan(
    layer: np.ndarray, expected: np.ndarray, max_ratio: float
) -> tuple[int, int, float, float, float]:
    """The contiguous run of existing cells most likely dead: among the runs whose observed
    hits are at most ``max_ratio`` of their expected hits, the one with the largest Poisson
    log-likelihood ratio E - X + X log(X / E). Returns (first, last) 0-based inclusive, X, E
    and that ratio; (-1, -1, 0, 0, 0) if no run qualifies."""
    n = layer.shape[0]
    best_first = -1
    best_last = -1
    best_observed = 0.0
    best_expected = 0.0
    best_llr = 0.0
    for first in range(n):
        observed = 0.0
        wanted = 0.0
        for last in range(first, n):
            if layer[last] < 0:
                break
            observed += layer[last]
            wanted += expected[last]
            if wanted <= 0 or observed > max_ratio * wanted:
                continue
            llr = wanted - observed
            if observed > 0:
                llr += observed * np.log(observed / wanted)
            if llr > best_llr:
                best_first, best_last = first, last
                best_observed, best_expected, best_llr = observed, wanted, llr
    return best_first, best_last, best_observed, best_expected, best_llr


def deficit_scan_reference(
    layer: np.ndarray, expected: np.ndarray, max_ratio: float
) -> tuple[int, int, float, float, float]:
    n = len(layer)
    observed = np.concatenate(([0.0], np.cumsum(np.where(layer >= 0, layer, 0.0))))
    wanted = np.concatenate(([0.0], np.cumsum(expected)))
    missing = np.concatenate(([0], np.cumsum(layer < 0)))
    first, stop = np.triu_indices(n + 1, 1)
    x = observed[stop] - observed[first]
    e = wanted[stop] - wanted[first]
    valid = (missing[stop] == missing[first]) & (e > 0) & (x <= max_ratio * e)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = e - x + np.where(x > 0, x * np.log(x / e), 0.0)
    llr = np.where(valid, llr, 0.0)
    if not (llr > 0).any():
        return -1, -1, 0.0, 0.0, 0.0
    best = int(np.argmax(llr))
    return int(first[best]), int(stop[best] - 1), float(x[best]), float(e[best]), float(llr[best])
