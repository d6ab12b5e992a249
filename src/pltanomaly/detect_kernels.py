"""Numba kernels of the detector, each with a plain numpy reference used in the tests.

Every kernel works on float64 arrays in which NaN marks a missing value; windows only use
their finite values and give NaN when fewer than ``min_count`` are finite. Kernels are small
and pure (no allocation visible to the caller beyond their result); the loops over rows or
channels are ``prange`` loops.

Kernels (numpy reference in brackets):

- :func:`loo_median` (:func:`loo_median_reference`): for each row and channel, the median of
  the *other* live channels' values (the leave-one-out reference).
- :func:`rolling_median` (:func:`rolling_median_reference`): centred running median.
- :func:`window_shift` (:func:`window_shift_reference`): median of the ``w`` values from ``i``
  minus the median of the ``w`` values before ``i`` (a level change at ``i``).
- :func:`rolling_slope` (:func:`rolling_slope_reference`): least-squares slope per index of a
  centred window.
"""

from __future__ import annotations

import numpy as np

from pltanomaly._numba import _jit, prange

# ---------------------------------------------------------------- scalar helpers


@_jit()
def window_median(x: np.ndarray, lo: int, hi: int, min_count: int, buf: np.ndarray) -> float:
    """Median of the finite values of ``x[lo:hi]`` (``buf`` is scratch of length >= hi-lo);
    NaN when fewer than ``min_count`` (at least 1) are finite."""
    n = 0
    for j in range(max(lo, 0), min(hi, x.shape[0])):
        value = x[j]
        if np.isfinite(value):
            buf[n] = value
            n += 1
    if n < max(min_count, 1):
        return np.nan
    part = np.sort(buf[:n])
    half = n // 2
    if n % 2 == 1:
        return part[half]
    return 0.5 * (part[half - 1] + part[half])


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
def window_slope(x: np.ndarray, lo: int, hi: int, min_count: int) -> float:
    """Least-squares slope (per index) of the finite values of ``x[lo:hi]``."""
    n = 0
    sx = 0.0
    sy = 0.0
    for j in range(max(lo, 0), min(hi, x.shape[0])):
        if np.isfinite(x[j]):
            n += 1
            sx += j
            sy += x[j]
    if n < max(min_count, 2):
        return np.nan
    mx = sx / n
    my = sy / n
    sxx = 0.0
    sxy = 0.0
    for j in range(max(lo, 0), min(hi, x.shape[0])):
        if np.isfinite(x[j]):
            sxx += (j - mx) * (j - mx)
            sxy += (j - mx) * (x[j] - my)
    if sxx <= 0.0:
        return np.nan
    return sxy / sxx


# ---------------------------------------------------------------- array kernels


@_jit(parallel=True)
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
                buf[n] = values[i, c]
                n += 1
        ordered = np.sort(buf[:n])
        for c in range(n_channels):
            if not live[c]:
                continue
            value = values[i, c]
            skip = -1
            if np.isfinite(value):
                for k in range(n):
                    if ordered[k] == value:
                        skip = k
                        break
            out[i, c] = median_without(ordered, n, skip)
    return out


@_jit(parallel=True)
def rolling_median(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Median of the finite values of ``x[i-half : i+half+1]`` for every ``i``."""
    n = x.shape[0]
    out = np.empty(n)
    for i in prange(n):
        buf = np.empty(2 * half + 1)
        out[i] = window_median(x, i - half, i + half + 1, min_count, buf)
    return out


@_jit(parallel=True)
def window_shift(x: np.ndarray, w: int, min_count: int) -> np.ndarray:
    """``median(x[i:i+w]) - median(x[i-w:i])`` for every ``i`` (finite values only)."""
    n = x.shape[0]
    out = np.empty(n)
    for i in prange(n):
        buf = np.empty(w)
        after = window_median(x, i, i + w, min_count, buf)
        before = window_median(x, i - w, i, min_count, buf)
        out[i] = after - before
    return out


@_jit(parallel=True)
def rolling_slope(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Least-squares slope per index of the finite values of ``x[i-half : i+half+1]``."""
    n = x.shape[0]
    out = np.empty(n)
    for i in prange(n):
        out[i] = window_slope(x, i - half, i + half + 1, min_count)
    return out


# ---------------------------------------------------------------- numpy references


def _windows(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    n = len(x)
    return [x[max(a, 0) : min(b, n)] for a, b in zip(lo, hi, strict=True)]


def _median_or_nan(window: np.ndarray, min_count: int) -> float:
    finite = window[np.isfinite(window)]
    if len(finite) < max(min_count, 1):
        return np.nan
    return float(np.median(finite))


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


def rolling_median_reference(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`rolling_median`."""
    idx = np.arange(len(x))
    wins = _windows(np.asarray(x, float), idx - half, idx + half + 1)
    return np.array([_median_or_nan(w, min_count) for w in wins])


def window_shift_reference(x: np.ndarray, w: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`window_shift`."""
    x = np.asarray(x, float)
    idx = np.arange(len(x))
    after = [_median_or_nan(v, min_count) for v in _windows(x, idx, idx + w)]
    before = [_median_or_nan(v, min_count) for v in _windows(x, idx - w, idx)]
    return np.array(after) - np.array(before)


def rolling_slope_reference(x: np.ndarray, half: int, min_count: int) -> np.ndarray:
    """Plain numpy version of :func:`rolling_slope`."""
    x = np.asarray(x, float)
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        lo, hi = max(i - half, 0), min(i + half + 1, len(x))
        j = np.arange(lo, hi)
        y = x[lo:hi]
        ok = np.isfinite(y)
        if ok.sum() < max(min_count, 2):
            continue
        jj = j[ok].astype(float)
        if np.ptp(jj) == 0:
            continue
        out[i] = np.polyfit(jj, y[ok], 1)[0]
    return out


__all__ = [
    "loo_median",
    "loo_median_reference",
    "median_without",
    "rolling_median",
    "rolling_median_reference",
    "rolling_slope",
    "rolling_slope_reference",
    "window_median",
    "window_shift",
    "window_shift_reference",
    "window_slope",
]
