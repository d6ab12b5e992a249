"""score_against_labels: detector vs human verdicts, overall and by anomaly type."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pltanomaly.review.agreement import format_agreement, print_agreement, score_against_labels
from pltanomaly.review.labels import LabelStore, default_labels_path


@pytest.fixture
def labelled(results: Path) -> Path:
    store = LabelStore(default_labels_path(results))
    # detector: 8001 ch3 anomalous/step 0.97, ch5 normal 0.52; 8003 ch11 spike 0.81,
    # ch12 dropout 0.66, ch1 normal 0.30; 8501 ch7 drift 0.90; 8002 ch2 normal 0.44
    store.save(2022, 8001, 3, "bad", anomaly_type="step")  # tp, step matched
    store.save(2022, 8001, 5, "bad", anomaly_type="drift")  # fn
    store.save(2022, 8003, 11, "bad", anomaly_type="noise")  # tp, but the type differs
    store.save(2022, 8003, 12, "good")  # fp (dropout flagged, human says fine)
    store.save(2022, 8003, 1, "good")  # tn
    store.save(2023, 8501, 7, "bad")  # tp, no type given
    store.save(2022, 8002, 2, "skipped")  # ignored
    store.save(2022, 7000, 1, "bad", anomaly_type="step")  # fill not in the results
    return results


def test_overall_counts(labelled: Path) -> None:
    r = score_against_labels(labelled)
    o = r["overall"]
    assert (o["tp"], o["fp"], o["fn"], o["tn"]) == (3, 1, 1, 1)
    assert o["precision"] == pytest.approx(3 / 4)
    assert o["recall"] == pytest.approx(3 / 4)
    assert o["accuracy"] == pytest.approx(4 / 6)
    # bad scores 0.97 0.52 0.81 0.90 vs good 0.66 0.30: 7 of 8 pairs ordered right
    assert o["auc"] == pytest.approx(7 / 8)
    assert (r["n_verdicts"], r["n_scored"], r["n_skipped"], r["n_missing"]) == (8, 6, 1, 1)
    assert r["missing"] == [{"year": 2022, "fill": 7000, "channel": 1}]


def test_by_type(labelled: Path) -> None:
    t = score_against_labels(labelled)["by_type"]
    assert t["step"] == {
        "labelled": 1, "detected": 1, "flagged": 1, "matched": 1,
        "precision": 1.0, "recall": 1.0, "recall_any": 1.0,
    }  # fmt: skip
    assert t["drift"]["labelled"] == 1 and t["drift"]["recall"] == 0.0
    assert t["drift"]["flagged"] == 1  # 8501 ch 7 (labelled bad without a type)
    assert t["drift"]["precision"] == 0.0
    assert t["noise"]["recall"] == 0.0 and t["noise"]["recall_any"] == 1.0
    assert t["dropout"]["flagged"] == 1 and t["dropout"]["labelled"] == 0
    assert t["dropout"]["precision"] == 0.0 and t["dropout"]["recall"] is None
    assert t["unspecified"]["labelled"] == 1 and t["unspecified"]["recall_any"] == 1.0
    assert "spike" in t and t["spike"]["flagged"] == 1
    assert "gap" not in t  # neither labelled nor flagged


def test_disagreements_listed_by_score(labelled: Path) -> None:
    d = score_against_labels(labelled)["disagreements"]
    assert [(x["fill"], x["channel"]) for x in d] == [(8003, 12), (8001, 5)]
    assert d[0]["detector_types"] == ["dropout"] and d[0]["verdict"] == "good"


def test_printer(labelled: Path) -> None:
    r = score_against_labels(labelled, default_labels_path(labelled))
    out = io.StringIO()
    print_agreement(r, file=out)
    text = out.getvalue()
    assert text == format_agreement(r)
    assert "precision  75.0%" in text and "recall  75.0%" in text
    assert "score AUC 0.875" in text
    assert "2022 fill 8003 ch 12: human good, detector anomalous (score 0.660, dropout)" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  step")}
    assert lines["step"].split()[1:4] == ["1", "1", "1"]


def test_no_verdicts_yet(results: Path) -> None:
    LabelStore(default_labels_path(results))
    r = score_against_labels(results)
    assert r["n_scored"] == 0 and r["overall"]["precision"] is None
    assert "nothing to score" in format_agreement(r)


def test_missing_database_is_an_error(results: Path) -> None:
    with pytest.raises(FileNotFoundError):
        score_against_labels(results, results / "nope.sqlite")
    assert not (results / "nope.sqlite").exists()


@pytest.mark.parametrize("year_folder", [False, True])
def test_evaluate_labels_command(labelled: Path, year_folder: bool, capsys) -> None:
    """``pltanomaly evaluate --labels`` finds the review app's database from the results
    folder or from one year's folder (as ``--truth`` takes it)."""
    from pltanomaly.cli import main

    folder = labelled / "2022" if year_folder else labelled
    assert main(["evaluate", "--results", str(folder), "--labels"]) == 0
    out = capsys.readouterr().out
    assert out == format_agreement(score_against_labels(labelled))
