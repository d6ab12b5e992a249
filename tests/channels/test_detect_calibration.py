"""The detector's calibration by the data: robust spreads, false-alarm thresholds, the noise
model, and the detector on hand-made channel sets (one outlier among many, channels
wandering together or each on its own, pileup dependence against drift, a weak channel)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from pltanomaly.channels.detect import detect_fill
from pltanomaly.channels.detect.calibration import (
    fit_noise_model,
    noisiest_normal_scale,
    robust_scale,
    typical_scale,
    z_threshold,
)
from pltanomaly.channels.io import NB4_SECONDS, ORBITS_PER_NB4

T0 = 1.6568e9


# ---------------------------------------------------------------- calibration helpers


def test_one_outlier_among_many_does_not_move_the_normal_spread():
    spreads = np.ones(13)
    with_outlier = spreads.copy()
    with_outlier[4] = 25.0
    assert typical_scale(with_outlier) == pytest.approx(1.0)
    assert noisiest_normal_scale(with_outlier) == pytest.approx(1.0)
    values = np.random.default_rng(1).standard_normal(5000)
    values[:50] = 1e3  # 1 % wild values
    assert robust_scale(values) == pytest.approx(1.0, rel=0.08)


def test_noisiest_normal_channel_grows_with_the_channels_spread():
    rng = np.random.default_rng(2)
    homogeneous = np.exp(rng.normal(0.0, 0.02, 13))
    heterogeneous = np.exp(rng.normal(0.0, 0.4, 13))
    assert noisiest_normal_scale(homogeneous) == pytest.approx(1.0, rel=0.1)
    assert noisiest_normal_scale(heterogeneous) > 1.4 * typical_scale(heterogeneous)
    # about the largest of the channels, not beyond it by much
    assert noisiest_normal_scale(heterogeneous) < 2.0 * heterogeneous.max()


def test_false_alarm_threshold_is_the_gaussian_tail_of_the_tests():
    assert z_threshold(0.01, 10.0) == pytest.approx(NormalDist().inv_cdf(1 - 0.0005))
    rates = [1e-1, 1e-2, 1e-3, 1e-4]
    zs = [z_threshold(r, 12.0) for r in rates]
    assert zs == sorted(zs)
    assert z_threshold(1e-3, 1000.0) > z_threshold(1e-3, 1.0)


@pytest.mark.parametrize("jitter", [0.0, 5e-4, 2e-3])
def test_noise_model_recovers_statistical_noise_and_jitter(jitter):
    rng = np.random.default_rng(3)
    n_rows, n_channels, k = 4000, 12, 0.0078  # k ~ 1/sqrt(16384)
    level = np.linspace(1.0, 0.6, n_rows)[:, None]
    efficiency = np.full(n_channels, 1.0)
    efficiency[5] = 0.2  # a weak channel: more statistical noise, same model
    rate = 300.0 * level * efficiency[None, :]
    sigma = np.sqrt(k**2 / rate + jitter**2)
    d = sigma * rng.standard_normal((n_rows, n_channels))
    model = fit_noise_model(d, rate, np.ones((n_rows - 1, n_channels), dtype=bool), 160)
    assert model.k == pytest.approx(k, rel=0.1)
    assert model.jitter == pytest.approx(jitter, abs=max(0.15 * jitter, 1e-4))
    assert np.allclose(model.factor, 1.0, atol=0.1)
    assert model.k_ref < 0.3 * k  # no reference noise in this set
    assert np.allclose(model.sigma(rate, np.median(rate, axis=1)), sigma, rtol=0.12)


def test_noise_model_bounds_an_outlier_channels_own_factor():
    rng = np.random.default_rng(4)
    rate = np.full((3000, 12), 300.0)
    sigma = np.full(12, 5e-4)
    sigma[7] *= 6.0  # excess noise all fill long: not its normal noise
    d = sigma[None, :] * rng.standard_normal(rate.shape)
    model = fit_noise_model(d, rate, np.ones((2999, 12), dtype=bool), 160)
    assert model.factor[7] < 3.0


# ---------------------------------------------------------------- hand-made channel sets


def _ar1(rng: np.random.Generator, n: int, sigma: float, tau_rows: float) -> np.ndarray:
    a = math.exp(-1.0 / tau_rows)
    noise = rng.standard_normal(n) * sigma * math.sqrt(1 - a * a)
    out = np.empty(n)
    out[0] = rng.standard_normal() * sigma
    for i in range(1, n):
        out[i] = a * out[i - 1] + noise[i]
    return out


def channel_set(
    *,
    seed: int = 0,
    hours: float = 2.0,
    n_channels: int = 13,
    wander: float = 0.001,
    common_wander: float = 0.0,
    pileup: float = 0.0,
    jitter: float = 2e-4,
    efficiency: dict[int, float] | None = None,
    changes: dict[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """A fill series built by hand: a decaying luminosity with levelling steps and two
    emittance scans, channels with their own wander (``wander``), a wander shared by all
    (``common_wander``), pileup coefficients ``~N(0, pileup)``, per-NB4 jitter and the
    zero-counting noise; ``changes`` multiplies a channel's rate by a given factor per NB4."""
    rng = np.random.default_rng(seed)
    n = round(hours * 3600 / NB4_SECONDS)
    t = np.arange(n) * NB4_SECONDS
    lumi = np.exp(-t / (12 * 3600))
    levelled = t < hours * 3600 / 2
    since = np.mod(t, 1200.0)
    lumi = np.where(levelled, np.minimum(lumi, 0.8 * np.exp(-since / (3 * 3600))), lumi)
    for start in (400.0, hours * 3600 - 900.0):  # scans: steps down to ~0 and back
        for i, sep in enumerate([1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]):
            inside = (t >= start + 20 * i) & (t < start + 20 * (i + 1))
            lumi[inside] *= math.exp(-(sep**2) / 2)
    common = 1 + _ar1(rng, n, common_wander, 1800 / NB4_SECONDS) if common_wander else 1.0
    rows = []
    for channel in range(n_channels):
        eff = (efficiency or {}).get(channel, rng.uniform(0.9, 1.1))
        own = 1 + _ar1(rng, n, wander, 2400 / NB4_SECONDS)
        response = 1 + rng.normal(0.0, pileup) * (lumi - 1)
        mean = 300.0 * eff * lumi * own * common * response
        mean *= 1 + jitter * rng.standard_normal(n)
        if changes and channel in changes:
            mean *= changes[channel]
        rate = mean + np.sqrt(mean / ORBITS_PER_NB4) * rng.standard_normal(n)
        rows.append(
            pd.DataFrame({"timestamp": T0 + t, "channel": channel, "rate": rate, "stuck": False})
        )
    return pd.concat(rows, ignore_index=True).sort_values(["timestamp", "channel"])


