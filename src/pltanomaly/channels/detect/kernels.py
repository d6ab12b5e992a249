"""Numba kernels of the detector, each with a plain numpy reference used in the tests.

Arrays are float64; NaN marks a missing value and windows use only their finite values,
giving NaN when fewer than ``min_count`` (at least 1; 2 for a slope) are finite. The array
kernels take a 2-D ``(rows, series)`` array and loop over the series with ``prange`` (see
:data:`PARALLEL`); each series is handled by a small sequential helper (a sliding sorted
window for medians, running sums for slopes), so a window costs O(window) per row at
worst, not a sort.

- :func:`loo_median` (:func:`loo_median_reference`): per row and live channel, the median
  of the *other* live channels (the leave-one-out reference).
- :func:`rolling_median` (:func:`rolling_median_reference`): median of ``x[i+lo : i+hi]``.
- :func:`window_shift` (:func:`window_shift_reference`):
  ``median(x[i:i+w]) - median(x[i-w:i])``.
- :func:`bin_median` (:func:`bin_median_reference`): medians of bins of ``size`` rows.
- :func:`rolling_slope` (:func:`rolling_slope_reference`): least-squares slope per row over
  ``x[i-half : i+half+1]``.
"""

from __future__ import annotations

import numpy as np

from pltanomaly.core.jit import _jit, prange

PARALLEL = False
"""Whether the ``prange`` loops of the array kernels run on threads. Off: a fill's arrays are
small (~10^5 values, a few ms of work), starting and joining threads costs more than that on
a busy or single-core batch worker (measured 12 ms per call on a loaded 2-core machine
against 1 ms on one thread), and batch jobs already run one fill per core. Changing it edits
this file, which invalidates numba's cache of the kernels."""

# ---------------------------------------------------------------- scalar helpers


@_jit()
def median_without(sorted_values: np.ndarray, n: int, skip: int) -> float:
    """Median of the first ``n`` sorted values with the one at index ``skip`` left out
    (``skip = -1`` leaves none out); NaN when nothing is left."""
    m = n - 1 if skip >= 0 else n
    if m <= 0:
        return np.nan
    half = m // 2
    # index in the reduced list -> index in the full list
    a = half if (skip < 0 or half < skip) else half + 1
    if m % 2 == 1:
        return sorted_values[a]
    b = half - 1 if (skip < 0 or half - 1 < skip) else half
    return 0.5 * (sorted_values[a] + sorted_values[b])


