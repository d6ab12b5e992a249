"""Calibration from verdicts on hand-made verdict sets: monotone, the prior with few verdicts,
per type, the join with the label database, re-scoring a result, the command."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pltanomaly.calibrate_command import calibrate
from pltanomaly.channels.calibration import apply_calibration
from pltanomaly.cli import main
from pltanomaly.core.calibrate import (
    Observation,
    fit,
    load_calibration,
    observations_of,
)
from pltanomaly.review.labels import LabelStore

GRID = np.geomspace(0.05, 20, 60)


def uncalibrated(x: float) -> float:
    return x * x / (1 + x * x)


def expert(type_: str, cut: float, n: int, seed: int = 0) -> list[Observation]:
    """An expert who calls a channel bad when its evidence is above ``cut`` (a few mistakes)."""
    rng = np.random.default_rng(seed)
    xs = np.exp(rng.uniform(math.log(0.2), math.log(15), n))
    flips = rng.random(n) < 0.05
    return [
        Observation(type_, float(x), bool((x > cut) != f)) for x, f in zip(xs, flips, strict=True)
    ]


def test_no_verdict_is_the_uncalibrated_detector() -> None:
    calibration = fit([])
    for x in GRID:
        assert calibration.probability("drift", x) == pytest.approx(uncalibrated(x))


def test_few_verdicts_stay_near_the_prior() -> None:
    calibration = fit(expert("drift", 4.0, 3))
    assert calibration.probability("drift", 1.0) == pytest.approx(0.5, abs=0.12)
    for x in GRID:
        assert calibration.probability("drift", x) == pytest.approx(uncalibrated(x), abs=0.2)


def test_many_verdicts_move_the_curve_to_the_experts() -> None:
    calibration = fit(expert("drift", 4.0, 200))
    p = calibration.probability
    assert p("drift", 1.0) < 0.1  # "twenty drifts marked normal": no longer raised at 1
    assert p("drift", 2.0) < 0.3
    assert p("drift", 8.0) > 0.8
    crossing = next(x for x in GRID if p("drift", x) >= 0.5)
    assert 2.5 < crossing < 6.0


@pytest.mark.parametrize(("cut", "n"), [(0.5, 5), (4.0, 40), (2.0, 300)])
def test_the_map_is_monotone(cut: float, n: int) -> None:
    calibration = fit(expert("step", cut, n, seed=n))
    values = [calibration.probability("step", x) for x in GRID]
    assert all(b >= a for a, b in pairwise(values))


def test_even_inverted_verdicts_give_a_monotone_map() -> None:
    """Experts calling low evidence bad and high good: the fit flattens, it does not invert."""
    obs = [Observation("spike", x, x < 1) for x in GRID]
    values = [fit(obs).probability("spike", x) for x in GRID]
    assert all(b >= a - 1e-12 for a, b in pairwise(values))


def test_the_slope_stays_positive_and_the_prior_is_log_normal() -> None:
    """Inverted verdicts shrink the slope towards 0 but never to it (it is fitted as ln b)."""
    obs = [Observation("spike", x, x < 1) for x in GRID]
    f = fit(obs).fit_for("spike")
    assert 0 < f.b < 2
    values = [f.probability(x) for x in GRID]
    assert all(b > a for a, b in pairwise(values))
    # the prior's covariance of (a, b): sd 1 for a, the delta method's 2 * 1.5 for b
    prior = fit([]).fit_for("spike")
    assert prior.cov[0][0] == pytest.approx(1.0) and prior.cov[1][1] == pytest.approx(9.0)


def test_verdicts_that_agree_with_the_detector_keep_p_half_at_evidence_1() -> None:
    obs = [Observation("step", 4.0, True), Observation("step", 0.25, False)]
    calibration = fit(obs)
    assert calibration.probability("step", 1.0) == pytest.approx(0.5, abs=1e-6)
    assert calibration.probability("step", 4.0) > uncalibrated(4.0) - 0.05
    assert calibration.probability("drift", 1.0) == pytest.approx(0.5)


def test_laplace_covariance_matches_the_curvature() -> None:
    """The fitted covariance of (a, b) is positive definite and shrinks with verdicts."""
    for n in (3, 30, 300):
        f = fit(expert("drift", 2.0, n, seed=n)).fit_for("drift")
        (caa, cab), (cba, cbb) = f.cov
        assert cab == pytest.approx(cba) and caa > 0 and cbb > 0 and caa * cbb > cab * cab
    assert fit(expert("drift", 2.0, 300)).fit_for("drift").cov[1][1] < 0.5


def test_per_type() -> None:
    calibration = fit(expert("drift", 4.0, 200) + expert("step", 0.5, 200, seed=1))
    assert calibration.probability("drift", 1.5) < 0.2
    assert calibration.probability("step", 1.5) > 0.8 > uncalibrated(1.5)
    assert calibration.probability("spike", 1.5) == pytest.approx(uncalibrated(1.5))
    assert calibration.types["drift"].n_bad + calibration.types["drift"].n_good == 200


def test_uncertainty_shrinks_with_verdicts() -> None:
    def logit_sd(calibration: Any) -> float:
        return float(calibration.fit_for("drift").logit(3.0)[1])

    few, many = fit(expert("drift", 4.0, 5)), fit(expert("drift", 4.0, 300))
    assert logit_sd(fit([])) > logit_sd(few) > logit_sd(many) > 0
    assert many.uncertainty("drift", 3.0) < few.uncertainty("drift", 3.0)


@pytest.mark.parametrize(
    ("verdict", "anomaly_type", "expected"),
    [
        # good without events: only the strongest type decided the channel
        ("good", None, [("drift", 1.2, False)]),
        ("bad", "step", [("step", 0.4, True)]),
        ("bad", None, [("drift", 1.2, True)]),
        ("bad", "other", [("drift", 1.2, True)]),
        ("bad", "gap", []),
        ("bad", "spike", []),  # evidence 0.1: not informative
        ("skipped", None, []),
    ],
)
def test_what_a_verdict_teaches(verdict: str, anomaly_type: str | None, expected: Any) -> None:
    channel = {"status": "normal", "evidence_by_type": {"drift": 1.2, "step": 0.4, "spike": 0.1}}
    got = observations_of(verdict, anomaly_type, channel)
    assert [(o.type, o.evidence, o.bad) for o in got] == expected


def test_a_good_verdict_teaches_the_types_of_the_channels_events() -> None:
    """The step event decided the channel, not the stronger drift near miss."""
    channel = {
        "status": "anomalous",
        "events": [{"type": "step", "evidence": 1.04}, {"type": "step", "evidence": 1.01}],
        "evidence_by_type": {"drift": 0.9, "step": 1.04, "noise": 0.5},
    }
    got = observations_of("good", None, channel)
    assert [(o.type, o.evidence, o.bad) for o in got] == [("step", 1.04, False)]


def test_uninformative_evidence_teaches_nothing() -> None:
    channel = {"status": "normal", "evidence_by_type": {"drift": 0.25, "step": 0.1}}
    assert observations_of("good", None, channel) == []
    assert observations_of("bad", None, channel) == []
    assert observations_of("bad", "drift", channel) == []


def test_good_verdicts_leave_the_other_types_at_the_prior() -> None:
    """Many good channels with a drift event and a step near miss: the step keeps P(1) = 0.5."""
    channel = {
        "status": "anomalous",
        "events": [{"type": "drift", "evidence": 1.5}],
        "evidence_by_type": {"drift": 1.5, "step": 0.9},
    }
    calibration = fit([o for _ in range(30) for o in observations_of("good", None, channel)])
    assert calibration.probability("step", 1.0) == pytest.approx(0.5)
    assert calibration.probability("drift", 1.0) < 0.4


# -- a results folder, its label database, the file, re-scoring ---------------------------------
def _result(fill: int, drift: float) -> dict[str, Any]:
    score = uncalibrated(drift)
    anomalous = drift >= 1
    events = (
        [{"type": "drift", "start": 1.0, "end": 2.0, "score": score, "evidence": drift}]
        if anomalous
        else []
    )
    return {
        "fill": fill,
        "year": 2024,
        "start": 0.0,
        "end": 3.0,
        "anomalous": anomalous,
        "channels": {
            "0": {
                "status": "anomalous" if anomalous else "normal",
                "score": score,
                "events": events,
                "evidence": drift,
                "evidence_by_type": {"drift": drift, "step": 0.1},
            },
            "1": {"status": "dead", "score": 0.0, "events": []},
        },
    }


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """60 fills whose channel 0 has drift evidence 0.3..10; experts say bad above 4."""
    results = tmp_path / "results"
    fills = results / "2024" / "fills"
    fills.mkdir(parents=True)
    store = LabelStore(tmp_path / "results.labels.sqlite")
    for i, drift in enumerate(np.geomspace(0.3, 10, 60)):
        fill = 9000 + i
        (fills / f"{fill}.json").write_text(json.dumps(_result(fill, float(drift))))
        bad = drift > 4
        store.save(2024, fill, 0, "bad" if bad else "good", anomaly_type="drift" if bad else None)
    store.save(2024, 9000, 1, "skipped")
    return results


def test_calibrate_writes_a_file_the_loader_reads(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    written = calibrate(labelled, out)
    loaded = load_calibration(out)
    assert loaded.sha256 == written.sha256 and len(loaded.sha256 or "") == 64
    # 16 bad and 44 good drifts; a good teaches only the drift (the step at 0.1 decided
    # nothing); the skip teaches nothing
    assert loaded.meta["observations"] == 16 + 44
    assert loaded.types["drift"].n_bad == 16 and loaded.types["drift"].n_good == 44
    assert "step" not in loaded.types
    assert loaded.probability("drift", 1.5) < 0.2 < 0.8 < loaded.probability("drift", 8)


def test_apply_calibration_rescores_and_records_the_file(labelled: Path, tmp_path: Path) -> None:
    calibration = calibrate(labelled, tmp_path / "c.json")
    weak, strong = _result(1, 1.5), _result(2, 8.0)
    assert weak["anomalous"]  # uncalibrated: evidence 1.5 is over the threshold
    rescored = apply_calibration(weak, calibration)
    ch = rescored["channels"]["0"]
    assert ch["status"] == "normal" and ch["events"] == [] and ch["score"] < 0.2
    assert rescored["anomalous"] is False
    assert rescored["channels"]["1"] == weak["channels"]["1"]  # dead: untouched
    assert rescored["calibration"] == {
        "file": str(tmp_path / "c.json"),
        "sha256": calibration.sha256,
    }
    assert weak["channels"]["0"]["status"] == "anomalous"  # the input is not modified
    kept = apply_calibration(strong, calibration)["channels"]["0"]
    assert kept["status"] == "anomalous" and kept["events"][0]["score"] > 0.8


def test_apply_without_verdicts_keeps_the_detector(tmp_path: Path) -> None:
    result = _result(1, 1.5)
    rescored = apply_calibration(result, fit([]))
    assert rescored["channels"]["0"]["status"] == "anomalous"
    assert rescored["channels"]["0"]["score"] == pytest.approx(uncalibrated(1.5), abs=1e-6)


def test_the_command(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    labels = tmp_path / "results.labels.sqlite"
    assert (
        main(["calibrate", "--results", str(labelled), "--labels", str(labels), "--out", str(out)])
        == 0
    )
    assert load_calibration(out).types["drift"].n_bad == 16
    with pytest.raises(ValueError, match="not a pltanomaly calibration"):
        load_calibration(labels.parent / "results" / "2024" / "fills" / "9000.json")


def _with_near_misses() -> dict[str, Any]:
    result = _result(1, 1.5)
    result["channels"]["0"]["evidence_by_type"] = {"drift": 1.5, "step": 0.7, "noise": 0.5}
    result["channels"]["0"]["near_misses"] = [
        {"type": "step", "start": 0.5, "end": 3.0, "evidence": 0.7, "below_threshold": True},
        {"type": "noise", "start": 2.0, "end": 2.5, "evidence": 0.5, "below_threshold": True},
    ]
    return result


def test_apply_promotes_a_near_miss_and_drops_an_event() -> None:
    calibration = fit(expert("drift", 4.0, 200) + expert("step", 0.5, 200, seed=1))
    rescored = apply_calibration(_with_near_misses(), calibration)
    ch = rescored["channels"]["0"]
    (event,) = ch["events"]  # the drift at 1.5 dropped, the step at 0.7 promoted
    assert event["type"] == "step" and event["promoted"] is True and event["start"] == 0.5
    assert event["score"] >= 0.5
    assert [m["type"] for m in ch["near_misses"]] == ["noise"]  # no verdict on noise: P < 0.5
    assert ch["status"] == "anomalous" and ch["score"] >= event["score"]
    assert rescored["anomalous"] is True


def test_apply_keeps_near_misses_below_threshold_without_verdicts() -> None:
    result = _with_near_misses()
    rescored = apply_calibration(result, fit([]))
    ch = rescored["channels"]["0"]
    assert [e["type"] for e in ch["events"]] == ["drift"] and "promoted" not in ch["events"][0]
    assert [m["type"] for m in ch["near_misses"]] == ["step", "noise"]
    assert all(m["score"] < 0.5 for m in ch["near_misses"])


def test_apply_drops_events_and_promotes_nothing_when_the_experts_say_so() -> None:
    calibration = fit(expert("drift", 4.0, 200) + expert("step", 4.0, 200, seed=1))
    ch = apply_calibration(_with_near_misses(), calibration)["channels"]["0"]
    assert ch["events"] == [] and ch["status"] == "normal" and ch["score"] < 0.5
    assert len(ch["near_misses"]) == 2
