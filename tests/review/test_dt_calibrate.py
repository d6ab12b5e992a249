"""pltanomaly calibrate learns from DT verdicts: per DT event type, under ``dt:{type}``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from dt_data import event, good_chamber, layer

from pltanomaly.calibrate_command import calibrate
from pltanomaly.chambers.calibrate import layer_evidence, layer_observations
from pltanomaly.chambers.geometry import CHAMBERS
from pltanomaly.chambers.labels import ChamberLabels
from pltanomaly.core.calibrate import Observation, load_calibration
from pltanomaly.review.labels import LabelStore

RUN = 360000
HOT, BLOCK = 1.5, 0.8  # evidence of the hot cells (above threshold) and dead blocks (below)
KEYS = [c.key for c in CHAMBERS[:12]]


def test_layer_evidence_takes_the_strongest_event_of_each_type() -> None:
    r = layer(
        0.9,
        [
            event("hot_cell", 3, 3, 9.0, 0.7, evidence=1.2),
            event("hot_cell", 9, 9, 30.0, 0.9, evidence=2.5),
            event("dead_block", 1, 8, 0.0, 0.5),  # no evidence: read from the score
        ],
    )
    assert layer_evidence(r) == pytest.approx({"hot_cell": 2.5, "dead_block": 1.0})


def test_which_verdict_teaches_which_type() -> None:
    r = layer(0.8, [event("noisy_layer", 1, 50, 3.0, 0.8, evidence=2.0)])
    assert layer_observations("good", None, r) == [Observation("dt:noisy_layer", 2.0, False)]
    assert layer_observations("bad", "noisy_layer", r) == [Observation("dt:noisy_layer", 2.0, True)]
    assert layer_observations("bad", "other", r) == [Observation("dt:noisy_layer", 2.0, True)]
    assert layer_observations("bad", "dead_layer", r) == []  # no evidence of that type
    assert layer_observations("skipped", None, r) == []
    assert layer_observations("good", None, layer(0.1)) == []  # no events, nothing to teach


def _run() -> dict[str, Any]:
    chambers = {}
    for i, key in enumerate(KEYS):
        c = good_chamber(key)
        if i % 2:
            c["layers"]["1"] = layer(0.69, [event("hot_cell", 5, 5, 20.0, 0.69, evidence=HOT)])
        else:
            c["layers"]["1"] = layer(0.39, [event("dead_block", 1, 8, 0.0, 0.39, evidence=BLOCK)])
        chambers[key] = c
    return {"run": RUN, "status": "finished", "entries": 1, "chambers": chambers}


@pytest.fixture
def labelled(results: Path, tmp_path: Path) -> tuple[Path, Path]:
    (results / "dt").mkdir()
    (results / "dt" / f"{RUN}.json").write_text(json.dumps(_run()))
    db = tmp_path / "labels.sqlite"
    LabelStore(db)
    return results, db


def test_calibration_without_dt_verdicts_has_no_dt_types(
    labelled: tuple[Path, Path], tmp_path: Path
) -> None:
    results, db = labelled
    out = calibrate(results, tmp_path / "cal.json", db)
    assert not any(t.startswith("dt:") for t in out.types)
    assert json.loads((tmp_path / "cal.json").read_text())["dt_observations"] == 0


def test_dt_verdicts_move_p_the_right_way(labelled: tuple[Path, Path], tmp_path: Path) -> None:
    results, db = labelled
    before = calibrate(results, tmp_path / "before.json", db)
    labels = ChamberLabels(LabelStore(db))
    for i, key in enumerate(KEYS):
        # the experts call the hot cells benign and the dead blocks real
        labels.save(
            RUN, key, 1, "good" if i % 2 else "bad", fault_type=None if i % 2 else "dead_block"
        )
    labels.save(RUN, KEYS[2], 2, "skipped")  # teaches nothing
    after = calibrate(results, tmp_path / "after.json", db)
    hot, block = after.types["dt:hot_cell"], after.types["dt:dead_block"]
    assert (hot.n_good, hot.n_bad, block.n_good, block.n_bad) == (6, 0, 0, 6)
    assert hot.probability(HOT) < before.probability("dt:hot_cell", HOT) - 0.2
    assert block.probability(BLOCK) > before.probability("dt:dead_block", BLOCK) + 0.2
    assert after.probability("dt:hot_cell", HOT) < 0.5 < after.probability("dt:dead_block", BLOCK)
    # the PLT types are as they were, and the file reads back
    plt = {t: f for t, f in after.types.items() if not t.startswith("dt:")}
    assert plt == before.types
    data = json.loads((tmp_path / "after.json").read_text())
    assert data["version"] == 1 and data["dt_observations"] == 12
    loaded = load_calibration(tmp_path / "after.json")
    assert math.isclose(loaded.probability("dt:hot_cell", HOT), hot.probability(HOT))


def test_dt_verdicts_steer_the_evaluation_queue(make_app: Any, results: Path) -> None:
    """X's hot cell sits at the detector's threshold (evidence 1), Y's eventless layer at 0.40:
    X comes first, until the experts call five stronger hot cells benign."""
    chambers = {key: good_chamber(key) for key in KEYS[:7]}
    for key in KEYS[:5]:
        chambers[key]["layers"]["1"] = layer(
            0.69, [event("hot_cell", 5, 5, 20.0, 0.69, evidence=HOT)]
        )
    x, y = KEYS[5], KEYS[6]
    chambers[x]["layers"]["1"] = layer(0.5, [event("hot_cell", 7, 7, 9.0, 0.5, evidence=1.0)])
    chambers[y]["layers"]["1"] = layer(0.40)
    (results / "dt").mkdir()
    result = {"run": RUN, "status": "finished", "chambers": chambers}
    (results / "dt" / f"{RUN}.json").write_text(json.dumps(result))
    client = make_app().test_client()
    head = client.get("/api/dt/eval/next").get_json()["next"]
    assert (head["chamber"], head["layer"], head["p_bad"]) == (x, 1, pytest.approx(0.5))
    for key in KEYS[:5]:
        url = f"/api/dt/runs/{RUN}/chambers/{key}/layers/1"
        assert client.patch(url, json={"verdict": "good"}).status_code == 200
    head = client.get("/api/dt/eval/next").get_json()["next"]
    assert (head["chamber"], head["layer"]) == (y, 1)
