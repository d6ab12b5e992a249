"""The detector's numba kernels against their plain numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pltanomaly.channels.detect import kernels as k


def _data(seed: int, rows: int, cols: int, nan_fraction: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, cols))
    x[rng.random(x.shape) < nan_fraction] = np.nan
    # ties and runs of NaN, as in real series
    if rows > 10:
        x[3:6, 0] = 1.5
        x[rows // 2 : rows // 2 + 5, -1] = np.nan
    return x


arrays = st.builds(
    _data,
    seed=st.integers(0, 10_000),
    rows=st.integers(0, 60),
    cols=st.integers(1, 4),
    nan_fraction=st.sampled_from([0.0, 0.2, 0.7, 1.0]),
)


@settings(max_examples=60, deadline=None)
@given(x=arrays, lo=st.integers(-12, 3), width=st.integers(1, 15), min_count=st.integers(0, 6))
def test_rolling_median_matches_reference(x, lo, width, min_count):
    got = k.rolling_median(x, lo, lo + width, min_count)
    want = k.rolling_median_reference(x, lo, lo + width, min_count)
    np.testing.assert_allclose(got, want, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(x=arrays, w=st.integers(1, 12), min_count=st.integers(0, 6))
def test_window_shift_matches_reference(x, w, min_count):
    got = k.window_shift(x, w, min_count)
    want = k.window_shift_reference(x, w, min_count)
    np.testing.assert_allclose(got, want, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(x=arrays, size=st.integers(1, 9), min_count=st.integers(0, 5))
def test_bin_median_matches_reference(x, size, min_count):
    got = k.bin_median(x, size, min_count)
    want = k.bin_median_reference(x, size, min_count)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(x=arrays, half=st.integers(1, 12), min_count=st.integers(0, 8))
def test_rolling_slope_matches_reference(x, half, min_count):
    got = k.rolling_slope(x, half, min_count)
    want = k.rolling_slope_reference(x, half, min_count)
    np.testing.assert_allclose(got, want, equal_nan=True, rtol=1e-7, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(0, 30),
    nan_fraction=st.sampled_from([0.0, 0.3, 0.9]),
    live_bits=st.integers(0, 2**16 - 1),
)
def test_loo_median_matches_reference(seed, rows, nan_fraction, live_bits):
    values = _data(seed, rows, 16, nan_fraction)
    live = np.array([(live_bits >> c) & 1 == 1 for c in range(16)])
    got = k.loo_median(values, live)
    want = k.loo_median_reference(values, live)
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_loo_median_leaves_the_channel_out():
    values = np.array([[1.0, 2.0, 3.0, 100.0]])
    live = np.array([True, True, True, True])
    out = k.loo_median(values, live)
    # channel 3's reference is the median of 1, 2, 3; the others see 100 among theirs
    assert out[0, 3] == 2.0
    assert out[0, 0] == 3.0
    assert out[0, 1] == 3.0
    assert out[0, 2] == 2.0


def test_slope_of_a_line_is_exact():
    x = (0.25 * np.arange(50.0) + 3.0)[:, None]
    out = k.rolling_slope(x, 5, 3)
    np.testing.assert_allclose(out[:, 0], 0.25)


@pytest.mark.parametrize("w", [1, 3, 8])
def test_window_shift_finds_a_step(w):
    x = np.r_[np.zeros(30), np.ones(30)][:, None]
    out = k.window_shift(x, w, 1)[:, 0]
    assert out[30] == 1.0
    assert np.nanmax(np.abs(np.r_[out[: 30 - w], out[31 + w :]])) == 0.0


def test_median_without_skips_one_value():
    ordered = np.array([1.0, 2.0, 5.0, 9.0])
    assert k.median_without(ordered, 4, -1) == 3.5
    assert k.median_without(ordered, 4, 0) == 5.0
    assert k.median_without(ordered, 4, 3) == 2.0
    assert np.isnan(k.median_without(ordered, 1, 0))
