"""Luminometer tables of generated fills: they round-trip through the reader with the truth's
responses recoverable, anomalies land where the truth says, and the fill job writes them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pltanomaly.channels.convert import convert_fill, lumi_path
from pltanomaly.channels.fill_job import FillJob, run_fill_job
from pltanomaly.channels.generate import generate_year
from pltanomaly.cli import main
from pltanomaly.luminometers import generate as lumi_generate
from pltanomaly.luminometers.generate import (
    LS_SECONDS,
    TABLES,
    add_fill_luminometers,
    add_luminometers,
    luminometer_values,
    scale_zero_counts,
)
from pltanomaly.luminometers.hd5 import PLT_CHANNELS, lumi_per_ls, read_lumi_series


@pytest.fixture(scope="module")
def clean_year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short generated fills with luminometer tables and no luminometer anomaly."""
    root = tmp_path_factory.mktemp("lumi-generated")
    year_dir = generate_year(root, 2022, n_fills=2, hours=0.3, seed=4, anomalies=False)
    add_luminometers(year_dir, anomalies=False)
    return year_dir


def per_ls(fill_dir: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / f"{fill_dir.name}.parquet"
    convert_fill(fill_dir, out, lumi_out=lumi_path(out))
    return lumi_per_ls(read_lumi_series(lumi_path(out)))


def test_tables_round_trip_with_the_truths_offsets_recoverable(
    clean_year: Path, tmp_path: Path
) -> None:
    truth = json.loads((clean_year / "truth.json").read_text())
    for fill, fill_truth in truth["fills"].items():
        lumi = fill_truth["luminometers"]
        assert lumi["events"] == [] and set(lumi["present"]) | set(lumi["absent"]) == set(TABLES)
        table = per_ls(clean_year / fill, tmp_path)
        names = [c for c in table.columns if c not in ("run", "ls", "time", "stable")]
        assert names == [*lumi["present"], PLT_CHANNELS]
        mid = 0.5 * lumi["sbil_peak"]
        reference = lumi["present"][0]
        for name in lumi["present"][1:]:
            a, b = lumi["normal"][name], lumi["normal"][reference]
            ok = (table[name] > 0) & (table[reference] > 0)
            sbil = table.loc[ok, reference] / lumi["n_colliding"] / (1 + b["offset"])
            expected = ((1 + a["offset"]) * (1 + a["slope_per_sbil"] * (sbil - mid))) / (
                (1 + b["offset"]) * (1 + b["slope_per_sbil"] * (sbil - mid))
            )
            observed = table.loc[ok, name] / table.loc[ok, reference]
            assert ok.sum() > 30
            # the offset is recovered to 0.3 % (the per-LS noise is at most 1 %)
            assert np.median(observed / expected) == pytest.approx(1.0, abs=3e-3), (fill, name)
            # and it is the offset that is recovered: a 0.5 % wrong one is told apart
            if abs(a["offset"] - b["offset"]) > 0.005:
                assert abs(np.median(observed) - 1.0) > 2e-3


def test_other_luminometers_and_the_plt_channels_agree_in_shape(
    clean_year: Path, tmp_path: Path
) -> None:
    fill = sorted(p for p in clean_year.iterdir() if p.is_dir())[0]
    table = per_ls(fill, tmp_path)
    other = next(c for c in table.columns[4:] if c != PLT_CHANNELS)
    ok = (table[other] > 0) & (table[PLT_CHANNELS] > 0)
    ratio = table.loc[ok, other] / table.loc[ok, PLT_CHANNELS]
    assert ratio.std() / ratio.median() < 0.03  # they follow the same beam (scans included)
    assert table.loc[ok, PLT_CHANNELS].max() / table.loc[ok, PLT_CHANNELS].min() > 2  # scans


def test_a_dip_and_a_plt_fault_move_the_right_luminometers() -> None:
    t = 1.6e9 + np.arange(1000) * 1.4576
    plan = {
        "normal": {
            name: {"offset": 0.0, "slope_per_sbil": 0.0, "noise_ls": 1e-6, "rows": "nb4"}
            for name in ("pltzero", "hfoc", "hfet")
        },
        "lumi_peak": 1.0,
        "sbil_peak": 8.0,
        "n_colliding": 2000,
        "events": [
            {
                "luminometer": "hfoc",
                "type": "dip",
                "start": t[100],
                "end": t[200],
                "magnitude": -0.1,
            },
            {
                "luminometer": "pltzero",
                "type": "step",
                "start": t[500],
                "end": t[-1],
                "magnitude": 0.05,
            },
        ],
    }
    rng = np.random.default_rng(0)
    values = {n: luminometer_values(plan, n, t, np.ones(len(t)), rng) for n in plan["normal"]}
    hfoc, hfet, plt = (values[n] / 16000.0 for n in ("hfoc", "hfet", "pltzero"))
    assert hfoc[150] == pytest.approx(0.9, abs=1e-4) and hfet[150] == pytest.approx(1.0, abs=1e-4)
    # the PLT step: PLT itself up 5 %, every other luminometer (and the beam) unchanged
    assert plt[800] == pytest.approx(1.05, abs=1e-4)
    assert hfet[800] == pytest.approx(1.0, abs=1e-4) and hfoc[800] == pytest.approx(1.0, abs=1e-4)
    assert plt[300] / hfet[300] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("mode", ["zeros", "hits"])
def test_scaled_zero_counts_multiply_mu_and_leave_garbage_alone(mode: str) -> None:
    orbits = 16384 if mode == "zeros" else 4096
    mu = np.array([0.0, 0.01, 0.2, 1.0, 3.0])
    zeros = np.rint(orbits * np.exp(-mu))
    counts = np.array([zeros, zeros, zeros]) if mode == "zeros" else orbits - np.array([zeros] * 3)
    counts = counts.astype(np.uint32)
    counts[2, 1] = orbits + 5  # garbage: a row the conversion drops
    scaled = scale_zero_counts(counts, np.array([1.2, 1.0, 1.2]), orbits, mode)
    assert scaled.dtype == counts.dtype
    assert np.array_equal(scaled[1:], counts[1:])
    out = scaled[0].astype(float) if mode == "zeros" else orbits - scaled[0].astype(float)
    new_mu = -np.log(np.maximum(out, 1) / orbits)
    assert new_mu == pytest.approx(1.2 * -np.log(zeros / orbits), abs=2e-3)


def test_injected_anomalies_are_in_the_tables_where_the_truth_says(tmp_path: Path) -> None:
    year_dir = generate_year(tmp_path / "data", 2022, n_fills=1, hours=0.4, seed=8)
    assert main(["lumi-generate", str(tmp_path / "data"), "--year", "2022", "--seed", "3"]) == 0
    truth = json.loads((year_dir / "truth.json").read_text())
    fill, fill_truth = next(iter(truth["fills"].items()))
    lumi = fill_truth["luminometers"]
    assert lumi["seed"] == 3 and lumi["plt_fault"] == "plt_channels"
    table = per_ls(year_dir / fill, tmp_path)
    events = lumi["events"]
    assert {(e["luminometer"], e["type"]) for e in events} == {
        ("dt", "dip"),
        ("hfet", "step"),
    }
    for event in events:
        name = event["luminometer"]
        others = [n for n in lumi["present"] if n not in (name, "pltzero", "hfet")]
        target = name if name != "pltzero" else PLT_CHANNELS
        inside = (table["time"] >= event["start"]) & (table["time"] + LS_SECONDS <= event["end"])
        assert inside.sum() >= 1 and others
        valid = (table[target] > 0) & (table[others] > 0).all(axis=1)
        ratio = table[target] / table[others].median(axis=1)
        before = ratio[valid & ~inside].median()
        assert ratio[valid & inside].median() / before == pytest.approx(
            1 + event["magnitude"], abs=0.02
        )
        if event["type"] in ("step", "drift"):  # it persists to the fill's end
            assert event["end"] >= table["time"].max()
        run, ls = (int(x) for x in event["first"].split(":"))
        first = table.index[(table["run"] == run) & (table["ls"] == ls)][0]
        assert table["time"][first] <= event["start"] < table["time"][first] + LS_SECONDS + 1


def test_the_fill_job_writes_the_luminometer_series(clean_year: Path, tmp_path: Path) -> None:
    truth = json.loads((clean_year / "truth.json").read_text())
    fill = next(iter(truth["fills"]))
    job = FillJob(
        year=2022,
        fill=int(fill),
        year_dir=tmp_path / "2022",
        fill_dir=clean_year / fill,
        dead_channels=[6, 8],
        plots="none",
    )
    record = run_fill_job(job, redo=set())
    assert record["status"]["convert"] == "ok"
    lumi = read_lumi_series(job.path("lumi"))
    assert set(lumi["luminometer"]) == {
        *truth["fills"][fill]["luminometers"]["present"],
        PLT_CHANNELS,
    }
    convert_record = json.loads(job.record("convert").read_text())
    assert str(job.path("lumi")) in convert_record["outputs"]


def test_a_plt_fault_moves_every_plt_channel_alike_and_not_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PLT step of +12 % over the middle of a fill: against the same fill without it, every
    live PLT channel's rate (and ``pltlumizero``, and the channel total) is up 12 % inside the
    window and unchanged outside, while hfoc and hfet are untouched."""
    year_dir = generate_year(tmp_path / "data", 2022, n_fills=1, hours=0.3, seed=5, anomalies=False)
    truth = json.loads((year_dir / "truth.json").read_text())
    fill, fill_truth = next(iter(truth["fills"].items()))
    clean_dir = tmp_path / "clean" / fill
    shutil.copytree(year_dir / fill, clean_dir)
    original = lumi_generate.plan_luminometers
    window: dict[str, float] = {}

    def plan_with(events: bool):  # type: ignore[no-untyped-def]
        def plan(rng, fill_truth, lumi, calibration, **_):  # type: ignore[no-untyped-def]
            chosen = ["pltzero", "hfoc", "hfet"]
            planned = original(
                rng,
                fill_truth,
                lumi,
                anomalies=False,
                luminometers=chosen,
                calibration=calibration,
            )
            t0, t1 = np.quantile(lumi["timestamp"], [0.35, 0.7])
            window.update(start=float(t0), end=float(t1))
            if events:
                planned["events"] = [
                    {
                        "luminometer": "pltzero",
                        "type": "dip",
                        "start": t0,
                        "end": t1,
                        "magnitude": 0.12,
                        "applied_to": lumi_generate.PLT_FAULT,
                    }
                ]
            return planned

        return plan

    monkeypatch.setattr(lumi_generate, "plan_luminometers", plan_with(True))
    add_fill_luminometers(year_dir / fill, fill_truth, 3, 2022)
    monkeypatch.setattr(lumi_generate, "plan_luminometers", plan_with(False))
    add_fill_luminometers(clean_dir, fill_truth, 3, 2022)

    def convert(fill_dir: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        out = tmp_path / f"{name}.parquet"
        convert_fill(fill_dir, out, lumi_out=lumi_path(out))
        series = pd.read_parquet(out, columns=["run", "ls", "nb", "channel", "timestamp", "rate"])
        return series, lumi_per_ls(read_lumi_series(lumi_path(out)))

    faulted, faulted_ls = convert(year_dir / fill, "faulted")
    clean, clean_ls = convert(clean_dir, "clean")
    keys = ["run", "ls", "nb", "channel"]
    both = faulted.merge(clean, on=keys, suffixes=("", "_clean"))
    assert len(both) >= 0.99 * len(clean)
    median = both.groupby("channel")["rate_clean"].median()
    live = median[median > 0.05 * median.max()].index
    assert len(live) >= 10
    both = both[both["channel"].isin(live) & (both["rate_clean"] > 0)]
    ratio = both["rate"] / both["rate_clean"]
    inside = (both["timestamp"] >= window["start"] + 2) & (both["timestamp"] <= window["end"] - 2)
    outside = (both["timestamp"] < window["start"] - 2) | (both["timestamp"] > window["end"] + 2)
    assert inside.sum() > 100 and outside.sum() > 100
    per_channel_in = ratio[inside].groupby(both.loc[inside, "channel"]).median()
    per_channel_out = ratio[outside].groupby(both.loc[outside, "channel"]).median()
    assert set(per_channel_in.index) == set(live)
    assert per_channel_in.to_numpy() == pytest.approx(1.12, abs=2e-3)  # every channel alike
    assert per_channel_out.to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert ratio[inside].to_numpy() == pytest.approx(1.12, abs=0.02)
    # per LS: PLT (pltlumizero and the channel total) moves, hfoc and hfet do not
    table = faulted_ls.merge(clean_ls, on=["run", "ls"], suffixes=("", "_clean"))
    ls_inside = (table["time"] >= window["start"]) & (table["time"] + LS_SECONDS <= window["end"])
    ls_outside = (table["time"] + LS_SECONDS < window["start"]) | (table["time"] > window["end"])
    assert ls_inside.sum() >= 5 and ls_outside.sum() >= 5
    for name, moved in (("pltzero", 1.12), (PLT_CHANNELS, 1.12), ("hfoc", 1.0), ("hfet", 1.0)):
        ok = table[f"{name}_clean"] > 0
        change = table[name] / table[f"{name}_clean"]
        assert change[ok & ls_inside].median() == pytest.approx(moved, abs=3e-3), name
        assert change[ok & ls_outside].median() == pytest.approx(1.0, abs=1e-6), name


def test_a_data_set_keeps_its_calibration_from_fill_to_fill(tmp_path: Path) -> None:
    """Each luminometer's offset is the data set's, moved per fill by the data set's jitter
    (real luminometers keep their calibration from fill to fill)."""
    calibration = lumi_generate.data_set_calibration(11, 2022)
    assert calibration == lumi_generate.data_set_calibration(11, 2022)
    assert calibration != lumi_generate.data_set_calibration(12, 2022)
    assert 5e-4 <= calibration["jitter"] <= 0.01
    assert all(5e-4 <= abs(o) <= 0.035 for o in calibration["offsets"].values())
    rng = np.random.default_rng(0)
    offsets = [lumi_generate.draw_normal(rng, "hfoc", calibration)["offset"] for _ in range(400)]
    relative = np.log1p(offsets) - np.log1p(calibration["offsets"]["hfoc"])
    assert np.median(relative) == pytest.approx(0.0, abs=0.3 * calibration["jitter"])
    assert np.std(relative) == pytest.approx(calibration["jitter"], rel=0.15)
