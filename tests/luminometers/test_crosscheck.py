"""The cross-check on hand-made fills: who is named, what is normal, the result shape."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from pltanomaly.luminometers.crosscheck import (
    CrosscheckConfig,
    beam_change_size,
    comes_back,
    crosscheck_fill,
    fit_linearity,
    heavy_tail_factor,
    lagged_wander,
    long_sigma,
    merge_noise,
    nanmedian_rows,
    noisy_stretches,
    report_fields,
    swings,
    write_result,
)
from tests.luminometers.conftest import make_fill

FIVE = ["pltzero", "hfoc", "dt", "ramses", "pcc"]


def events_of(result: dict, name: str) -> list[dict]:
    return result["luminometers"][name]["events"]


@pytest.mark.parametrize("names", [FIVE, ["pltzero", "hfoc", "pcc"]])
def test_the_luminometer_that_dips_is_named(names):
    table = make_fill(names)
    table.loc[200:205, "pltzero"] *= 0.95
    result = crosscheck_fill(table, 7000, 2018)
    assert result["anomalous"]
    assert result["luminometers"]["pltzero"]["status"] == "anomalous"
    (event,) = events_of(result, "pltzero")
    assert event["type"] == "dip"
    assert event["first"] == "300000:201" and event["last"] == "300000:206"
    assert event["magnitude"] == pytest.approx(-0.05, abs=0.01)
    for other in names[1:]:
        assert result["luminometers"][other]["status"] == "normal", other


def test_two_luminometers_are_undecided():
    table = make_fill(["pltzero", "hfoc"])
    table.loc[200:205, "pltzero"] *= 0.95
    result = crosscheck_fill(table, 7000)
    statuses = {name: e["status"] for name, e in result["luminometers"].items()}
    assert statuses == {"pltzero": "undecided", "hfoc": "undecided"}
    assert not result["anomalous"]


def test_quiet_fill_with_offsets_linearity_and_run_steps_is_normal():
    table = make_fill(FIVE, n_ls=900)
    table["pltzero"] *= 1 + 0.01 * table["pltzero"] / table["pltzero"].max()
    table.loc[table["run"] == 300001, "hfoc"] *= 1.02
    result = crosscheck_fill(table, 7000)
    assert not result["anomalous"], result
    assert all(not e["events"] for e in result["luminometers"].values())
    assert result["luminometers"]["pcc"]["median_ratio"] == pytest.approx(1.02, abs=0.01)


def test_scan_that_every_luminometer_follows_is_not_flagged():
    table = make_fill(FIVE)
    scan = np.r_[np.linspace(1, 0.2, 10), np.linspace(0.2, 1, 10)]
    for name in FIVE:
        table.loc[100:119, name] *= scan
    assert not crosscheck_fill(table, 7000)["anomalous"]


def test_uncalibrated_luminometer_is_a_scale_event():
    table = make_fill(FIVE)
    table["dt"] *= 0.05
    result = crosscheck_fill(table, 7000)
    types = [e["type"] for e in events_of(result, "dt")]
    assert "scale" in types
    assert result["luminometers"]["dt"]["median_ratio"] == pytest.approx(0.05, rel=0.05)
    assert all(not events_of(result, n) for n in FIVE if n != "dt")


def test_step_that_persists_is_found():
    table = make_fill(FIVE, noise=0.001)
    table.loc[150:, "ramses"] *= 0.97
    (event,) = events_of(crosscheck_fill(table, 7000), "ramses")
    assert event["type"] in ("step", "drift")
    assert event["first"] == "300000:151"


def test_absent_and_zero_luminometers():
    table = make_fill(FIVE)
    table["dt"] = -0.044
    table.loc[300:330, "pcc"] = 0.0
    result = crosscheck_fill(table, 7000)
    assert result["luminometers"]["dt"]["status"] == "absent"
    gaps = [e for e in events_of(result, "pcc") if e["type"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["n_ls"] == 31


def test_threshold_follows_the_false_alarm_rate():
    assert CrosscheckConfig(false_alarm_per_ls=1e-3).threshold == pytest.approx(3.29, abs=0.01)
    assert CrosscheckConfig(false_alarm_per_ls=1e-6).threshold > 4.8


def test_linearity_fit_recovers_slope_and_run_offsets():
    rng = np.random.default_rng(3)
    lumi = np.linspace(1.5, 0.5, 400)
    run = np.repeat([1, 2], 200)
    ratio = 0.003 * (lumi - 1) + np.where(run == 2, 0.02, 0.0) + 1e-4 * rng.standard_normal(400)
    fitted, slope = fit_linearity(ratio, lumi, run, run_min_ls=20)
    assert slope == pytest.approx(0.003, abs=3e-4)
    assert np.abs(ratio - fitted).max() < 1e-3


def test_heavy_tails_widen_the_threshold():
    rng = np.random.default_rng(4)
    assert heavy_tail_factor(rng.standard_normal(5000), 0.9) == pytest.approx(1.0, abs=0.05)
    assert heavy_tail_factor(rng.standard_t(1, 5000), 0.9) > 2


def test_result_shape_and_atomic_write(tmp_path):
    table = make_fill(["pltzero", "hfoc", "pcc"])
    table.loc[50:51, "hfoc"] *= 1.2
    result = crosscheck_fill(table, 7001, 2018)
    path = write_result(result, tmp_path / "2018" / "lumi")
    assert path.name == "7001.json"
    back = json.loads(path.read_text())
    assert back["source"] == "brilcalc" and back["fill"] == 7001 and back["year"] == 2018
    assert back["start"] < back["end"]
    for entry in back["luminometers"].values():
        assert entry["status"] in {"normal", "anomalous", "absent", "undecided"}
        assert 0 <= entry["score"] <= 1
        for event in entry["events"]:
            assert {"type", "first", "last", "start", "end", "magnitude", "score"} <= set(event)
    assert back["luminometers"]["hfoc"]["events"][0]["type"] == "spike"


def test_chain_of_short_excursions_is_one_noise_event():
    table = make_fill(FIVE, n_ls=900, noise=0.001)
    for start in (200, 260, 320, 380):
        table.loc[start, "pcc"] *= 1.05
    events = events_of(crosscheck_fill(table, 7000), "pcc")
    assert [e["type"] for e in events] == ["noise"]
    assert events[0]["first"] == "300000:201" and events[0]["last"] == "300001:81"
    assert events[0]["n_excursions"] == 4


def _excursion(first_ls: int, n_ls: int, magnitude: float) -> dict:
    return {
        "type": "spike" if magnitude > 0 else "dip",
        "first": f"1:{first_ls}",
        "last": f"1:{first_ls + n_ls - 1}",
        "start": 23.31 * first_ls,
        "end": 23.31 * (first_ls + n_ls),
        "magnitude": magnitude,
        "score": 0.9,
        "n_ls": n_ls,
    }


def test_merge_noise_keeps_isolated_excursions():
    config = CrosscheckConfig()
    far = [_excursion(first_ls, 1, -0.1) for first_ls in (1, 4300)]
    assert merge_noise(far, config) == far


def test_lobes_that_swing_each_way_side_by_side_are_a_wave_jumps_apart_are_noise():
    config = CrosscheckConfig()
    lobes = [_excursion(100 + 10 * k, 7, 0.03 * (-1) ** k) for k in range(4)]
    (wave,) = merge_noise(lobes, config)
    assert wave["type"] == "wave" and wave["magnitude"] == pytest.approx(0.03)
    assert (wave["first"], wave["last"], wave["n_excursions"]) == ("1:100", "1:136", 4)
    apart = [_excursion(100 + 60 * k, 2, 0.05 * (-1) ** k) for k in range(4)]
    assert [e["type"] for e in merge_noise(apart, config)] == ["noise"]
    one_way = [_excursion(100 + 10 * k, 7, 0.03) for k in range(4)]
    assert [e["type"] for e in merge_noise(one_way, config)] == ["noise"]


def test_report_fields_list_compared_and_anomalous_luminometers():
    table = make_fill(FIVE)
    table["dt"] = 0.0
    table.loc[200:205, "hfoc"] *= 0.9
    fields = report_fields(crosscheck_fill(table, 7000))
    assert fields == {
        "lumi_compared": ["hfoc", "pcc", "pltzero", "ramses"],
        "lumi_anomalous": ["hfoc"],
        "lumi_undecided": [],
    }


def test_all_missing_ls_raise_no_warning():
    table = make_fill(FIVE)
    table.loc[100:104, FIVE] = 0.0
    table.loc[300:301, FIVE] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = crosscheck_fill(table, 7000)
    assert result["n_ls"] == len(table)
    rows = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        medians = nanmedian_rows(rows)
        edges = beam_change_size(np.log(np.where(np.isnan(rows), np.nan, rows)).T, 5.0, 1)
    assert medians[0] == 2.0 and np.isnan(medians[1])
    assert edges.shape == (3,)


def test_benchmark_finds_the_real_sets_beside_the_checkout():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "luminometers_eval.py"
    spec = importlib.util.spec_from_file_location("luminometers_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DEFAULT == path.parents[2] / "shared" / "real-data" / "lumi"


def test_data_loss_and_its_partial_neighbours_are_not_judged():
    table = make_fill(FIVE)
    table.loc[300, "pcc"] *= 0.05  # near zero: a data loss
    table.loc[[299, 301], "pcc"] *= 0.5  # partly integrated LS beside it
    table.loc[450, "pcc"] = 0.0  # no data
    table.loc[451, "pcc"] *= 0.6
    assert not events_of(crosscheck_fill(table, 7000), "pcc")
    # the same drop on an LS with data either side is a dip
    table.loc[200, "pcc"] *= 0.5
    (event,) = events_of(crosscheck_fill(table, 7000), "pcc")
    assert event["type"] == "dip" and event["first"] == "300000:201"


def test_spike_beside_a_data_loss_is_still_found():
    table = make_fill(FIVE)
    table.loc[300, "dt"] = 0.0
    table.loc[299, "dt"] *= 3.0
    (event,) = events_of(crosscheck_fill(table, 7000), "dt")
    assert event["type"] == "spike" and event["first"] == "300000:300"


def test_excursion_two_luminometers_share_is_no_ones():
    table = make_fill(FIVE)
    table.loc[200:202, ["pltzero", "hfoc"]] *= 0.95  # a timing effect of two
    table.loc[400:402, "pltzero"] *= 0.95  # the same, alone
    result = crosscheck_fill(table, 7000)
    (event,) = events_of(result, "pltzero")
    assert event["first"] == "300001:101"
    assert not events_of(result, "hfoc")


def test_single_ls_blips_of_a_jumpy_luminometer_are_its_normal():
    table = make_fill(FIVE, n_ls=1500)
    rng = np.random.default_rng(7)
    blips = rng.choice(np.arange(20, 1480), size=40, replace=False)
    table.loc[blips, "ramses"] *= 1 + rng.choice([-1, 1], size=40) * rng.uniform(0.04, 0.08, 40)
    assert not events_of(crosscheck_fill(table, 7000), "ramses")
    # a bump of several LS on the same luminometer is still found
    table.loc[700:707, "ramses"] *= 1.08
    events = events_of(crosscheck_fill(table, 7000), "ramses")
    assert any(e["first"] <= "300002:101" <= e["last"] for e in events), events


def test_slow_excursion_within_the_fills_wander_is_kept_a_sharp_one_is_not():
    table = make_fill(FIVE, n_ls=3000, noise=0.0005, run_length=3000)
    # PLT reads 1.5 % high for the first third of the fill, then comes back
    table.loc[:999, "pltzero"] *= 1.015
    table.loc[600:602, "pltzero"] *= 1.25
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert [(e["first"], e["last"]) for e in events] == [("300000:601", "300000:603")]


def test_drop_of_a_hundred_ls_in_a_quiet_fill_is_found():
    table = make_fill(FIVE, n_ls=3000, noise=0.0005, run_length=3000)
    table.loc[2000:2099, "pltzero"] *= 0.989
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert len(events) == 1 and events[0]["magnitude"] == pytest.approx(-0.011, abs=0.002)
    assert events[0]["n_ls"] >= 90


def test_short_dip_within_the_fills_wander_is_kept_in_a_quiet_fill_found():
    def pltzero_events(wander: bool) -> list[dict]:
        table = make_fill(FIVE, n_ls=3000, noise=0.0005, run_length=3000)
        if wander:
            table.loc[:999, "pltzero"] *= 1.015
        table.loc[1500:1514, "pltzero"] *= 0.988  # over min_magnitude (1 %)
        return events_of(crosscheck_fill(table, 7000), "pltzero")

    assert not pltzero_events(wander=True)
    (event,) = pltzero_events(wander=False)
    assert event["first"] == "300000:1501" and event["type"] == "dip"


def test_excursion_against_one_other_luminometer_alone_is_no_ones():
    table = make_fill(FIVE)
    table.loc[200:239, ["hfoc", "dt", "pcc"]] = np.nan  # only RAMSES left beside PLT
    table.loc[220, "pltzero"] *= 1.5
    table.loc[400, "pltzero"] *= 1.5  # the same with every other luminometer there
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert [e["first"] for e in events] == ["300001:101"]
    # in a fill of two luminometers the one other is all there is: undecided, not dropped
    pair = make_fill(["pltzero", "hfoc"])
    pair.loc[220, "pltzero"] *= 1.5
    assert [e["first"] for e in events_of(crosscheck_fill(pair, 7000), "pltzero")] == ["300000:221"]


def test_no_scale_event_for_a_luminometer_at_its_noise_floor():
    table = make_fill(FIVE)
    rng = np.random.default_rng(11)
    table["ramses"] *= 1.3 * (1 + 0.3 * rng.standard_normal(len(table))).clip(0.05)
    assert not any(e["type"] == "scale" for e in events_of(crosscheck_fill(table, 7000), "ramses"))
    # the same offset with a per-LS noise the luminometer resolves is a scale event
    quiet = make_fill(FIVE)
    quiet["ramses"] *= 1.3
    assert "scale" in [e["type"] for e in events_of(crosscheck_fill(quiet, 7000), "ramses")]


def test_excursion_over_much_of_a_short_fill_is_not_its_own_wander():
    table = make_fill(FIVE, n_ls=155, run_length=155, noise=0.001)
    table.loc[50:139, "ramses"] *= np.linspace(1.0, 0.91, 90)  # a drift, then back
    events = events_of(crosscheck_fill(table, 7000), "ramses")
    spans = [(int(e["first"].split(":")[1]), int(e["last"].split(":")[1])) for e in events]
    assert any(first <= 120 <= last for first, last in spans), events


def test_comes_back_needs_a_calm_judged_ls_after_the_excursion_in_its_run():
    config = CrosscheckConfig()
    run_ends = np.zeros(100, dtype=bool)
    run_ends[[49, 99]] = True
    calm = np.ones(100, dtype=bool)
    assert comes_back(10, 20, run_ends, calm, config)
    assert not comes_back(10, 46, run_ends, calm, config)  # ends with its run
    calm[21:50] = False  # nothing after it can be judged (the fill's end, a dump)
    assert not comes_back(10, 20, run_ends, calm, config)


def test_step_over_a_third_of_a_short_fill_does_not_inflate_the_wander():
    rng = np.random.default_rng(5)
    residual = 0.002 * rng.standard_normal(155)
    quiet = lagged_wander(residual, CrosscheckConfig())
    residual[73:125] += 0.07
    assert quiet < 0.004
    assert lagged_wander(residual, CrosscheckConfig()) < 2 * quiet


def test_a_stretch_of_excess_noise_is_a_noise_event_of_its_luminometer():
    table = make_fill(FIVE, n_ls=600, noise=0.002)
    rng = np.random.default_rng(21)
    table.loc[300:339, "pcc"] *= 1 + 0.012 * rng.standard_normal(40)
    events = events_of(crosscheck_fill(table, 7000), "pcc")
    (event,) = [e for e in events if e["type"] == "noise"]
    assert event["first"].startswith("300001:") and event["last"].startswith("300001:"), events
    assert 1 <= int(event["first"].split(":")[1]) < int(event["last"].split(":")[1]) <= 40
    result = crosscheck_fill(table, 7000)
    assert all(not events_of(result, n) for n in FIVE if n != "pcc")


def test_noise_growing_as_the_luminosity_falls_is_normal():
    table = make_fill(FIVE, n_ls=900, noise=0.0)
    rng = np.random.default_rng(22)
    lumi = np.r_[np.ones(450), np.linspace(1.0, 0.1, 450)]  # a long, deep decay
    for name in FIVE:
        table[name] *= lumi
        sigma = 0.002 / np.sqrt(lumi)
        table[name] *= 1 + sigma * rng.standard_normal(len(table))
    assert not any(
        e["type"] == "noise" for n in FIVE for e in events_of(crosscheck_fill(table, 7000), n)
    )


def test_noisy_stretches_need_a_significant_excess_over_enough_ls():
    config = CrosscheckConfig()
    expected = np.full(200, 0.001)
    local = expected.copy()
    local[50:90] = 0.004  # x4 over 40 LS
    local[150:155] = 0.01  # too short to be a stretch
    judged = np.ones(200, dtype=bool)
    ((first, last, excess),) = noisy_stretches(local, expected, judged, config)
    assert (first, last) == (50, 89) and excess > config.threshold
    assert not noisy_stretches(expected * 1.3, expected, judged, config)


def test_scans_do_not_raise_the_tail_a_drift_is_judged_on():
    table = make_fill(FIVE, n_ls=155, run_length=155, noise=0.001, seed=3)
    rng = np.random.default_rng(4)
    for scan in (slice(9, 12), slice(140, 143)):  # each luminometer integrates a scan apart
        for name in FIVE:
            table.loc[scan, name] *= 0.4 * (1 + 0.03 * rng.standard_normal(4))
    table.loc[70:139, "pltzero"] *= np.linspace(1.0, 1.05, 70)  # a drift up to the scan
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert any(e["start"] <= table["time"][120] < e["end"] for e in events), events


def test_short_excursion_at_a_run_end_is_judged_against_the_wander():
    table = make_fill(FIVE, n_ls=3000, noise=0.0005, run_length=1500)
    for first in [*range(100, 1400, 200), *range(1600, 3000, 200)]:  # slow wander the experts keep
        table.loc[first : first + 99, "pltzero"] *= 1.015
    table.loc[1493:1499, "pltzero"] *= 1.015  # as much, for the run's last 7 LS
    assert not events_of(crosscheck_fill(table, 7000), "pltzero")


def test_step_going_on_into_the_next_run_is_judged_against_the_ls_before_it():
    table = make_fill(FIVE, n_ls=155, run_length=115, noise=0.0005)
    table.loc[34:, "pltzero"] *= 1.07  # into run 300001, where it is that run's offset
    table.loc[24:39, "hfoc"] *= 0.915  # and another luminometer's dip just before it
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert [(e["type"], e["first"], e["last"]) for e in events] == [
        ("step", "300000:35", "300000:115")
    ]


def test_a_luminometer_off_itself_neither_confirms_nor_vetoes_another():
    table = make_fill(["pltzero", "hfoc", "dt", "ramses"], n_ls=155, run_length=155, noise=0.001)
    table.loc[60:130, "dt"] *= 1 + 0.05 * np.sin(np.arange(71) / 4)  # DT waves on its own
    table.loc[65:69, "hfoc"] *= 1.05  # meanwhile HFOC spikes
    result = crosscheck_fill(table, 7000)
    assert [e["first"] for e in events_of(result, "hfoc")] == ["300000:66"]
    assert events_of(result, "dt") and not events_of(result, "pltzero")


def test_a_step_early_in_a_run_is_found_after_it_not_before():
    table = make_fill(FIVE, n_ls=155, run_length=155, noise=0.001)
    table.loc[25:, "pltzero"] *= 1.05  # from LS 26 to the end of the fill
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert [(e["type"], e["first"]) for e in events] == [("step", "300000:26")], events


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_dip_cannot_raise_its_own_threshold_through_the_far_tail_of_a_short_fill(seed):
    table = make_fill(["pltzero", "hfoc", "hfet"], n_ls=155, run_length=155, noise=0.003, seed=seed)
    table.loc[60:72, "pltzero"] *= 0.965  # 13 LS: they alone are the top 1 % of 155
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert any(e["start"] <= table["time"][66] < e["end"] for e in events), events


def test_the_long_test_is_judged_on_the_spread_of_the_smoothed_residual():
    config = CrosscheckConfig()
    rng = np.random.default_rng(3)
    white = 0.01 * rng.standard_normal(20000)
    smooth = pd.Series(white).rolling(config.long_window, center=True).median().to_numpy()
    smooth = smooth[config.long_window : -config.long_window]
    noise = np.full(smooth.size, 0.01)
    z = smooth / long_sigma(smooth, noise, lagged_wander(white, config), config)
    assert 0.85 < np.std(z) < 1.2  # judged on the per-LS noise it would be ~0.4
    walk = smooth + np.cumsum(0.002 * rng.standard_normal(smooth.size))
    sigma = long_sigma(walk, noise, 1.0, config)
    assert np.all(sigma == pytest.approx(lagged_wander(walk, config)))
    averaged = 0.01 * np.sqrt(np.pi / 2 / config.long_window)  # at least the averaged noise
    assert np.all(long_sigma(walk, noise, 0.001, config) == pytest.approx(averaged))


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_dip_of_fifteen_ls_in_a_short_fill_is_judged_on_the_averaged_noise(seed):
    table = make_fill(["pltzero", "hfoc", "dt", "ramses"], n_ls=155, run_length=155, seed=seed)
    rng = np.random.default_rng(seed + 100)
    table["pltzero"] *= 1 + 0.008 * rng.standard_normal(155)  # PLT at 0.8 % per LS
    table.loc[98:112, "pltzero"] *= 0.95  # 15 LS: half the short test's running median
    events = events_of(crosscheck_fill(table, 7000), "pltzero")
    assert any(e["start"] <= table["time"][105] < e["end"] for e in events), events


def test_departures_under_one_percent_are_not_reported():
    def pltzero_events(factor: float) -> list[dict]:
        table = make_fill(FIVE, n_ls=3000, noise=0.0003, run_length=3000)
        table.loc[1500:1539, "pltzero"] *= factor
        return events_of(crosscheck_fill(table, 7000), "pltzero")

    assert not pltzero_events(0.994)
    assert [e["first"] for e in pltzero_events(0.985)] == ["300000:1501"]


def test_a_fill_off_leaves_no_echo_and_a_chain_echoes_only_where_its_jumps_are():
    table = make_fill(FIVE, n_ls=600, noise=0.002)
    table["hfoc"] *= 0.8
    rng = np.random.default_rng(21)
    table.loc[300:339, "pcc"] *= 1 + 0.012 * rng.standard_normal(40)
    for ls in (100, 160, 220, 280):
        table.loc[ls, "dt"] *= 0.7
    table.loc[190:194, "ramses"] *= 1.04
    result = crosscheck_fill(table, 7000)
    assert [e["type"] for e in events_of(result, "hfoc")] == ["scale"]
    assert "noise" in [e["type"] for e in events_of(result, "pcc")]
    assert [e["type"] for e in events_of(result, "dt")] == ["noise"]
    (spike,) = events_of(result, "ramses")
    assert spike["type"] == "spike" and spike["first"] == "300000:191"


def test_an_excursion_swinging_both_ways_is_cut_into_its_lobes():
    z = np.array([6, 7, 6, 1, -6, -7, -1, 6, 0, 6, -6, -6.0])
    flags = np.abs(z) > 5
    assert swings(z, flags, merge_gap=5) == [(0, 2), (4, 5), (7, 9), (10, 11)]
    one_way = np.array([6, 7, -6, 7, 6, 6, 6, 6, 6, 6.0])
    assert swings(one_way, np.abs(one_way) > 5, merge_gap=5) == [(0, 9)]
    assert swings(np.ones(4), np.zeros(4, dtype=bool), merge_gap=5) == [(0, 3)]


def test_a_burst_of_noise_shorter_than_the_noise_window_in_a_1_h_fill_is_found():
    table = make_fill(FIVE, n_ls=155, run_length=155, noise=0.002, seed=5)
    rng = np.random.default_rng(23)
    table.loc[60:89, "hfoc"] *= 1 + 0.03 * rng.standard_normal(30)  # 30 LS, x15 the noise
    result = crosscheck_fill(table, 7000)
    (event,) = events_of(result, "hfoc")
    assert event["type"] == "noise", event
    assert table["time"][60] <= event["start"] < event["end"] <= table["time"][90], event
    assert all(not events_of(result, n) for n in FIVE if n != "hfoc")
