"""Fills off against the year: hand-made cross-check results with known offsets."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from pltanomaly.luminometers import year_scale
from pltanomaly.luminometers.crosscheck import CrosscheckConfig
from pltanomaly.luminometers.year_scale import fill_offsets, with_year_scale, year_scale_events

NAMES = ("pltzero", "hfoc", "dt", "pcc")


def _result(fill, ratios, n_ls=200, status="normal", events=None):
    entries = {}
    for name, ratio in ratios.items():
        entries[name] = {
            "status": status,
            "score": 0.0,
            "events": list((events or {}).get(name, [])),
            "median_ratio": ratio,
            "judged": {
                "first": "1:1",
                "last": f"1:{n_ls}",
                "start": 1000.0 * fill,
                "end": 1000.0 * fill + 23.31 * n_ls,
                "n_ls": n_ls,
            },
        }
    return {"fill": fill, "anomalous": False, "luminometers": entries}


def _year(n_fills=10, seed=1, jitter=0.002):
    """A year whose luminometers keep their calibration (offsets of a few %) from fill to
    fill, each fill moving it by ``jitter``."""
    rng = np.random.default_rng(seed)
    calibration = {"pltzero": 0.01, "hfoc": -0.02, "dt": 0.03, "pcc": 0.0}
    return {
        fill: _result(
            fill,
            {n: (1 + c) * (1 + jitter * rng.standard_normal()) for n, c in calibration.items()},
        )
        for fill in range(100, 100 + n_fills)
    }


def test_a_normal_year_has_no_fill_off():
    assert year_scale_events(_year()) == {}


def test_one_luminometer_off_in_one_fill_is_named_with_its_departure():
    results = _year()
    results[104]["luminometers"]["pltzero"]["median_ratio"] *= 0.94
    before = copy.deepcopy(results)
    events = year_scale_events(results)
    assert list(events) == [104] and list(events[104]) == ["pltzero"]
    event = events[104]["pltzero"]
    assert event["type"] == "scale" and event["against"] == "year"
    assert event["magnitude"] == pytest.approx(-0.06, abs=0.01)
    assert event["n_ls"] == 200 and 0.5 < event["score"] <= 1.0
    out = with_year_scale(results)
    entry = out[104]["luminometers"]["pltzero"]
    assert entry["status"] == "anomalous" and out[104]["anomalous"]
    assert [e["type"] for e in entry["events"]] == ["scale"]
    assert out[103] == results[103]
    assert results == before, "the input must not change"
    json.dumps(out)


def test_within_the_years_calibration_spread_or_under_two_percent_is_normal():
    wide = _year(jitter=0.02)  # calibrations that move by 2 % from fill to fill
    wide[104]["luminometers"]["hfoc"]["median_ratio"] *= 0.95
    assert 104 not in year_scale_events(wide)
    tight = _year(jitter=0.0005)
    tight[104]["luminometers"]["hfoc"]["median_ratio"] *= 0.985  # 30 spreads, but 1.5 %
    assert year_scale_events(tight) == {}


def test_half_the_luminometers_off_in_one_fill_name_nobody_a_minority_is_named():
    results = _year()
    results[104]["luminometers"]["pltzero"]["median_ratio"] *= 0.92
    results[104]["luminometers"]["dt"]["median_ratio"] *= 1.05
    assert year_scale_events(results) == {}  # 2 of 4: the fill's consensus is in doubt
    for result in results.values():
        result["luminometers"]["ramses"] = copy.deepcopy(result["luminometers"]["pcc"])
    assert sorted(year_scale_events(results)[104]) == ["dt", "pltzero"]  # 2 of 5


def test_too_few_fills_short_fills_and_existing_scale_events_are_left_alone():
    few = _year(n_fills=year_scale.MIN_FILLS - 1)
    few[101]["luminometers"]["pcc"]["median_ratio"] *= 0.9
    assert year_scale_events(few) == {}
    results = _year()
    short = _result(104, {n: 1.0 for n in NAMES}, n_ls=year_scale.MIN_LS - 1)
    short["luminometers"]["pcc"]["median_ratio"] = 0.8
    results[104] = short
    assert 104 not in fill_offsets(results)["hfoc"]
    assert year_scale_events(results) == {}
    results = _year()
    results[104]["luminometers"]["pcc"]["median_ratio"] *= 0.85
    results[104]["luminometers"]["pcc"]["events"] = [{"type": "scale", "start": 0.0}]
    assert year_scale_events(results) == {}


def test_undecided_luminometers_and_two_luminometer_fills_do_not_count():
    results = _year()
    two = {n: r for n, r in list(_year()[104]["luminometers"].items())[:2]}
    results[104] = {"fill": 104, "luminometers": two}
    results[104]["luminometers"]["pltzero"]["median_ratio"] *= 0.8
    assert year_scale_events(results) == {}
    undecided = _result(105, {n: 1.0 for n in NAMES}, status="undecided")
    assert 105 not in fill_offsets({**results, 105: undecided})["pltzero"]


def _written_year(tmp_path):
    """A year's ``lumi`` folder (and its results) whose fill 104 has DT off against the year
    (8 %) only."""
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.core.steps import record_path
    from pltanomaly.luminometers.steps import CROSSCHECK_STEP

    lumi_dir = tmp_path / "2022" / "lumi"
    results = _year()
    results[104]["luminometers"]["dt"]["median_ratio"] *= 1.08
    for fill, result in results.items():
        write_json_atomic(lumi_dir / f"{fill}.json", result)
        row = {"luminometers": list(NAMES), "anomalous_luminometers": [], "n_lumi_events": 0}
        write_json_atomic(
            record_path(lumi_dir, CROSSCHECK_STEP, fill), {"status": "ok", "row": row}
        )
    return lumi_dir, results


def test_the_years_aggregation_counts_a_fill_off_and_lists_it(tmp_path):
    from pltanomaly.luminometers.report import aggregate_lumi
    from pltanomaly.luminometers.results import LumiResults

    lumi_dir, results = _written_year(tmp_path)
    report = aggregate_lumi(2022, list(results), lumi_dir).to_pandas().set_index("fill")
    assert list(report.loc[104, "anomalous_luminometers"]) == ["dt"]
    assert report.loc[104, "n_lumi_events"] == 1
    assert not any(len(v) for f, v in report["anomalous_luminometers"].items() if f != 104)
    listed = json.loads((lumi_dir / "year-scale.json").read_text())
    assert list(listed["fills"]) == ["104"] and listed["fills"]["104"]["dt"]["against"] == "year"
    logs = json.loads((lumi_dir / "logs.json").read_text())
    assert logs["fills"]["104"]["year_scale"]["dt"]["magnitude"] == pytest.approx(0.08, abs=0.01)
    # the review app and every reader of the results folder see the year's event
    loaded = LumiResults(tmp_path).load(2022, 104)
    assert loaded["luminometers"]["dt"]["status"] == "anomalous" and loaded["anomalous"]
    assert [e["against"] for e in loaded["luminometers"]["dt"]["events"]] == ["year"]
    assert LumiResults(tmp_path).load(2022, 103) == results[103]


def test_the_results_reader_reads_the_years_list_once_per_change(tmp_path):
    import os

    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.luminometers.results import LumiResults

    lumi_dir = tmp_path / "2022" / "lumi"
    results = _year()
    for fill, result in results.items():
        write_json_atomic(lumi_dir / f"{fill}.json", result)
    listed = lumi_dir / "year-scale.json"
    event = {"type": "scale", "start": 0.0, "score": 0.7, "against": "year"}
    write_json_atomic(listed, {"year": 2022, "fills": {"104": {"dt": event}}})
    reader = LumiResults(tmp_path)
    assert reader.load(2022, 104)["luminometers"]["dt"]["status"] == "anomalous"
    assert reader.load(2022, 105)["luminometers"]["dt"]["status"] == "normal"
    write_json_atomic(listed, {"year": 2022, "fills": {}})
    os.utime(listed, ns=(1, 1))  # a rewrite the reader must see, whatever the clock's step
    assert reader.load(2022, 104) == results[104]


def test_the_main_report_takes_the_years_luminometer_verdicts(tmp_path):
    from pltanomaly.channels.report import aggregate_year
    from pltanomaly.luminometers.report import aggregate_lumi

    lumi_dir, results = _written_year(tmp_path)
    lumi = aggregate_lumi(2022, list(results), lumi_dir)
    rows = {row["fill"]: row for row in lumi.to_pylist()}
    report = aggregate_year(2022, list(results), tmp_path / "2022", lumi_rows=rows)
    anomalous = report.to_pandas().set_index("fill")["anomalous_luminometers"]
    assert list(anomalous[104]) == ["dt"]
    assert not any(len(v) for fill, v in anomalous.items() if fill != 104)


def test_plt_off_against_the_year_says_which_channels_explain_it(tmp_path):
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.luminometers.report import aggregate_lumi

    lumi_dir, results = _written_year(tmp_path)
    plt = results[105]["luminometers"]["pltzero"]
    plt["median_ratio"] *= 0.92
    write_json_atomic(lumi_dir / "105.json", results[105])
    judged = plt["judged"]
    drop = {"type": "step", "start": judged["start"], "end": judged["end"], "magnitude": -0.5}
    channels = {str(c): {"status": "normal", "events": []} for c in range(16)}
    channels["3"] = {"status": "anomalous", "events": [drop]}
    channels_dir = tmp_path / "2022" / "fills"
    write_json_atomic(channels_dir / "105.json", {"fill": 105, "channels": channels})
    aggregate_lumi(2022, list(results), lumi_dir, channels_dir=channels_dir)
    listed = json.loads((lumi_dir / "year-scale.json").read_text())["fills"]
    assert listed["105"]["pltzero"]["explained_by_channels"] is True
    assert [c["channel"] for c in listed["105"]["pltzero"]["channels"]] == [3]
    assert "channels" not in listed["104"]["dt"]  # only PLT's events have channels
    aggregate_lumi(2022, list(results), lumi_dir)  # a year without channel results
    listed = json.loads((lumi_dir / "year-scale.json").read_text())["fills"]
    assert "explained_by_channels" not in listed["105"]["pltzero"]


def test_two_luminometers_off_together_are_named_not_the_others_their_median_moved():
    names = ("pltzero", "hfoc", "hfet", "bcm1f", "dt", "ramses")
    rng = np.random.default_rng(3)
    results = {
        fill: _result(fill, {n: 1 + 0.002 * rng.standard_normal() for n in names})
        for fill in range(100, 115)
    }
    # hfet 8 % and BCM1F 7 % low: the fill's median luminometer, which every ratio is taken
    # to, sits 3 % lower than the usual one
    for name, ratio in zip(names, (1.03, 1.03, 0.95, 0.96, 1.03, 1.03), strict=True):
        results[107]["luminometers"][name]["median_ratio"] = ratio
    events = year_scale_events(results)
    assert list(events) == [107] and sorted(events[107]) == ["bcm1f", "hfet"]
    assert events[107]["hfet"]["magnitude"] == pytest.approx(-0.08, abs=0.005)


def test_a_luminometer_at_its_background_floor_has_no_offset_to_judge():
    results = _year()
    for result in results.values():
        result["luminometers"]["pcc"]["noise"] = 0.01
    floor = results[104]["luminometers"]["pcc"]
    floor.update(noise=0.4, median_ratio=2.0)  # RAMSES in a van-der-Meer fill: 27-62 % per LS
    assert 104 not in fill_offsets(results)["pcc"]
    assert year_scale_events(results) == {}
    floor_above = CrosscheckConfig(scale_limit=0.5)  # a year configured otherwise
    assert list(year_scale_events(results, config=floor_above)) == [104]
    for name in ("pltzero", "hfoc", "dt"):  # and a fill left with one offset names nobody
        results[105]["luminometers"][name]["noise"] = 0.2
    results[105]["luminometers"]["pcc"]["median_ratio"] *= 1.08
    assert year_scale_events(results) == {}
