"""The learning-curve benchmark's logic: the simulated expert, the queue's and random verdicts,
F1 on the test fills; on hand-made results and run small end to end on generated fills."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from pltanomaly.channels.active_learning import (
    RULES,
    LabelledSet,
    channel_confusion,
    expert_verdict,
    format_curve,
    goals,
    learning_curve,
    observations,
    plot_curve,
    queue_verdicts,
    random_verdicts,
    threshold_ceiling,
)
from pltanomaly.channels.regimes import MATRIX, Regime, build, regime_seed, score
from pltanomaly.core.calibrate import Calibration, fit


def hand_made(fills: int, seed: int) -> LabelledSet:
    """Drifts the detector raises at evidence 1-3 that the truth calls normal below 2, and
    near misses that are real steps; channel 3 dead."""
    results: dict[int, dict[str, Any]] = {}
    truth: dict[int, dict[str, Any]] = {}
    for f in range(fills):
        fill = 100 + f
        channels: dict[str, Any] = {}
        truth_channels: dict[str, Any] = {}
        for ch in range(8):
            x = 0.5 + ((ch * 7 + f * 3 + seed) % 11) / 4
            kind = "drift" if ch % 2 else "step"
            if ch == 3:
                channels[str(ch)] = {"status": "dead", "score": 0.0, "events": []}
                truth_channels[str(ch)] = {"status": "dead", "events": []}
                continue
            bad = x >= 2 if kind == "drift" else x >= 0.8
            events = [{"type": kind, "evidence": x, "score": x * x / (1 + x * x)}] if x >= 1 else []
            channels[str(ch)] = {
                "status": "anomalous" if events else "normal",
                "score": min(x * x / (1 + x * x), 1 if events else 0.4999),
                "events": events,
                "evidence_by_type": {kind: x},
            }
            truth_channels[str(ch)] = {
                "status": "anomalous" if bad else "normal",
                "events": [{"type": kind}] if bad else [],
            }
        results[fill] = {"fill": fill, "year": 2022, "channels": channels}
        truth[fill] = {"channels": truth_channels}
    return LabelledSet(2022, results, truth)


def test_expert_answers_from_the_truth_and_is_never_asked_about_dead_channels():
    pool = hand_made(2, 0)
    assert (100, 3) not in pool.live_keys() and len(pool.live_keys()) == 14
    for key in pool.live_keys():
        v = expert_verdict(pool, key)
        assert v.verdict == ("bad" if pool.truth_status(key) == "anomalous" else "good")
        truth = pool.truth[key[0]]["channels"][str(key[1])]["events"]
        assert v.anomaly_type == (truth[0]["type"] if truth else None)
    with pytest.raises(ValueError):
        expert_verdict(pool, (100, 3))


def test_queue_and_random_pick_each_live_channel_once():
    pool = hand_made(4, 0)
    for verdicts in (queue_verdicts(pool, 20), queue_verdicts(pool, 20, batch=5)):
        keys = [v.key for v in verdicts]
        assert len(keys) == 20 == len(set(keys))
        assert set(keys) <= set(pool.live_keys())
    everything = queue_verdicts(pool, 1000)
    assert sorted(v.key for v in everything) == pool.live_keys()
    assert random_verdicts(pool, 10, 1) == random_verdicts(pool, 10, 1)
    assert random_verdicts(pool, 10, 1) != random_verdicts(pool, 10, 2)


def test_verdicts_lift_f1_where_the_detector_is_miscalibrated():
    pool, test = hand_made(6, 0), hand_made(6, 5)
    before = channel_confusion(test, Calibration())
    # the uncalibrated decision is the detector's own status
    assert before == channel_confusion(test, Calibration(), RULES[1])
    verdicts = queue_verdicts(pool, 30)
    after = channel_confusion(test, fit(observations(pool, verdicts)))
    assert after["f1"] is not None and before["f1"] is not None
    assert after["f1"] > before["f1"] + 0.05, (before, after)


def test_learning_curve_table_shape(tmp_path: Path):
    pool, test = hand_made(5, 0), hand_made(4, 3)
    curve = learning_curve(pool, test, (5, 10, 20), random_seeds=(0, 1))
    assert curve.counts == [5, 10, 20] and len(curve.queue_picks) == 20
    for rule in RULES:
        assert 0 <= curve.uncalibrated[rule] <= 1
        for values in (curve.queue[rule], curve.random[rule]):
            assert len(values) == 3 and all(0 <= v <= 1 for v in values)
        assert len(curve.random_runs[rule]) == 2
        assert math.isclose(
            curve.random[rule][0],
            (curve.random_runs[rule][0][0] + curve.random_runs[rule][1][0]) / 2,
        )
    assert set(curve.ceiling) == set(RULES)
    table = format_curve(curve)
    assert table.count("\n| ") == 4 and "\n| 20 | " in table
    assert set(goals(curve)) == set()  # neither 50 nor 100 verdicts were asked
    assert plot_curve(curve, tmp_path / "curve.png").stat().st_size > 1000


def test_small_learning_curve_on_generated_fills(tmp_path: Path):
    base = MATRIX["rough"]
    regime = Regime(base.name, base.normal, 2, 0.3)
    sets = {}
    for use in ("tuning", "evaluation"):
        out = tmp_path / use
        build(out, regime, regime_seed("rough", use), fills=2, jobs=1)
        score(out)
        sets[use] = LabelledSet.load(out)
    curve = learning_curve(sets["tuning"], sets["evaluation"], (3, 8), random_seeds=(0,))
    picks = [v.key for v in curve.queue_picks]
    assert len(picks) == 8 == len(set(picks))
    pool = sets["tuning"]
    assert all(pool.truth_status(k) != "dead" for k in picks)
    for rule in RULES:
        assert all(0 <= v <= 1 for v in curve.queue[rule] + curve.random[rule])
        assert 0 <= curve.uncalibrated[rule] <= 1


def test_expert_tags_the_truth_type_even_without_evidence_of_it():
    pool = hand_made(1, 0)
    key = next(k for k in pool.live_keys() if pool.truth_status(k) == "anomalous")
    fill, ch = key
    pool.truth[fill]["channels"][str(ch)]["events"] = [{"type": "noise"}]
    assert expert_verdict(pool, key).anomaly_type == "noise"
    pool.truth[fill]["channels"][str(ch)]["events"] = [{"type": "noise"}, {"type": "gap"}]
    pool.results[fill]["channels"][str(ch)]["evidence_by_type"]["gap"] = 0.8
    assert expert_verdict(pool, key).anomaly_type == "gap"  # the one with most evidence


def test_threshold_ceiling_is_at_least_the_uncalibrated_f1_and_at_most_one():
    test = hand_made(6, 5)
    for rule in RULES:
        ceiling = threshold_ceiling(test, rule)
        assert channel_confusion(test, Calibration(), rule)["f1"] <= ceiling <= 1.0
    # drifts are bad from evidence 2 and steps from 0.8 in the truth: thresholds separate them
    assert threshold_ceiling(test) == 1.0
    # the applied rule sees only events and near misses: a bad channel with neither is missed
    fill = 100
    test.truth[fill]["channels"]["0"] = {"status": "anomalous", "events": [{"type": "step"}]}
    test.results[fill]["channels"]["0"].update(events=[], evidence_by_type={"step": 0.9})
    assert threshold_ceiling(test) == 1.0 > threshold_ceiling(test, RULES[1])
    test.results[fill]["channels"]["0"]["near_misses"] = [{"type": "step", "evidence": 0.9}]
    assert threshold_ceiling(test, RULES[1]) == 1.0