def _events(result: dict) -> dict[int, list[str]]:
    return {
        int(c): [e["type"] for e in v["events"]]
        for c, v in result["channels"].items()
        if v["events"]
    }


def _detect(series: pd.DataFrame) -> dict:
    return detect_fill(series, fill=1, year=2022, dead_channels=list(range(13, 16)))


def _step(hours: float, at_hours: float, size: float) -> np.ndarray:
    t = np.arange(round(hours * 3600 / NB4_SECONDS)) * NB4_SECONDS
    return np.where(t >= at_hours * 3600, 1 + size, 1.0)


@pytest.mark.parametrize("wander", [0.001, 0.01])
def test_same_defaults_hold_for_quiet_and_rough_wander(wander):
    """Each channel wandering on its own by 0.1 % or by 1 %: nothing flagged with the same
    settings, and a 5 % step on one channel found in both."""
    for seed in range(3):
        assert _events(_detect(channel_set(seed=seed, wander=wander))) == {}
    stepped = channel_set(seed=7, wander=wander, changes={4: _step(2.0, 1.0, -0.05)})
    assert _events(_detect(stepped)) == {4: ["step"]}


def test_channels_wandering_together_cancel():
    series = channel_set(seed=1, wander=0.0005, common_wander=0.03)
    assert _events(_detect(series)) == {}


