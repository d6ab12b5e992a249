"""Agreement of the luminometer cross-check with luminometer verdicts, and calibration of its
event types from them, on the hand-made fill of lumi_data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lumi_data import HAND_FILL, HAND_YEAR, add_hand_made

from pltanomaly.calibrate_command import calibrate
from pltanomaly.core.calibrate import PRIOR_FIT, load_calibration
from pltanomaly.luminometers.agreement import lumi_agreement
from pltanomaly.luminometers.calibration import event_evidence, load_lumi_calibration
from pltanomaly.luminometers.labels import LumiLabels, NewVerdict
from pltanomaly.luminometers.results import LumiResults
from pltanomaly.review.agreement import score_against_labels
from pltanomaly.review.labels import LabelStore, default_labels_path


def label(results: Path) -> LumiLabels:
    """The hand-made fill's verdicts: pltzero bad 320000:12..21 (an expert's) over the log's
    whole-fill good, an ignore zone on its spike; hfoc and ramses good over the fill."""
    labels = LumiLabels(LabelStore(default_labels_path(results)))
    log = [
        NewVerdict("pltzero", None, None, "good"),
        NewVerdict("pltzero", (320000, 60), (320000, 65), "ignore", reason="plt hv scan"),
        NewVerdict("hfoc", None, None, "good"),
        NewVerdict("ramses", None, None, "good"),
    ]
    labels.replace_log([(HAND_YEAR, HAND_FILL, v) for v in log])
    labels.add(HAND_YEAR, HAND_FILL, NewVerdict("pltzero", (320000, 12), (320000, 21), "bad"))
    return labels


@pytest.fixture
def hand(results: Path) -> Path:
    add_hand_made(results)
    return results


def test_ls_and_fill_level_figures(hand: Path) -> None:
    found = lumi_agreement(LumiResults(hand), label(hand))
    plt = found["luminometers"]["pltzero"]
    # dip 10..19 vs bad 12..21: 8 LS right, 2 early, 2 missed; the spike lies in the ignore zone
    assert plt["ls"] == pytest.approx(
        {"tp": 8, "fp": 2, "fn": 2, "precision": 0.8, "recall": 0.8, "f1": 0.8}
    )
    assert (plt["ranges_found"], plt["ranges"], plt["false_events"]) == (1, 1, 0)
    assert (plt["fills"]["tp"], plt["fills"]["fp"], plt["fills"]["fn"]) == (1, 0, 0)
    hfoc = found["luminometers"]["hfoc"]
    assert hfoc["ls"]["fp"] == 5 and hfoc["false_events"] == 1 and hfoc["fills"]["fp"] == 1
    assert found["luminometers"]["ramses"]["fills"]["tn"] == 1
    assert found["total"]["ls"]["tp"] == 8 and found["total"]["ls"]["fp"] == 7
    assert "bcm1fsi" not in found["luminometers"]  # absent, no verdict


def test_the_experts_verdict_wins_over_the_log(hand: Path) -> None:
    labels = label(hand)
    step = (320001, 1), (320001, 20)
    labels.replace_log([(HAND_YEAR, HAND_FILL, NewVerdict("hfoc", *step, "bad"))])
    hfoc = lumi_agreement(LumiResults(hand), labels)["luminometers"]["hfoc"]
    assert (hfoc["ls"]["tp"], hfoc["ls"]["fp"], hfoc["ls"]["fn"]) == (5, 0, 15)
    labels.add(HAND_YEAR, HAND_FILL, NewVerdict("hfoc", *step, "good"))  # the expert disagrees
    hfoc = lumi_agreement(LumiResults(hand), labels)["luminometers"]["hfoc"]
    assert (hfoc["ls"]["tp"], hfoc["ls"]["fp"], hfoc["ls"]["fn"]) == (0, 5, 0)


def test_without_the_table_only_the_fill_level(results: Path) -> None:
    add_hand_made(results, with_table=False)
    found = lumi_agreement(LumiResults(results), label(results))
    assert found["fill_level_only"] == [{"year": HAND_YEAR, "fill": HAND_FILL}]
    assert found["luminometers"]["pltzero"]["ls"]["tp"] == 0
    assert found["luminometers"]["hfoc"]["fills"]["fp"] == 1
    assert found["luminometers"]["ramses"]["fills"]["tn"] == 1


def test_agreement_page_and_json_show_the_luminometers(make_app: Any, hand: Path) -> None:
    label(hand)
    client = make_app(results_dir=hand).test_client()
    body = client.get("/api/agreement.json").get_json()
    assert body["luminometers"]["luminometers"]["pltzero"]["ls"]["tp"] == 8
    html = client.get("/agreement").get_data(as_text=True)
    assert 'id="lumi-agreement-table"' in html and "80.0%" in html
    assert score_against_labels(hand)["luminometers"]["total"]["ls"]["fn"] == 2


def test_evidence_from_the_score() -> None:
    assert event_evidence({"score": 0.5}) == pytest.approx(1.0)
    assert event_evidence({"score": 0.75}) == pytest.approx(2.0)
    assert event_evidence({"score": 1.0}) == pytest.approx(13.2877, abs=1e-3)
    assert event_evidence({"score": 0.9, "evidence": 1.7}) == 1.7
    assert event_evidence({}) is None


def test_calibrate_with_luminometer_verdicts(hand: Path, tmp_path: Path) -> None:
    store = LabelStore(default_labels_path(hand))
    store.save(2022, 8001, 3, "bad", anomaly_type="step")  # a PLT verdict
    before = tmp_path / "plt-only.json"
    calibrate(hand, before)
    assert "luminometers" not in json.loads(before.read_text())
    label(hand)
    out = tmp_path / "calibration.json"
    calibrate(hand, out)
    data = json.loads(out.read_text())
    assert data["types"] == json.loads(before.read_text())["types"]  # the PLT part unchanged
    assert load_calibration(out).types == load_calibration(before).types
    lumi = load_lumi_calibration(out)
    assert data["luminometers"]["observations"] == 2
    dip, step = event_evidence({"score": 0.9}), event_evidence({"score": 0.7})
    assert dip is not None and step is not None
    # the dip overlapping a bad range is a positive, the step inside a good range a negative;
    # the spike in the ignore zone teaches nothing
    assert lumi.probability("dip", dip) > PRIOR_FIT.probability(dip)
    assert lumi.probability("step", step) < PRIOR_FIT.probability(step)
    assert (lumi.fit_for("dip").n_bad, lumi.fit_for("step").n_good) == (1, 1)
    assert "spike" not in lumi.types
