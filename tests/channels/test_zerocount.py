"""The zero-counting kernel against its numpy reference, on hand-made and random rows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pltanomaly.channels.io import N_BX
from pltanomaly.channels.zerocount import (
    detect_counts_mode,
    empty_bunches,
    infer_colliding,
    mu_table,
    reduce_rows,
    reduce_rows_reference,
    repeats_previous,
    row_checksum,
)

COLLIDING = np.arange(100, 1300)
EMPTY = np.flatnonzero(empty_bunches(np.isin(np.arange(N_BX), COLLIDING)))


def run_kernel(
    data: np.ndarray, orbits: int = 16384, mode: str = "zeros", colliding=COLLIDING, empty=EMPTY
):
    n = data.shape[0]
    rate, empty_mu = np.empty(n), np.empty(n, dtype=np.float32)
    checksum, valid = np.empty(n, dtype=np.uint64), np.empty(n, dtype=bool)
    reduce_rows(data, colliding, empty, mu_table(orbits, mode), rate, empty_mu, checksum, valid)
    return rate, empty_mu, checksum, valid


def assert_matches_reference(data: np.ndarray, orbits: int = 16384, mode: str = "zeros") -> None:
    rate, empty_mu, checksum, valid = run_kernel(data, orbits, mode)
    ref_rate, ref_empty, ref_checksum, ref_valid = reduce_rows_reference(
        data, COLLIDING, EMPTY, orbits, mode
    )
    np.testing.assert_array_equal(valid, ref_valid)
    np.testing.assert_allclose(rate[valid], ref_rate[valid], rtol=1e-12)
    np.testing.assert_allclose(empty_mu[valid], ref_empty[valid], rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(checksum[valid], ref_checksum[valid])
    assert np.isnan(rate[~valid]).all()


@pytest.mark.parametrize("dtype", ["uint32", "int32", "float32"])
def test_kernel_matches_reference_on_binomial_rows(dtype: str) -> None:
    rng = np.random.default_rng(4)
    data = rng.binomial(16384, np.exp(-rng.uniform(0, 0.4, N_BX)), size=(300, N_BX)).astype(dtype)
    data[7, 11] = 16385  # garbage: above the orbit count
    data[9, 0] = 0  # zero zeros: clipped to 1
    assert_matches_reference(data)


def test_kernel_handles_strided_rows_like_a_record_array() -> None:
    records = np.zeros(50, dtype=[("channelid", "u1"), ("data", "<u4", (N_BX,))])
    records["data"] = np.random.default_rng(1).integers(12000, 16385, size=(50, N_BX))
    view = records["data"]
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(run_kernel(view)[0], run_kernel(np.ascontiguousarray(view))[0])


def test_hand_made_rows() -> None:
    orbits = 16384
    data = np.full((4, N_BX), orbits, dtype=np.uint32)  # row 0: no hit at all
    data[1, COLLIDING] = round(orbits / np.e)  # mu = 1 per colliding bunch
    data[2] = data[1]
    data[2, 5] = orbits + 1  # one count above the orbit count
    data[3, COLLIDING[:10]] = 1  # nearly saturated bunches
    rate, empty_mu, checksum, valid = run_kernel(data)
    assert rate[0] == 0.0 and empty_mu[0] == 0.0
    assert rate[1] == pytest.approx(len(COLLIDING) * 1.0, rel=1e-4)
    assert valid.tolist() == [True, True, False, True]
    assert rate[3] == pytest.approx(10 * np.log(orbits))
    assert checksum[0] != checksum[1]


def test_invalid_values_nan_and_negative() -> None:
    data = np.full((3, N_BX), 16000, dtype=np.float32)
    data[0, 3] = np.nan
    data[1, 3] = -1
    valid = run_kernel(data)[3]
    assert valid.tolist() == [False, False, True]
    signed = np.full((1, N_BX), 16000, dtype=np.int32)
    signed[0, 0] = -5
    assert not run_kernel(signed)[3][0]


def test_hits_mode_equals_zeros_mode_of_complement() -> None:
    rng = np.random.default_rng(2)
    hits = rng.binomial(4096, 0.13, size=(20, N_BX)).astype(np.uint32)
    rate_hits = run_kernel(hits, orbits=4096, mode="hits")[0]
    rate_zeros = run_kernel((4096 - hits).astype(np.uint32), orbits=4096, mode="zeros")[0]
    np.testing.assert_allclose(rate_hits, rate_zeros, rtol=1e-12)
    assert_matches_reference(hits, orbits=4096, mode="hits")


@settings(max_examples=40, deadline=None)
@given(
    data=arrays(
        np.uint32, st.tuples(st.integers(1, 6), st.just(N_BX)), elements=st.integers(0, 17000)
    ),
    orbits=st.sampled_from([4096, 16384]),
)
def test_kernel_matches_reference_property(data: np.ndarray, orbits: int) -> None:
    assert_matches_reference(data, orbits)


@settings(max_examples=30, deadline=None)
@given(row=arrays(np.uint32, N_BX, elements=st.integers(0, 16384)), swap=st.integers(0, N_BX - 2))
def test_checksum_equal_rows_equal_sums_and_position_matters(row: np.ndarray, swap: int) -> None:
    assert row_checksum(row) == row_checksum(row.copy())
    swapped = row.copy()
    swapped[[swap, swap + 1]] = swapped[[swap + 1, swap]]
    if row[swap] != row[swap + 1]:
        assert row_checksum(swapped) != row_checksum(row)


def test_empty_bunches_skip_afterglow_and_wrap_around() -> None:
    colliding = np.zeros(N_BX, dtype=bool)
    colliding[[0, N_BX - 1]] = True
    empty = empty_bunches(colliding, afterglow=3)
    assert not empty[[0, 1, 2, 3, N_BX - 1]].any()
    assert empty[4]
    filled = np.zeros(N_BX, dtype=bool)
    filled[10] = True
    assert not empty_bunches(colliding, filled, afterglow=3)[10]


def test_infer_colliding_separates_levels_and_sees_no_beam() -> None:
    mean_mu = np.full(N_BX, 1e-4)
    mean_mu[COLLIDING] = 0.12
    mean_mu[COLLIDING[:50]] = 0.02  # weaker bunches still collide
    np.testing.assert_array_equal(np.flatnonzero(infer_colliding(mean_mu)), COLLIDING)
    assert not infer_colliding(np.full(N_BX, 1e-4)).any()


def test_detect_counts_mode() -> None:
    rng = np.random.default_rng(3)
    p = np.where(np.isin(np.arange(N_BX), COLLIDING), np.exp(-0.15), 1.0)
    zeros = rng.binomial(16384, p, size=(64, N_BX))
    zeros[0, :40] = 60000  # a garbage row does not change the verdict
    assert detect_counts_mode(zeros) == ("zeros", 16384)
    assert detect_counts_mode(rng.binomial(4096, p, size=(64, N_BX))) == ("zeros", 4096)
    hits = rng.binomial(4096, 1 - p, size=(64, N_BX))
    assert detect_counts_mode(hits) == ("hits", 4096)
    with pytest.raises(ValueError):
        detect_counts_mode(np.full((2, N_BX), np.nan))


def test_repeats_previous_per_channel() -> None:
    channel = np.array([0, 1, 0, 1, 0, 1])
    checksum = np.array([5, 7, 5, 8, 6, 8], dtype=np.uint64)
    assert repeats_previous(channel, checksum).tolist() == [False, False, True, False, False, True]


FIRST_KERNEL = """
import sys
import numpy as np
from pltanomaly.channels import zerocount
rows = np.zeros((4, 3564), np.uint32)
colliding, empty = np.arange(0, 3564, 3), np.arange(1, 3564, 3)
out = np.empty(4), np.empty(4, np.float32), np.empty(4, np.uint64), np.empty(4, bool)
zerocount.reduce_rows(rows, colliding, empty, zerocount.mu_table(16384, "zeros"), *out)
loaded_linalg = "scipy.linalg" in sys.modules
import numba
dot = numba.njit(lambda a, b: np.dot(a, b))(np.ones((2, 2)), np.ones((2, 2)))
print(loaded_linalg, float(dot.sum()))
"""


def test_the_first_kernel_loads_without_scipy_linear_algebra():
    """numba's BLAS probe (scipy.linalg, 0.3 s) is skipped; np.dot still gets BLAS."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_KERNEL], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "8.0"]
