"""Per-layer kernels of the DT detector, each with a plain-numpy twin the tests compare with.

A layer is a 1-D float array of hits per wire where a negative value marks a cell that does
not exist (the GUI's -1); such cells are skipped, never counted as zero.
"""

from __future__ import annotations

import numpy as np

from pltanomaly._numba import _jit


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
def deficit_segment(
    layer: np.ndarray, expected: np.ndarray, max_ratio: float
) -> tuple[int, int, float, float]:
    """The contiguous run of existing cells with ``hits <= max_ratio * expected`` (and
    expected > 0) holding the most expected hits: (first, last) 0-based inclusive, its
    observed and expected hits; (-1, -1, 0, 0) if there is none."""
    best = (-1, -1, 0.0, 0.0)
    start = -1
    observed = 0.0
    wanted = 0.0
    for i in range(layer.shape[0] + 1):
        low = (
            i < layer.shape[0]
            and layer[i] >= 0
            and expected[i] > 0
            and layer[i] <= max_ratio * expected[i]
        )
        if low:
            if start < 0:
                start = i
                observed = 0.0
                wanted = 0.0
            observed += layer[i]
            wanted += expected[i]
        elif start >= 0:
            if wanted > best[3]:
                best = (start, i - 1, observed, wanted)
            start = -1
    return best


def deficit_segment_reference(
    layer: np.ndarray, expected: np.ndarray, max_ratio: float
) -> tuple[int, int, float, float]:
    low = (layer >= 0) & (expected > 0) & (layer <= max_ratio * expected)
    best = (-1, -1, 0.0, 0.0)
    padded = np.concatenate(([False], low, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        wanted = float(expected[first:stop].sum())
        if wanted > best[3]:
            best = (int(first), int(stop - 1), float(layer[first:stop].sum()), wanted)
    return best


@_jit()
def sibling_median(superlayer: np.ndarray) -> np.ndarray:
    """Per layer and wire of a superlayer (4, wires), the median of the other layers' existing
    cells at that wire; NaN where the cell is missing or no other layer has the wire."""
    n_layers, n_wires = superlayer.shape
    out = np.full((n_layers, n_wires), np.nan)
    values = np.empty(n_layers)
    for layer in range(n_layers):
        for wire in range(n_wires):
            if superlayer[layer, wire] < 0:
                continue
            count = 0
            for other in range(n_layers):
                if other != layer and superlayer[other, wire] >= 0:
                    values[count] = superlayer[other, wire]
                    count += 1
            if count > 0:
                out[layer, wire] = np.median(values[:count])
    return out


def sibling_median_reference(superlayer: np.ndarray) -> np.ndarray:
    out = np.full(superlayer.shape, np.nan)
    data = np.where(superlayer >= 0, superlayer, np.nan)
    for layer in range(superlayer.shape[0]):
        others = np.delete(data, layer, axis=0)
        present = np.isfinite(others).any(axis=0) & (superlayer[layer] >= 0)
        out[layer, present] = np.nanmedian(others[:, present], axis=0)
    return out
