"""The DT evaluation's metrics on hand-made records, and one generated run end to end."""

from __future__ import annotations

import numpy as np
import pytest

from pltanomaly.chambers.evaluate import (
    LayerRecord,
    _overlap,
    format_table,
    score_run,
    sensitivity_at,
    size_bin,
    summarise,
)


def test_sensitivity_at_specificity() -> None:
    truth = np.array([False] * 100 + [True] * 4)
    scores = np.r_[np.linspace(0, 0.5, 100), [0.9, 0.49, 0.6, 0.51]]
    # the good layers' 0.99 quantile (higher) is 0.5: three bad layers score above it
    assert sensitivity_at(truth, scores, 0.99) == pytest.approx(0.75)
    assert np.isnan(sensitivity_at(np.zeros(3, bool), np.zeros(3), 0.99))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"type": "inefficient_layer", "magnitude": 0.75}, "efficiency 0.7-0.8"),
        ({"type": "inefficient_layer", "magnitude": 0.95}, "efficiency >0.9"),
        ({"type": "dead_block", "first_wire": 3, "last_wire": 6, "magnitude": 0}, "wires 3.5-7.5"),
        ({"type": "hot_cell", "magnitude": 7.0}, "factor 0-10"),
    ],
)
def test_size_bins(fault: dict, expected: str) -> None:
    assert size_bin(fault) == expected


def test_block_overlap() -> None:
    found = [
        {"type": "hot_cell", "first_wire": 5, "last_wire": 5},
        {"type": "dead_block", "first_wire": 12, "last_wire": 19},
    ]
    assert _overlap(10, 19, found) == pytest.approx(0.8)
    assert _overlap(1, 4, found) == 0.0


def record(faults: list, benign: list, ours: bool, per_cell: float = 50.0) -> LayerRecord:
    r = LayerRecord("1/W0_St1_Sec1", 1, per_cell, faults, benign)
    r.verdicts = {
        "ours": (ours, float(ours)),
        "production": (False, 0.0),
        "zero_fraction": (True, 1.0),
    }
    return r


def test_summary_counts() -> None:
    dead = {"type": "dead_layer", "magnitude": 0.0}
    records = [
        record([dead], [], True),
        record([dead], [], False),
        record([], ["isolated_zero"], True),
        record([], [], False),
        record([], [], True, per_cell=1.0),
    ]
    summary = summarise(records)
    ours = summary["ours"]
    assert summary["bad_layers"] == 2 and summary["layers"] == 4
    assert ours["recall"] == 0.5 and ours["precision"] == 0.5
    assert ours["recall_by_fault"] == {"dead_layer | efficiency 0-0.05": [1, 2]}
    assert ours["false_bad_per_1000"]["isolated_zero"] == [1, 1]
    assert ours["false_bad_per_1000"]["low_statistics"] == [1, 1]
    assert ours["low_statistics_chambers_bad"]["called_bad_without_fault"] == 1


def test_one_generated_run_scores_the_three_methods() -> None:
    records, seconds = score_run(355100, 99)
    assert len(records) == 2720 and seconds > 0
    assert all(set(r.verdicts) == {"ours", "production", "zero_fraction"} for r in records)
    summary = summarise(records)
    summary.update(seed=99, runs=1, detect_seconds={"median": seconds, "max": seconds})
    assert "sensitivity_at_specificity" in format_table(summary)


def test_summary_without_busy_layers() -> None:
    summary = summarise([record([], [], False, per_cell=1.0)])
    assert summary["layers"] == 0 and np.isnan(summary["ours"]["sensitivity_at_specificity"])