@pytest.mark.parametrize("pileup", [0.02, 0.2])
def test_pileup_dependence_is_not_drift_but_a_drift_is(pileup):
    """Ratios that follow the luminosity (levelling steps, scans, decay) by 0.5 % to 5 %
    are normal; a 4 %/h drift for an hour on one channel is a drift, there only."""
    for seed in range(3):
        assert _events(_detect(channel_set(seed=seed, pileup=pileup))) == {}
    t = np.arange(round(2 * 3600 / NB4_SECONDS)) * NB4_SECONDS / 3600
    ramp = 1 + 0.04 * np.clip(t - 0.5, 0.0, 1.0)
    result = _detect(channel_set(seed=5, pileup=pileup, changes={6: ramp}))
    assert _events(result) == {6: ["drift"]}
    (event,) = result["channels"]["6"]["events"]
    assert event["magnitude"] == pytest.approx(0.04, rel=0.35)


def _ramp(hours: float, start: float, end: float, change: float) -> np.ndarray:
    """A lasting ``change`` reached linearly from ``start`` to ``end`` hours into the fill."""
    t = np.arange(round(hours * 3600 / NB4_SECONDS)) * NB4_SECONDS / 3600
    return 1 + change * (np.clip(t, start, end) - start) / (end - start)


DRIFT_PLACES = {"start": (0.0, 0.75), "middle": (0.6, 1.35), "end": (1.25, 2.0)}
"""Hours of a 2-h fill: from its first minute, across levelling steps, to its last minute."""


@pytest.mark.parametrize("where", list(DRIFT_PLACES))
@pytest.mark.parametrize(("wander", "change", "within"), [(0.001, 0.03, 0.25), (0.01, 0.08, 0.5)])
def test_drift_is_found_wherever_it_sits_in_the_fill(where, wander, change, within):
    """A lasting change over 45 min on one channel, of 3 % among quiet channels (wander
    0.1 %) or 8 % among rough ones (1 %), all wandering on their own: a drift there only,
    placed where it is, whether it starts with the fill, sits between levelling steps or
    runs to the fill's last minute (to ``within`` hours: the wander blurs its ends)."""
    start, end = DRIFT_PLACES[where]
    for seed in range(3):
        series = channel_set(seed=seed, wander=wander, changes={4: _ramp(2.0, start, end, change)})
        result = _detect(series)
        assert _events(result) == {4: ["drift"]}, (seed, _events(result))
        (event,) = result["channels"]["4"]["events"]
        hours = [(event[k] - T0) / 3600 for k in ("start", "end")]
        assert abs(hours[0] - start) <= within and abs(hours[1] - end) <= within, hours


def test_drift_on_a_weak_channel_to_the_fills_end():
    weak = {2: 0.2}
    result = _detect(channel_set(seed=4, efficiency=weak, changes={2: _ramp(2.0, 1.3, 2.0, -0.04)}))
    assert _events(result) == {2: ["drift"]}


def test_weak_channel_is_analysed_with_its_own_noise():
    weak = {2: 0.2}
    result = _detect(channel_set(seed=3, efficiency=weak))
    info = result["channels"]["2"]
    assert info["status"] == "normal" and info["efficiency"] == pytest.approx(0.2, rel=0.15)
    stepped = _detect(channel_set(seed=3, efficiency=weak, changes={2: _step(2.0, 1.2, 0.06)}))
    assert _events(stepped) == {2: ["step"]}


def test_one_noisy_channel_among_many():
    rng = np.random.default_rng(9)
    n = round(2 * 3600 / NB4_SECONDS)
    t = np.arange(n) * NB4_SECONDS
    inside = (t > 2400) & (t < 4200)
    # variance x8 of a channel whose normal noise is ~0.06 % (statistics) + 0.02 % (jitter)
    extra = np.where(inside, math.sqrt(7.0) * 6.3e-4 * rng.standard_normal(n), 0.0)
    result = _detect(channel_set(seed=2, changes={8: 1 + extra}))
    assert _events(result) == {8: ["noise"]}
    (event,) = result["channels"]["8"]["events"]
    assert event["unit"] == "variance factor" and 4.0 < event["magnitude"] < 16.0


def test_nanmedian_matches_numpy_along_either_axis():
    import warnings

    from pltanomaly.channels.detect.calibration import nanmedian

    rng = np.random.default_rng(5)
    for shape in [(40, 13), (5, 4), (1, 1), (3, 2)]:
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.3] = np.nan
        x[0] = np.nan
        x[-1, -1] = np.inf  # not finite: left out
        reference = np.where(np.isfinite(x), x, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for axis in (0, 1):
                expected = np.nanmedian(reference, axis=axis)
                assert np.allclose(nanmedian(x, axis=axis), expected, equal_nan=True)
