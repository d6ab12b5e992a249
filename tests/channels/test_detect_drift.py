"""The drift detector's pieces: its window lengths and where it places a drift."""

from __future__ import annotations

import numpy as np
import pytest

from pltanomaly.channels.detect.drift import _place, _roughness, spans


def test_window_lengths_run_from_the_shortest_to_the_whole_fill():
    lengths = spans(72, 300.0, 1200.0)
    assert lengths[0] == 4 and lengths[-1] == 71
    assert lengths == sorted(set(lengths))
    assert spans(3, 300.0, 1200.0) == []  # a fill shorter than the shortest drift


@pytest.mark.parametrize(("first", "last"), [(0, 9), (8, 17), (14, 23)])
def test_a_drift_is_placed_where_the_level_ramps(first, last):
    """A ramp of -3 % from block ``first`` to ``last`` (from the fill's start, in its
    middle, to its end) in noisy levels, looked for in a window twice as long."""
    rng = np.random.default_rng(1)
    t = np.arange(24)
    level = -0.03 * np.clip((t - first) / (last - first), 0, 1) + 5e-4 * rng.standard_normal(24)
    a, b, change = _place(level, max(0, first - 4), min(23, last + 4), 6)
    assert abs(a - first) <= 1 and abs(b - last) <= 1
    assert change == pytest.approx(-0.03, rel=0.1)


def test_roughness_is_the_extra_wander_not_a_ramp_nor_counting_noise():
    rng = np.random.default_rng(2)
    n, channels = 40, 12
    level = np.cumsum(1e-3 * rng.standard_normal((n, channels)), axis=0)
    level[:, 3] += np.linspace(0.0, 0.08, n)  # a steady drift: not rough
    level[:, 5] = np.cumsum(3e-3 * rng.standard_normal(n))  # wanders three times as much
    sigma = np.full(channels, 1e-4)
    sigma[7] = 2e-3  # a weak channel: counting noise, removed
    level[:, 7] += sigma[7] * rng.standard_normal(n)
    rough = _roughness(level, sigma)
    assert rough[5] > 2.0
    assert rough[3] < 1.3 and rough[7] < 1.5
    assert np.all(rough >= 1.0)