@_jit()
def lower_bound(buf: np.ndarray, n: int, value: float) -> int:
    """First index of the sorted ``buf[:n]`` whose value is not below ``value``."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit()
def sorted_insert(buf: np.ndarray, n: int, value: float) -> int:
    """Insert ``value`` into the sorted ``buf[:n]``; returns the new length."""
    lo = lower_bound(buf, n, value)
    for j in range(n, lo, -1):
        buf[j] = buf[j - 1]
    buf[lo] = value
    return n + 1


@_jit()
def sorted_remove(buf: np.ndarray, n: int, value: float) -> int:
    """Remove one ``value`` from the sorted ``buf[:n]``; returns the new length."""
    lo = lower_bound(buf, n, value)
    if lo >= n or buf[lo] != value:
        return n
    for j in range(lo, n - 1):
        buf[j] = buf[j + 1]
    return n - 1


@_jit()
def sliding_median(x: np.ndarray, lo: int, hi: int, min_count: int, out: np.ndarray) -> None:
    """``out[i]`` = median of the finite values of ``x[i+lo : i+hi]`` (window clipped to the
    array), NaN when fewer than ``max(min_count, 1)`` are finite."""
    n_rows = x.shape[0]
    buf = np.empty(max(hi - lo, 1))
    n = 0
    need = max(min_count, 1)
    for j in range(max(lo, 0), min(hi, n_rows)):
        if np.isfinite(x[j]):
            n = sorted_insert(buf, n, x[j])
    for i in range(n_rows):
        if i > 0:
            leaving = i - 1 + lo
            if 0 <= leaving < n_rows and np.isfinite(x[leaving]):
                n = sorted_remove(buf, n, x[leaving])
            entering = i - 1 + hi
            if 0 <= entering < n_rows and np.isfinite(x[entering]):
                n = sorted_insert(buf, n, x[entering])
        out[i] = median_without(buf, n, -1) if n >= need else np.nan


@_jit()
def slope_sums(x: np.ndarray, half: int, min_count: int, out: np.ndarray) -> None:
    """``out[i]`` = least-squares slope per index of the finite values of
    ``x[i-half : i+half+1]``, from running sums of 1, j, j^2, y and j*y."""
    n_rows = x.shape[0]
    need = max(min_count, 2)
    c0 = np.zeros(n_rows + 1)
    c1 = np.zeros(n_rows + 1)
    c11 = np.zeros(n_rows + 1)
    cy = np.zeros(n_rows + 1)
    c1y = np.zeros(n_rows + 1)
    for j in range(n_rows):
        y = x[j]
        ok = np.isfinite(y)
        c0[j + 1] = c0[j] + (1.0 if ok else 0.0)
        c1[j + 1] = c1[j] + (j if ok else 0.0)
        c11[j + 1] = c11[j] + (float(j) * j if ok else 0.0)
        cy[j + 1] = cy[j] + (y if ok else 0.0)
        c1y[j + 1] = c1y[j] + (j * y if ok else 0.0)
    for i in range(n_rows):
        a = max(i - half, 0)
        b = min(i + half + 1, n_rows)
        n = c0[b] - c0[a]
        if n < need:
            out[i] = np.nan
            continue
        s1 = c1[b] - c1[a]
        s11 = c11[b] - c11[a]
        sy = cy[b] - cy[a]
        s1y = c1y[b] - c1y[a]
        var = s11 - s1 * s1 / n
        out[i] = (s1y - s1 * sy / n) / var if var > 0 else np.nan


@_jit()
def bin_medians(x: np.ndarray, size: int, min_count: int, out: np.ndarray) -> None:
    """``out[k]`` = median of the finite values of ``x[k*size : (k+1)*size]``."""
    buf = np.empty(size)
    need = max(min_count, 1)
    for k in range(out.shape[0]):
        n = 0
        for j in range(k * size, min((k + 1) * size, x.shape[0])):
            if np.isfinite(x[j]):
                n = sorted_insert(buf, n, x[j])
        out[k] = median_without(buf, n, -1) if n >= need else np.nan


# ---------------------------------------------------------------- array kernels


@_jit(parallel=PARALLEL)
def loo_median(values: np.ndarray, live: np.ndarray) -> np.ndarray:
    """``(rows, channels)`` -> for every live channel, the median of the other live channels'
    finite values in the same row (NaN if none); NaN for channels that are not live."""
    n_rows, n_channels = values.shape
    out = np.full((n_rows, n_channels), np.nan)
    for i in prange(n_rows):
        buf = np.empty(n_channels)
        n = 0
        for c in range(n_channels):
            if live[c] and np.isfinite(values[i, c]):
                n = sorted_insert(buf, n, values[i, c])
        for c in range(n_channels):
            if not live[c]:
                continue
            value = values[i, c]
            skip = -1
            if np.isfinite(value):
                for k in range(n):
                    if buf[k] == value:
                        skip = k
                        break
            out[i, c] = median_without(buf, n, skip)
    return out


@_jit(parallel=PARALLEL)
def rolling_median(x: np.ndarray, lo: int, hi: int, min_count: int) -> np.ndarray:
    """Per column of ``x`` (rows, series): median of the finite ``x[i+lo : i+hi]``."""
    out = np.empty(x.shape)
    for c in prange(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        result = np.empty(x.shape[0])
        sliding_median(column, lo, hi, min_count, result)
        out[:, c] = result
    return out


@_jit(parallel=PARALLEL)
def window_shift(x: np.ndarray, w: int, min_count: int) -> np.ndarray:
    """Per column: ``median(x[i:i+w]) - median(x[i-w:i])`` (finite values only)."""
    n_rows = x.shape[0]
    out = np.empty(x.shape)
    for c in prange(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        after = np.empty(n_rows)
        sliding_median(column, 0, w, min_count, after)
        for i in range(n_rows):
            out[i, c] = after[i] - after[i - w] if i >= w else np.nan
        if w > 0:
            # before windows clipped at the start: median(x[0:i]) for i < w
            buf = np.empty(w)
            n = 0
            for i in range(min(w, n_rows)):
                if i > 0 and np.isfinite(column[i - 1]):
                    n = sorted_insert(buf, n, column[i - 1])
                before = median_without(buf, n, -1) if n >= max(min_count, 1) else np.nan
                out[i, c] = after[i] - before
    return out


@_jit(parallel=PARALLEL)
def bin_median(x: np.ndarray, size: int, min_count: int) -> np.ndarray:
    """Per column: medians of consecutive bins of ``size`` rows (the last bin may be short)."""
    n_bins = -(-x.shape[0] // size)
    out = np.empty((n_bins, x.shape[1]))
    for c in prange(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        result = np.empty(n_bins)
        bin_medians(column, size, min_count, result)
        out[:, c] = result
    return out


@_jit(parallel=PARALLEL)
def rolling_slope(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Per column: least-squares slope per row of the finite ``x[i-half : i+half+1]``."""
    out = np.empty(x.shape)
    for c in prange(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        result = np.empty(x.shape[0])
        slope_sums(column, half, min_count, result)
        out[:, c] = result
    return out


# ---------------------------------------------------------------- numpy references


def _median_or_nan(window: np.ndarray, min_count: int) -> float:
    finite = window[np.isfinite(window)]
    if len(finite) < max(min_count, 1):
        return np.nan
    return float(np.median(finite))


def _columns(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def loo_median_reference(values: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Plain numpy version of :func:`loo_median`."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    live_idx = np.flatnonzero(live)
    for c in live_idx:
        others = values[:, [k for k in live_idx if k != c]]
        for i in range(values.shape[0]):
            out[i, c] = _median_or_nan(others[i], 1)
    return out


def rolling_median_reference(x: np.ndarray, lo: int, hi: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`rolling_median`."""
    x = _columns(x)
    n = x.shape[0]
    out = np.full(x.shape, np.nan)
    for i in range(n):
        a, b = min(max(i + lo, 0), n), min(max(i + hi, 0), n)
        for c in range(x.shape[1]):
            out[i, c] = _median_or_nan(x[a:b, c], min_count)
    return out


def window_shift_reference(x: np.ndarray, w: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`window_shift`."""
    after = rolling_median_reference(x, 0, w, min_count)
    before = rolling_median_reference(x, -w, 0, min_count)
    return after - before


def bin_median_reference(x: np.ndarray, size: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`bin_median`."""
    x = _columns(x)
    n_bins = -(-x.shape[0] // size)
    out = np.full((n_bins, x.shape[1]), np.nan)
    for k in range(n_bins):
        for c in range(x.shape[1]):
            out[k, c] = _median_or_nan(x[k * size : (k + 1) * size, c], min_count)
    return out


def rolling_slope_reference(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`rolling_slope`."""
    x = _columns(x)
    out = np.full(x.shape, np.nan)
    for c in range(x.shape[1]):
        for i in range(x.shape[0]):
            lo, hi = max(i - half, 0), min(i + half + 1, x.shape[0])
            j = np.arange(lo, hi, dtype=np.float64)
            y = x[lo:hi, c]
            ok = np.isfinite(y)
            if ok.sum() < max(min_count, 2) or np.ptp(j[ok]) == 0:
                continue
            out[i, c] = np.polyfit(j[ok], y[ok], 1)[0]
    return out


__all__ = [
    "bin_median",
    "bin_median_reference",
    "bin_medians",
    "loo_median",
    "loo_median_reference",
    "median_without",
    "rolling_median",
    "rolling_median_reference",
    "rolling_slope",
    "rolling_slope_reference",
    "sliding_median",
    "slope_sums",
    "sorted_insert",
    "sorted_remove",
    "window_shift",
    "window_shift_reference",
]
