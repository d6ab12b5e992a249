"""Fills judged again with the year's usual measures of normal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pltanomaly.luminometers.crosscheck import crosscheck_fill, crosscheck_fills
from pltanomaly.luminometers.year_normals import MEASURES, usual_measures, with_year
from tests.luminometers.conftest import make_fill

FIVE = ["pltzero", "hfoc", "dt", "ramses", "pcc"]


def _dt_wave(table: pd.DataFrame) -> None:
    """DT waves by 3 % over half of the fill."""
    ls = np.arange(70, 140)
    table.loc[70:139, "dt"] *= 1 + 0.03 * np.sin(2 * np.pi * (ls - 70) / 30)


def _short_year(seed: int, names: list[str], anomaly, normal=None) -> dict[int, pd.DataFrame]:
    """Six quiet 1-h fills of ``names`` and fill 7010, changed in place by ``anomaly``;
    ``normal(table, key)`` changes every fill first."""
    tables = {
        7000 + k: make_fill(names, n_ls=155, run_length=155, noise=0.002, seed=100 * seed + k)
        for k in range(6)
    }
    tables[7010] = make_fill(names, n_ls=155, run_length=155, noise=0.002, seed=seed)
    for fill, table in tables.items():
        if normal is not None:
            normal(table, 10 * seed + fill)
    anomaly(tables[7010])
    return tables


def _year(seed: int) -> dict[int, pd.DataFrame]:
    return _short_year(seed, FIVE, _dt_wave)


def _judged_over_ten_seeds(names: list[str], name: str, anomaly, normal=None) -> dict[str, int]:
    """Over seeds 1-10 of :func:`_short_year`: the seeds where fill 7010's ``name`` has
    events judged alone (``alone``) and with the year (``found``, all against the year:
    ``against_year``), and the events of the quiet fills (``quiet``)."""
    counts = dict.fromkeys(("alone", "found", "against_year", "quiet"), 0)
    for seed in range(1, 11):
        tables = _short_year(seed, names, anomaly, normal)
        counts["alone"] += bool(crosscheck_fill(tables[7010], 7010)["luminometers"][name]["events"])
        year = crosscheck_fills(tables)
        events = year[7010]["luminometers"][name]["events"]
        counts["found"] += bool(events)
        counts["against_year"] += bool(events) and all(e.get("against") == "year" for e in events)
        counts["quiet"] += sum(
            len(entry["events"])
            for fill, result in year.items()
            if fill != 7010
            for entry in result["luminometers"].values()
        )
    return counts


def test_a_wave_over_half_a_short_fill_is_found_against_the_year():
    counts = _judged_over_ten_seeds(FIVE, "dt", _dt_wave)
    assert counts["alone"] == 0  # the wave sets the fill's own wander and tails
    assert counts["against_year"] >= 5, counts  # 6 of these 10 seeds when first written
    assert counts["quiet"] == 0


def test_usual_measures_need_enough_judged_fills():
    tables = _year(1)
    results = {fill: crosscheck_fill(table, fill) for fill, table in tables.items()}
    usual = usual_measures(results)
    assert set(usual) == set(FIVE) and set(usual["dt"]) == set(MEASURES)
    assert usual_measures({f: results[f] for f in list(results)[:4]}) == {}
    assert with_year(results, {}) == results  # no table kept: nothing judged again


def test_the_years_aggregation_lists_the_rejudged_events_and_the_reader_adds_them(tmp_path):
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.core.steps import record_path
    from pltanomaly.luminometers.report import aggregate_lumi
    from pltanomaly.luminometers.results import LumiResults
    from pltanomaly.luminometers.steps import CROSSCHECK_STEP, report_row, table_path

    lumi_dir = tmp_path / "2022" / "lumi"
    tables = _year(6)
    for fill, table in tables.items():
        result = crosscheck_fill(table, fill, 2022)
        write_json_atomic(lumi_dir / f"{fill}.json", result)
        table_path(lumi_dir, fill).parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(table_path(lumi_dir, fill))
        record = {"status": "ok", "row": report_row(result)}
        write_json_atomic(record_path(lumi_dir, CROSSCHECK_STEP, fill), record)
    report = aggregate_lumi(2022, list(tables), lumi_dir).to_pandas().set_index("fill")
    assert list(report.loc[7010, "anomalous_luminometers"]) == ["dt"]
    assert not any(len(v) for f, v in report["anomalous_luminometers"].items() if f != 7010)
    listed = json.loads((lumi_dir / "year-scale.json").read_text())
    assert list(listed["rejudged"]) == ["7010"] and listed["fills"] == {}
    assert all(e["against"] == "year" for e in listed["rejudged"]["7010"]["dt"])
    logs = json.loads((lumi_dir / "logs.json").read_text())
    assert logs["fills"]["7010"]["rejudged"] == listed["rejudged"]["7010"]
    loaded = LumiResults(tmp_path).load(2022, 7010)
    assert loaded["anomalous"] and loaded["luminometers"]["dt"]["status"] == "anomalous"
    assert loaded["luminometers"]["dt"]["events"] == listed["rejudged"]["7010"]["dt"]


def test_a_table_that_cannot_be_judged_again_keeps_its_fills_own_judgement(caplog):
    tables = _year(6)
    results = {fill: crosscheck_fill(table, fill) for fill, table in tables.items()}
    broken = {**tables, 7010: tables[7010].drop(columns=["run"])}  # a table gone bad
    assert with_year(results, broken) == results
    assert "fill 7010: judging it again" in caplog.text


def test_a_luminometer_with_events_of_its_own_keeps_its_own_judgement():
    tables = _year(6)
    tables[7010].loc[20, "dt"] *= 1.3  # a spike DT is flagged for in the fill itself
    results = {fill: crosscheck_fill(table, fill) for fill, table in tables.items()}
    own = results[7010]["luminometers"]["dt"]["events"]
    assert [e["first"] for e in own] == ["300000:21"]
    assert with_year(results, tables)[7010]["luminometers"]["dt"]["events"] == own


def _quick_wave(table: pd.DataFrame) -> None:
    ls = np.arange(95, 137)
    table.loc[95:136, "pltzero"] *= 1 + 0.03 * np.sin(2 * np.pi * (ls - 95) / 19)


@pytest.mark.parametrize("names", [FIVE, ["pltzero", "hfoc", "ramses"]])
def test_a_quick_wave_is_judged_lobe_by_lobe(names):
    # two periods of a 3 % wave: its median departure is nothing
    counts = _judged_over_ten_seeds(names, "pltzero", _quick_wave)
    assert counts["found"] >= 8 and counts["quiet"] == 0, (
        counts
    )  # 10 of 10 when written, 0-1 before


def _two_dips(table: pd.DataFrame) -> None:
    table.loc[30:44, "dt"] *= 0.96
    table.loc[100:114, "dt"] *= 0.96


def test_two_dips_of_a_short_fill_are_not_each_others_slow_wander():
    counts = _judged_over_ten_seeds(FIVE, "dt", _two_dips)
    assert counts["found"] >= 8 and counts["quiet"] == 0, counts  # 10 of 10 when written, 0 before


def _noisy_hfoc(table: pd.DataFrame, seed: int) -> None:
    """HFOC 0.5 % noisier per LS than the others (its lagged wander is mostly that noise)."""
    table["hfoc"] *= 1 + 0.005 * np.random.default_rng(seed).standard_normal(len(table))


def _hfoc_wave(table: pd.DataFrame) -> None:
    ls = np.arange(69, 140)
    table.loc[69:139, "hfoc"] *= 1 + 0.04 * np.sin(2 * np.pi * (ls - 69) / 22)


def test_a_wave_of_a_noisy_luminometer_is_judged_on_its_usual_smoothed_wander():
    counts = _judged_over_ten_seeds(FIVE, "hfoc", _hfoc_wave, normal=_noisy_hfoc)
    assert counts["found"] >= 3 and counts["quiet"] == 0, counts  # 5 of 10 when written, 0 before
