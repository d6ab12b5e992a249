"""The synthetic fills: real layout, determinism, physics, and anomalies that are really there."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from pltanomaly.channels.convert import convert_fill
from pltanomaly.channels.generate import (
    ANOMALY_TYPES,
    SLOTS_PER_BLOCK,
    generate_year,
    plan_year_fill,
    write_fill,
)
from pltanomaly.channels.io import FILE_NAME_RE, iter_plt_chunks


def fill_dirs(year_dir: Path) -> list[Path]:
    return sorted(p for p in year_dir.iterdir() if p.is_dir())


def test_layout_and_tables_look_like_bril_files(generated_year: Path) -> None:
    assert generated_year.name == "22"
    truth = json.loads((generated_year / "truth.json").read_text())
    assert sorted(truth["fills"]) == [p.name for p in fill_dirs(generated_year)]
    for fill_dir in fill_dirs(generated_year):
        files = sorted(fill_dir.iterdir())
        assert [p.name for p in files] == sorted(truth["fills"][fill_dir.name]["files"])
        for path in files:
            match = FILE_NAME_RE.match(path.name)
            assert match and match["fill"] == fill_dir.name
            with h5py.File(path) as handle:
                table = handle["pltaggzero"]
                assert table.chunks == (100,)
                assert table.attrs["CLASS"] == b"TABLE"
                assert {
                    "fillnum",
                    "runnum",
                    "lsnum",
                    "nbnum",
                    "timestampsec",
                    "timestampmsec",
                    "totsize",
                    "publishnnb",
                    "datasourceid",
                    "algoid",
                    "channelid",
                    "payloadtype",
                    "data",
                } == set(table.dtype.names)
                assert {"bxconfig1", "bxconfig2", "collidable"} <= set(handle["beam"].dtype.names)
                assert "32001" in handle["pltaggzero"]._filters  # blosc


def test_same_seed_same_fills_other_seed_other_fills(tmp_path: Path) -> None:
    def first_rows(root: Path) -> np.ndarray:
        year = generate_year(root, 2023, n_fills=1, hours=0.05, seed=2 if root.name == "c" else 1)
        path = next(next(p for p in year.iterdir() if p.is_dir()).iterdir())
        return next(iter_plt_chunks(path)).data

    a, b, c = (first_rows(tmp_path / name) for name in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    truth = [json.loads((tmp_path / n / "23" / "truth.json").read_text()) for n in "ab"]
    assert truth[0] == truth[1]


def test_plans_hold_every_anomaly_type_and_common_periods() -> None:
    plans = [plan_year_fill(2022, 7920 + i, seed=21, hours=0.6)[1].truth for i in range(40)]
    kinds = {e["type"] for f in plans for c in f["channels"].values() for e in c["events"]}
    assert kinds == set(ANOMALY_TYPES)
    for fill in plans:
        assert {"emittance_scan", "beam_dump"} <= {c["type"] for c in fill["common"]}
        assert {6, 8} <= set(fill["dead_channels"])
        for channel, entry in fill["channels"].items():
            assert (entry["status"] == "dead") == (int(channel) in fill["dead_channels"])
            assert (entry["status"] == "anomalous") == bool(entry["events"])
            for event in entry["events"]:
                assert fill["start"] <= event["start"] <= event["end"] <= fill["end"]
    steps = [
        e["magnitude"]
        for f in plans
        for c in f["channels"].values()
        for e in c["events"]
        if e["type"] == "step"
    ]
    assert steps and all(0.02 <= s <= 0.5 for s in steps)
    clean = [f for f in plans if not any(c["events"] for c in f["channels"].values())]
    assert 0 < len(clean) < len(plans)  # some fills are clean, most are not


def test_clean_option_injects_nothing(tmp_path: Path) -> None:
    truth = json.loads(
        (generate_year(tmp_path, 2022, 2, 0.3, seed=3, anomalies=False) / "truth.json").read_text()
    )
    assert all(
        c["status"] != "anomalous" for f in truth["fills"].values() for c in f["channels"].values()
    )


def test_new_fills_are_merged_into_the_truth(tmp_path: Path) -> None:
    generate_year(tmp_path, 2022, 1, 0.05, seed=3, first_fill=8100)
    year = generate_year(tmp_path, 2022, 1, 0.05, seed=3, first_fill=8200)
    assert sorted(json.loads((year / "truth.json").read_text())["fills"]) == ["8100", "8200"]


@pytest.mark.parametrize("kind", ["step", "dropout", "stuck", "gap"])
def test_injected_anomaly_is_in_the_converted_series(tmp_path: Path, kind: str) -> None:
    """Find a generated fill with an event of ``kind`` and check the data shows it."""
    for seed in range(200):
        info = plan_year_fill(2022, 7920, seed, 0.3, faults=False)[1].truth
        found = [
            (int(c), e)
            for c, v in info["channels"].items()
            for e in v["events"]
            if e["type"] == kind
        ]
        if found and (kind != "step" or found[0][1]["magnitude"] > 0.05):
            break
    else:
        pytest.fail(f"no planned fill with a {kind} in 200 seeds")
    year = generate_year(tmp_path, 2022, 1, 0.3, seed=seed, faults=False)
    fill = "7920"
    assert (
        json.loads((year / "truth.json").read_text())["fills"][fill]["channels"] == info["channels"]
    )
    channel, event = found[0]
    convert_fill(year / fill, tmp_path / "s.parquet")
    series = pd.read_parquet(tmp_path / "s.parquet")
    rate = series.pivot_table(index="timestamp", columns="channel", values="rate")
    live = [c for c in range(16) if c not in info["dead_channels"]]
    ratio = rate[channel] / rate[[c for c in live if c != channel]].median(axis=1)
    inside = (ratio.index >= event["start"]) & (ratio.index <= event["end"])
    before = ratio.index < event["start"] - 60
    own = series[series["channel"] == channel].set_index("timestamp")
    if kind == "step":
        change = ratio[inside].median() / ratio[before].median() - 1
        assert abs(change) == pytest.approx(event["magnitude"], rel=0.2)
    elif kind == "dropout":
        assert ratio[inside].max() < 0.1
    elif kind == "stuck":
        assert own.loc[event["start"] + 1 : event["end"], "stuck"].all()
    else:
        assert own.loc[event["start"] + 2 : event["end"] - 2].empty


def test_rows_absent_at_the_end_of_a_file_do_not_clobber_the_table(tmp_path: Path) -> None:
    rng, plan = plan_year_fill(2022, 7920, seed=4, hours=0.1, faults=False)
    last_block = plan.n_slots % SLOTS_PER_BLOCK or SLOTS_PER_BLOCK
    plan.present[:, -last_block:] = False  # the file's last block holds no row at all
    (path,) = write_fill(plan, tmp_path / "7920", rng, faults=False)
    rows = sum(len(chunk) for chunk in iter_plt_chunks(path))
    assert rows == int(plan.present.sum())


def test_every_common_luminosity_jump_is_a_common_period() -> None:
    """Where the common luminosity jumps between two NB4 (scan steps, levelling steps and
    the end of levelling, the dump), the truth holds a common-mode period around it."""
    for fill in range(7920, 7940):
        plan = plan_year_fill(2022, fill, seed=8, hours=3.0)[1]
        normal = next(int(c) for c, v in plan.truth["channels"].items() if v["status"] == "normal")
        common = plan.scale[normal]  # a channel without anomaly follows the common luminosity
        jumps = np.flatnonzero(np.abs(np.diff(common)) > 0.02 * common[:-1].clip(1e-9))
        times = plan.times()
        for slot in jumps:
            t = times[slot]
            assert any(c["start"] - 2 <= t <= c["end"] + 2 for c in plan.truth["common"]), (fill, t)


def test_weak_channel_is_live_and_anomalies_reach_it() -> None:
    plans = [plan_year_fill(2022, 7920 + i, seed=22, hours=0.6)[1].truth for i in range(60)]
    weak = [f["channels"]["9"] for f in plans]
    assert all(c["status"] != "dead" and 0.1 < c["efficiency"] < 0.35 for c in weak)
    assert any(c["status"] == "anomalous" for c in weak)


def test_some_anomalies_start_inside_or_next_to_scans_and_levelling() -> None:
    plans = [plan_year_fill(2022, 7920 + i, seed=23, hours=1.5)[1].truth for i in range(40)]
    near = 0
    for fill in plans:
        periods = [c for c in fill["common"] if c["type"] in ("emittance_scan", "levelling_step")]
        for entry in fill["channels"].values():
            for event in entry["events"]:
                near += any(c["start"] - 60 <= event["start"] <= c["end"] + 60 for c in periods)
    assert near >= 3


def test_normal_behaviours_are_drawn_per_data_set_over_a_wide_range() -> None:
    from pltanomaly.channels.generate import REGIMES, data_set_behaviour

    drawn = [data_set_behaviour(seed, 2022) for seed in range(40)]
    assert data_set_behaviour(3, 2022) == drawn[3]  # one per data set
    wander = [n.wander for n in drawn]
    pileup = [n.pileup for n in drawn]
    assert min(wander) < 0.002 and max(wander) > 0.006
    assert min(pileup) < 0.02 and max(pileup) > 0.1
    # a fill's truth records the behaviour it was drawn with, per channel too
    truth = plan_year_fill(2022, 7920, seed=5, hours=0.3, normal=REGIMES["rough"])[1].truth
    assert truth["normal"] == REGIMES["rough"].to_dict()
    assert {"wander", "pileup", "efficiency"} <= set(truth["channels"]["0"])


def test_drifts_start_and_end_anywhere_in_the_fill() -> None:
    """Drifts of 20 minutes to the whole fill, from its first minutes, in its middle and to
    its last slot (where no level after the drift exists)."""
    from pltanomaly.channels.generate import _drift_span

    rng = np.random.default_rng(5)
    period, n_slots = 1.46, 5000
    spans = [_drift_span(rng, n_slots, period) for _ in range(400)]
    first = np.array([a for a, _ in spans])
    last = np.array([b for _, b in spans])
    assert first.min() >= 0 and last.max() == n_slots - 1
    minutes = (last - first + 1) * period / 60
    assert minutes.min() >= 20 - 0.1 and minutes.max() > 0.95 * n_slots * period / 60
    at_start = first * period <= 300
    at_end = last == n_slots - 1
    middle = ~at_start & ~at_end
    assert min(at_start.mean(), at_end.mean(), middle.mean()) > 0.2


def test_drift_rates_and_durations_in_the_truth() -> None:
    drifts = [
        e
        for fill in range(7920, 8020)
        for c in plan_year_fill(2022, fill, seed=31, hours=1.0)[1].truth["channels"].values()
        for e in c["events"]
        if e["type"] == "drift"
    ]
    assert len(drifts) >= 5
    assert all(0.01 <= e["magnitude"] <= 0.10 for e in drifts)
    assert all(e["end"] - e["start"] >= 1200 - 2 for e in drifts)
