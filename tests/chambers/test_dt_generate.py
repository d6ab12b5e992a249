"""The DT generator: shapes, -1 padding, determinism, truth, the GUI's JSON and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pltanomaly.chambers.generate import (
    FAULT_TYPES,
    existing_cells,
    generate_run,
    gui_json,
    inject_fault,
    layer_truth,
    write_runs,
)
from pltanomaly.chambers.geometry import (
    CHAMBERS,
    LAYER_LABELS,
    chamber_from_key,
    dqm_path,
    max_wires,
    wires,
)
from pltanomaly.chambers.load import chamber_from_gui
from pltanomaly.cli import main


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, np.ndarray], dict]:
    return generate_run(355100, 3, fault_rate=0.5)


def test_every_chamber_has_the_gui_shape(run: tuple[dict[str, np.ndarray], dict]) -> None:
    chambers, _ = run
    assert len(chambers) == len(CHAMBERS) == 250
    for chamber in CHAMBERS:
        hits = chambers[chamber.key]
        assert hits.shape == (12, max_wires(chamber))
        for layer in range(1, 13):
            existing = int((hits[layer - 1] >= 0).sum())
            assert existing == wires(chamber, layer)
        assert set(np.unique(hits[hits < 0])) <= {-1.0}
        if chamber.station == 4:
            assert (hits[4:8] == -1).all()


def test_same_seed_same_run_other_seed_other_run() -> None:
    first, truth = generate_run(7, 11)
    again, truth_again = generate_run(7, 11)
    other, _ = generate_run(7, 12)
    assert truth == truth_again
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_truth_names_existing_layers_and_wires(run: tuple[dict[str, np.ndarray], dict]) -> None:
    chambers, truth = run
    types = set()
    for key, chamber_truth in truth["chambers"].items():
        chamber = chamber_from_key(key)
        assert chamber_truth["expected_per_cell"] >= 0
        for fault in chamber_truth["faults"]:
            types.add(fault["type"])
            assert set(fault["layers"]) <= set(chamber.layers)
            if fault["type"] == "dead_block":
                row = chambers[key][fault["layers"][0] - 1]
                assert 1 <= fault["first_wire"] < fault["last_wire"] <= len(row)
        for layer, entry in layer_truth(chamber_truth).items():
            assert layer in chamber.layers
            assert all(f["event"] in _CONTRACT_EVENTS for f in entry["faults"])
    assert types <= set(FAULT_TYPES) and len(types) >= 5


_CONTRACT_EVENTS = {
    "dead_layer",
    "inefficient_layer",
    "dead_block",
    "hot_cell",
    "noisy_layer",
    "synchronous_noise",
}


def test_clean_run_has_no_fault() -> None:
    _, truth = generate_run(5, 5, clean=True)
    assert all(not c["faults"] for c in truth["chambers"].values())


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_each_fault_changes_only_its_layers(fault: str) -> None:
    chamber = chamber_from_key("W0_St1_Sec3")
    mask = existing_cells(chamber)
    expected = np.where(mask, 100.0, 0.0)
    before = expected.copy()
    truth = inject_fault(fault, chamber, expected, mask, np.random.default_rng(4))
    changed = {int(i) + 1 for i in np.flatnonzero((expected != before).any(axis=1))}
    assert changed == set(truth["layers"])
    lowered = (expected <= before).all()
    assert lowered == (fault not in ("hot_cell", "noisy_layer", "synchronous_noise"))


def test_gui_json_round_trip(run: tuple[dict[str, np.ndarray], dict]) -> None:
    chambers, _ = run
    chamber = chamber_from_key("W0_St4_Sec10")
    hits = chambers[chamber.key]
    payload = json.loads(json.dumps(gui_json(355100, chamber, hits)))
    hist = payload["hist"]
    assert hist["type"] == "TH2F"
    assert [label["value"] for label in hist["yaxis"]["labels"]] == list(LAYER_LABELS)
    assert hist["xaxis"]["last"] == {"id": hits.shape[1], "value": hits.shape[1] + 1}
    missing = int((hits < 0).sum())
    assert hist["stats"]["entries"] == hits[hits >= 0].sum() + missing
    assert hist["bins"]["integral"][1][1] == hits.sum()
    np.testing.assert_array_equal(chamber_from_gui(payload), hits)


def test_write_runs_and_cli(tmp_path: Path) -> None:
    argv = ["dt-generate", str(tmp_path), "--runs", "1", "--first-run", "9", "--seed", "2"]
    assert main(argv) == 0

    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["seed"] == 2 and list(truth["runs"]) == ["9"]
    chamber = CHAMBERS[17]
    payload = json.loads((tmp_path / dqm_path(9, chamber).lstrip("/")).read_text())
    expected, _ = generate_run(9, 2)
    np.testing.assert_array_equal(chamber_from_gui(payload), expected[chamber.key])
    assert write_runs(tmp_path / "again", [9], 2).name == "truth.json"
