"""The detector on hand-made runs (one fault at a time in one chamber of a clean run), its
results' consistency on generated runs, and the dt-detect command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dt_runs import expected_run, long_rows, sample
from hypothesis import given, settings
from hypothesis import strategies as st

from pltanomaly.chambers.detect import detect_run
from pltanomaly.chambers.generate import generate_run
from pltanomaly.chambers.geometry import CHAMBERS
from pltanomaly.cli import main

LEVEL = 200.0
KEY = "W1_St2_Sec5"
MB4 = "W0_St4_Sec10"


def run_with(fault: Callable[[np.ndarray], None] | None, key: str = KEY, level: float = LEVEL):
    expected = expected_run(level)
    if fault is not None:
        fault(expected[key])
    return detect_run(1, sample(expected))


def events(result: dict[str, Any], key: str = KEY) -> dict[int, list[tuple[str, int, int]]]:
    """Layer -> (type, first wire, last wire) of each event in a chamber."""
    return {
        int(layer): [(e["type"], e["first_wire"], e["last_wire"]) for e in found["events"]]
        for layer, found in result["chambers"][key]["layers"].items()
        if found["events"]
    }


def bad_chambers(result: dict[str, Any]) -> set[str]:
    return {key for key, c in result["chambers"].items() if c["status"] == "bad"}


@pytest.fixture(scope="module")
def clean() -> dict[str, Any]:
    return run_with(None)


def test_clean_run_has_no_bad_chamber(clean: dict[str, Any]) -> None:
    assert bad_chambers(clean) == set()
    assert all(c["status"] == "good" for c in clean["chambers"].values())


def test_result_follows_the_contract(clean: dict[str, Any]) -> None:
    assert clean["run"] == 1 and clean["status"] == "finished"
    assert len(clean["chambers"]) == len(CHAMBERS)
    mb4 = clean["chambers"][MB4]
    assert sorted(mb4["layers"], key=int) == ["1", "2", "3", "4", "9", "10", "11", "12"]
    for chamber in clean["chambers"].values():
        assert chamber["code"] == 0 and chamber["entries"] > 0
        for layer in chamber["layers"].values():
            assert layer["status"] == "good" and 0 <= layer["score"] < 0.5
            assert {"events", "saliency", "dead_fraction", "longest_zero_run"} <= set(layer)


def scale_layer(layer: int, factor: float) -> Callable[[np.ndarray], None]:
    def apply(expected: np.ndarray) -> None:
        expected[layer - 1][expected[layer - 1] > 0] *= factor

    return apply


def test_dead_layer() -> None:
    result = run_with(scale_layer(3, 0.02))
    assert bad_chambers(result) == {KEY}
    layer = result["chambers"][KEY]["layers"]["3"]
    assert layer["status"] == "dead"
    assert [e["type"] for e in layer["events"]] == ["dead_layer"]
    assert layer["events"][0]["magnitude"] < 0.1
    assert set(events(result)) == {3}


@pytest.mark.parametrize("factor", [0.5, 0.75])
def test_inefficient_layer(factor: float) -> None:
    result = run_with(scale_layer(6, factor))
    assert events(result) == {6: [("inefficient_layer", 1, 57)]}  # layer 6 is staggered: 57 wires
    event = result["chambers"][KEY]["layers"]["6"]["events"][0]
    assert event["magnitude"] == pytest.approx(factor, abs=0.06)
    assert result["chambers"][KEY]["layers"]["6"]["status"] == "bad"


def dead_wires(layers: list[int], first: int, last: int) -> Callable[[np.ndarray], None]:
    def apply(expected: np.ndarray) -> None:
        for layer in layers:
            expected[layer - 1, first - 1 : last] = 0.0

    return apply


@pytest.mark.parametrize(("first", "last"), [(10, 13), (30, 31), (1, 20)])
def test_dead_block_in_one_layer(first: int, last: int) -> None:
    result = run_with(dead_wires([9], first, last))
    assert events(result) == {9: [("dead_block", first, last)]}


def test_dead_block_in_all_layers_of_a_superlayer() -> None:
    result = run_with(dead_wires([1, 2, 3, 4], 20, 27))
    assert events(result) == {layer: [("dead_block", 20, 27)] for layer in (1, 2, 3, 4)}


def test_hot_cells() -> None:
    def hot(expected: np.ndarray) -> None:
        expected[10, 30] *= 6
        expected[10, 5] *= 50

    result = run_with(hot)
    assert events(result) == {11: [("hot_cell", 6, 6), ("hot_cell", 31, 31)]}
    magnitudes = [e["magnitude"] for e in result["chambers"][KEY]["layers"]["11"]["events"]]
    assert magnitudes[0] > 30 and 4 < magnitudes[1] < 8


def test_noisy_layer() -> None:
    def noisy(expected: np.ndarray) -> None:
        expected[4][expected[4] > 0] += 0.5 * LEVEL

    result = run_with(noisy)
    assert [e[0] for e in events(result)[5]] == ["noisy_layer"]
    assert set(events(result)) == {5}


def test_synchronous_noise() -> None:
    def synchronous(expected: np.ndarray) -> None:
        expected[expected >= 0] += LEVEL

    result = run_with(synchronous)
    assert bad_chambers(result) == {KEY}
    found = events(result)
    assert set(found) == set(range(1, 13))
    assert all(e[0] == "synchronous_noise" for layer in found.values() for e in layer)


def test_dead_superlayer() -> None:
    def dead(expected: np.ndarray) -> None:
        expected[8:12][expected[8:12] > 0] *= 0.01

    result = run_with(dead)
    layers = result["chambers"][KEY]["layers"]
    assert {k for k, v in layers.items() if v["status"] == "dead"} == {"9", "10", "11", "12"}
    assert all(v["status"] == "good" for k, v in layers.items() if int(k) < 9)


@pytest.mark.parametrize("factor", [0.0, 0.02])
def test_dead_chamber(factor: float) -> None:
    def dead(expected: np.ndarray) -> None:
        expected[expected > 0] *= factor

    result = run_with(dead)
    chamber = result["chambers"][KEY]
    assert chamber["status"] == "bad"
    assert all(layer["status"] == "dead" for layer in chamber["layers"].values())


def test_benign_features_are_not_faults() -> None:
    def benign(expected: np.ndarray) -> None:
        expected[0, [7, 30]] = 0.0
        expected[6, 12] *= 2.5
        expected[10, 40] *= 3.0

    result = run_with(benign)
    assert result["chambers"][KEY]["status"] == "good"


def test_low_statistics_run_is_not_judged() -> None:
    expected = expected_run(1.0)
    scale_layer(3, 0.0)(expected[KEY])
    result = detect_run(2, sample(expected))
    statuses = {c["status"] for c in result["chambers"].values()}
    assert statuses == {"not_judged"}
    assert result["chambers"][KEY]["reason"] in ("too few entries", "too few hits per cell")
    assert result["chambers"][KEY]["layers"] == {}


def test_low_statistics_column_among_busy_ones_is_not_judged() -> None:
    """A whole wheel column of chambers (station 2, sector 5) holding 2 hits per cell is not
    judged, even with a dead layer; a lone chamber that empty among busy peers would be dead."""
    expected = expected_run(LEVEL)
    column = [c.key for c in CHAMBERS if (c.station, c.sector) == (2, 5)]
    for key in column:
        expected[key][expected[key] > 0] *= 2 / LEVEL
    scale_layer(3, 0.0)(expected[KEY])
    result = detect_run(4, sample(expected))
    assert {result["chambers"][key]["status"] for key in column} == {"not_judged"}
    assert bad_chambers(result) == set()


def test_missing_chamber_is_not_judged() -> None:
    hits = sample(expected_run(LEVEL))
    del hits[KEY]
    result = detect_run(3, hits)
    assert result["chambers"][KEY] == {
        "status": "not_judged",
        "reason": "no histogram",
        "layers": {},
    }
    assert bad_chambers(result) == set()


def test_saliency_points_at_the_block() -> None:
    result = run_with(dead_wires([2], 15, 18))
    saliency = result["chambers"][KEY]["layers"]["2"]["saliency"]
    assert {cell["wire"] for cell in saliency[:4]} == {15, 16, 17, 18}
    assert all(0 < cell["weight"] <= 1 for cell in saliency)


@given(st.integers(0, 10_000))
@settings(max_examples=4, deadline=None)
def test_results_are_consistent_on_any_generated_run(seed: int) -> None:
    chambers, _ = generate_run(355100, seed)
    result = detect_run(355100, chambers)
    for key, chamber in result["chambers"].items():
        hits = chambers[key]
        layers = chamber["layers"]
        if chamber["status"] == "not_judged":
            assert layers == {} and chamber["reason"]
            continue
        assert chamber["status"] == (
            "bad" if any(v["status"] != "good" for v in layers.values()) else "good"
        )
        for name, layer in layers.items():
            assert 0 <= layer["score"] <= 1
            assert (layer["status"] == "good") == (not layer["events"])
            existing = np.flatnonzero(hits[int(name) - 1] >= 0) + 1
            for event in layer["events"]:
                assert existing[0] <= event["first_wire"] <= event["last_wire"] <= existing[-1]
                assert 0 <= event["score"] <= 1 and event["magnitude"] >= 0


def test_dt_detect_command(tmp_path: Path) -> None:
    expected = expected_run(LEVEL)
    dead_wires([9], 10, 13)(expected[KEY])
    hits = sample(expected)
    parquet = tmp_path / "355107.parquet"
    long_rows(hits).to_parquet(parquet)
    out = tmp_path / "results" / "dt" / "355107.json"
    assert main(["dt-detect", str(parquet), str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["run"] == 355107
    assert events(result) == {9: [("dead_block", 10, 13)]}


def test_cells_that_are_not_finite_do_not_exist() -> None:
    hits = sample(expected_run(LEVEL))
    chamber = hits[KEY]
    finite_hits = float(chamber[chamber >= 0].sum()) - chamber[0, :5].sum() - chamber[7, 3]
    chamber[0, :5] = np.nan
    chamber[7, 3] = np.inf
    result = detect_run(5, hits)
    assert bad_chambers(result) == set()
    assert result["chambers"][KEY]["entries"] == round(finite_hits)
