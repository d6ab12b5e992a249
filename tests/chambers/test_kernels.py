"""The DT kernels against their numpy twins, on hand-made layers and random ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pltanomaly.chambers.kernels import (
    deficit_scan,
    deficit_scan_reference,
    local_median,
    local_median_reference,
    longest_zero_run,
    longest_zero_run_reference,
)

layers = arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.sampled_from([-1.0, 0.0, 0.0, 1.0, 2.0, 5.0, 30.0]),
)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ([5, 0, 0, 3, 0, 0, 0, 1], 3),
        ([-1, 0, 0, -1, 0, 4], 2),
        ([1, 2, 3], 0),
        ([0, 0, 0, 0], 4),
        ([-1, -1], 0),
    ],
)
def test_longest_zero_run_by_hand(layer: list[float], expected: int) -> None:
    row = np.array(layer, dtype=float)
    assert longest_zero_run(row) == expected
    assert longest_zero_run_reference(row) == expected


@given(layers)
@settings(max_examples=200, deadline=None)
def test_longest_zero_run_matches_reference(layer: np.ndarray) -> None:
    assert longest_zero_run(layer) == longest_zero_run_reference(layer)


def test_local_median_by_hand() -> None:
    row = np.array([10.0, 10, 100, 12, -1, 14])
    got = local_median(row, 1)
    np.testing.assert_allclose(got, [10, 55, 11, 100, np.nan, np.nan])
    assert np.isnan(local_median(np.array([3.0]), 2)[0])


@given(layers, st.integers(1, 5))
@settings(max_examples=200, deadline=None)
def test_local_median_matches_reference(layer: np.ndarray, half_width: int) -> None:
    np.testing.assert_allclose(
        local_median(layer, half_width), local_median_reference(layer, half_width)
    )


def test_deficit_scan_by_hand() -> None:
    expected = np.array([10.0, 10, 10, 10, 10, 10, 10, 30, 30])
    layer = np.array([9.0, 0, 0, 9, 0, 1, 0, 0, 12])
    # cells 4..7 (1 hit against 60 expected) beat cells 1..2 (0 against 20)
    first, last, observed, wanted, llr = deficit_scan(layer, expected, 0.1)
    assert (first, last, observed, wanted) == (4, 7, 1.0, 60.0)
    assert llr == pytest.approx(59 + np.log(1 / 60))
    assert deficit_scan(np.array([-1.0, 5]), np.array([1.0, 5]), 0.1)[:2] == (-1, -1)
    # a missing cell splits a run
    assert deficit_scan(np.array([0.0, -1, 0, 0]), np.ones(4) * 5, 0.1)[:2] == (2, 3)


@given(layers, st.floats(0.0, 0.5))
@settings(max_examples=200, deadline=None)
def test_deficit_scan_matches_reference(layer: np.ndarray, ratio: float) -> None:
    expected = np.abs(np.sin(np.arange(len(layer)) + 1.0)) * 10
    got = deficit_scan(layer, expected, ratio)
    want = deficit_scan_reference(layer, expected, ratio)
    np.testing.assert_allclose(got[2:], want[2:])
    if want[4] > 0:
        assert got[:2] == want[:2]
