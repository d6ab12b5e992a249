"""The evaluation matrix, run small: real generated files, converted and detected, scored
per regime (the full matrix is `make evaluation`)."""

from __future__ import annotations

import json

from pltanomaly.channels.regimes import MATRIX, SEEDS, format_matrix, regime_seed, run_matrix


def test_regimes_have_distinct_tuning_and_evaluation_seeds():
    tuning = {regime_seed(name, "tuning") for name in MATRIX}
    evaluation = {regime_seed(name, "evaluation") for name in MATRIX}
    assert len(tuning) == len(evaluation) == len(MATRIX)
    assert not tuning & evaluation
    assert set(SEEDS) == {"tuning", "evaluation"}
    assert MATRIX["clean-long"].hours >= 6 and not MATRIX["clean-long"].anomalies


def test_small_matrix_end_to_end(tmp_path):
    reports = run_matrix(
        tmp_path, "tuning", regimes=("quiet", "rough", "clean-long"), fills=2, hours=0.4, jobs=1
    )
    assert list(reports) == ["quiet", "rough", "clean-long"]
    for name, report in reports.items():
        assert report["n_fills"] == 2, name
        assert report["dead"]["accuracy"] == 1.0, (name, report["dead"])
        assert report["false_alarms"]["in_scans_or_levelling"] == 0, name
        assert report["false_alarms"]["per_channel_hour"] <= 0.2, name
    clean = reports["clean-long"]
    assert clean["events"]["total"] == 0 and clean["fills_anomalous"] == 0
    table = format_matrix(reports)
    drifts = any(r["events"]["by_type"].get("drift") for r in reports.values())
    assert table.count("\n| quiet |") == 2 + 2 * drifts and "fills called anomalous" in table
    assert ("| regime | drifts at:" in table) == drifts
    assert ("| regime | drifts of lasting change / wander spread:" in table) == drifts
    # built once: a second run reuses the converted fills and gives the same figures
    again = run_matrix(tmp_path, "tuning", regimes=("quiet",), fills=2, hours=0.4, jobs=1)
    assert json.dumps(again["quiet"]["channels"]) == json.dumps(reports["quiet"]["channels"])


def test_drift_regime_injects_drifts_only(tmp_path):
    assert MATRIX["drift-rough"].kinds == ("drift",)
    reports = run_matrix(tmp_path, "tuning", regimes=("drift-rough",), fills=3, hours=0.5, jobs=1)
    events = reports["drift-rough"]["events"]
    assert set(events["by_type"]) == {"drift"} and events["total"] >= 1
    by_contrast = events["drift_by_contrast"]
    assert sum(b["total"] for b in by_contrast.values()) == events["total"]
    assert sum(b["found"] for b in by_contrast.values()) == events["found"]
