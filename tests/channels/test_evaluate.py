"""Evaluation against generator truth, on hand-made truth and results with known figures."""

from __future__ import annotations

import argparse
import json

import pytest

from pltanomaly.channels import evaluate as ev

T0 = 1_650_000_000.0


def _truth(tmp_path):
    truth = {
        "year": 2022,
        "fills": {
            "1": {
                "start": T0,
                "end": T0 + 7200,
                "dead_channels": [6],
                "common": [{"type": "emittance_scan", "start": T0 + 300, "end": T0 + 700}],
                "channels": {
                    "0": {
                        "status": "anomalous",
                        "events": [
                            {
                                "type": "step",
                                "start": T0 + 1000,
                                "end": T0 + 7200,
                                "magnitude": 0.04,
                                "unit": "relative",
                            }
                        ],
                    },
                    "1": {
                        "status": "anomalous",
                        "events": [
                            {
                                "type": "spike",
                                "start": T0 + 2000,
                                "end": T0 + 2003,
                                "magnitude": 4.0,
                                "unit": "factor",
                            }
                        ],
                    },
                    "2": {
                        "status": "anomalous",
                        "events": [
                            {
                                "type": "dropout",
                                "start": T0 + 3000,
                                "end": T0 + 3020,
                                "magnitude": 20.0,
                                "unit": "seconds",
                            }
                        ],
                    },
                    "3": {"status": "normal", "events": []},
                    "4": {"status": "normal", "events": []},
                    "6": {"status": "dead", "events": []},
                },
            }
        },
    }
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    return path


def _event(kind, start, end):
    return {"type": kind, "start": T0 + start, "end": T0 + end, "score": 0.9}


def _results(tmp_path, channels):
    fills = tmp_path / "results" / "fills"
    fills.mkdir(parents=True)
    result = {"fill": 1, "year": 2022, "start": T0, "end": T0 + 7200, "channels": channels}
    (fills / "1.json").write_text(json.dumps(result))
    return tmp_path / "results"


def test_figures(tmp_path):
    truth = _truth(tmp_path)
    results = _results(
        tmp_path,
        {
            # step found (starts 50 s late: within the tolerance), as a drift: wrong type
            "0": {"status": "anomalous", "score": 0.9, "events": [_event("drift", 1050, 7200)]},
            # spike found 40 s after it ended: within 60 s
            "1": {"status": "anomalous", "score": 0.9, "events": [_event("spike", 2043, 2044)]},
            # dropout missed
            "2": {"status": "normal", "score": 0.3, "events": []},
            # a false alarm inside the emittance scan, one outside
            "3": {"status": "anomalous", "score": 0.7, "events": [_event("step", 400, 500)]},
            "4": {"status": "anomalous", "score": 0.6, "events": [_event("noise", 5000, 5100)]},
            # dead channel predicted normal
            "6": {"status": "normal", "score": 0.1, "events": []},
        },
    )
    report = ev.evaluate(truth, results)
    ch = report["channels"]
    assert (ch["tp"], ch["fp"], ch["fn"], ch["tn"]) == (2, 2, 1, 0)
    assert ch["precision"] == pytest.approx(0.5)
    assert ch["recall"] == pytest.approx(2 / 3)
    assert ch["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert report["dead"]["accuracy"] == pytest.approx(5 / 6)
    assert report["dead"]["missed"] == ["1:6"]
    events = report["events"]
    assert (events["found"], events["total"]) == (2, 3)
    assert events["by_type"]["step"]["bins"]["[0.03,0.05)"] == {
        "total": 1,
        "found": 1,
        "recall": 1.0,
    }
    assert events["by_type"]["spike"]["bins"][">=4"]["found"] == 1
    # the goal events (step >= 3 %, spike >= x2, dropout >= 10 s): two of three found
    goal = events["goal"]
    assert [goal[k]["found"] for k in ("step", "spike", "dropout")] == [1, 1, 0]
    assert goal["noise"]["total"] == 0
    assert events["by_type"]["dropout"]["recall"] == 0.0
    assert events["type_accuracy"] == pytest.approx(0.5)
    assert events["confusion"]["step"] == {"drift": 1}
    fa = report["false_alarms"]
    assert fa["count"] == 2 and fa["in_common_mode"] == 1 and fa["in_scans_or_levelling"] == 1
    assert report["fills_anomalous"] == 1
    assert fa["live_channel_hours"] == pytest.approx(5 * 2.0)
    assert fa["per_channel_hour"] == pytest.approx(0.2)
    text = ev.format_evaluation(report)
    assert "F1 0.571" in text and "1 inside common-mode" in text


def test_perfect_results_and_missing_fill(tmp_path):
    truth = _truth(tmp_path)
    results = _results(
        tmp_path,
        {
            "0": {"status": "anomalous", "score": 0.9, "events": [_event("step", 1000, 7200)]},
            "1": {"status": "anomalous", "score": 0.9, "events": [_event("spike", 2000, 2002)]},
            "2": {"status": "anomalous", "score": 0.9, "events": [_event("dropout", 3000, 3020)]},
            "3": {"status": "normal", "score": 0.1, "events": []},
            "4": {"status": "normal", "score": 0.1, "events": []},
            "6": {"status": "dead", "score": 0.0, "events": []},
        },
    )
    data = json.loads(truth.read_text())
    data["fills"]["2"] = data["fills"]["1"]
    truth.write_text(json.dumps(data))
    report = ev.evaluate(truth, results)
    assert report["channels"]["f1"] == 1.0
    assert report["events"]["recall"] == 1.0 and report["events"]["type_accuracy"] == 1.0
    assert report["false_alarms"]["count"] == 0
    assert report["dead"]["accuracy"] == 1.0
    assert report["missing_results"] == [2]


def test_cli(tmp_path, capsys):
    truth = _truth(tmp_path)
    results = _results(tmp_path, {"0": {"status": "normal", "score": 0.1, "events": []}})
    parser = argparse.ArgumentParser()
    ev.register(parser.add_subparsers())
    out = tmp_path / "figures.json"
    args = parser.parse_args(
        ["evaluate", "--truth", str(truth), "--results", str(results), "--json", str(out)]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "anomalous channels: precision" in printed and "false alarms" in printed
    assert json.loads(out.read_text())["n_fills"] == 1
    args = parser.parse_args(["evaluate", "--results", str(tmp_path / "nowhere")])
    assert args.func(args) == 2
    args = parser.parse_args(["evaluate", "--truth", str(truth), "--results", str(tmp_path)])
    assert args.func(args) == 2
    assert "no fills/ folder" in capsys.readouterr().out


def test_labels_without_database(tmp_path, capsys):
    results = _results(tmp_path, {})
    parser = argparse.ArgumentParser()
    ev.register(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--results", str(results), "--labels"])
    assert args.func(args) == 2
    assert "pltanomaly evaluate --labels" in capsys.readouterr().out


def test_drift_goal_is_the_lasting_change_and_recall_is_split_by_position(tmp_path):
    """Drifts from the fill's first minutes, in its middle, to its last minute and over the
    whole of it; the goal counts those of a lasting change >= 3 % over >= 30 min."""
    fill = {"start": T0, "end": T0 + 7200}

    def drift(start, end, per_hour):
        return {"type": "drift", "start": T0 + start, "end": T0 + end, "magnitude": per_hour}

    places = {
        "start": drift(120, 3720, 0.04),  # 4 % over 1 h: goal
        "middle": drift(2000, 3800, 0.04),  # 2 % over 30 min: not goal
        "end": drift(5400, 7200, 0.08),  # 4 % over 30 min: goal
        "whole": drift(0, 7200, 0.02),  # 4 % over 2 h: goal
    }
    for where, event in places.items():
        assert ev.drift_position(event, fill) == where
    assert [ev.GOAL_EVENTS["drift"](e) for e in places.values()] == [True, False, True, True]
    assert ev.drift_change(places["whole"]) == pytest.approx(0.04)
    truth = {
        "year": 2022,
        "fills": {
            "1": {
                **fill,
                "channels": {
                    str(i): {"status": "anomalous", "events": [e]}
                    for i, e in enumerate(places.values())
                },
            }
        },
    }
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    found = {"status": "anomalous", "events": [_event("drift", 5500, 7200)]}
    results = _results(tmp_path, {"0": found | {"events": []}, "2": found})
    at = ev.evaluate(tmp_path / "truth.json", results)["events"]["drift_by_position"]
    assert {k: (v["found"], v["total"]) for k, v in at.items()} == {
        "start": (0, 1),
        "middle": (0, 1),
        "end": (1, 1),
        "whole": (0, 1),
    }
    assert (at["end"]["goal_found"], at["middle"]["goal_total"]) == (1, 0)
    assert "drift recall by position" in ev.format_evaluation(
        ev.evaluate(tmp_path / "truth.json", results)
    )


def test_drift_recall_by_contrast_to_the_channels_own_wander(tmp_path):
    """A drift's lasting change is measured in spreads of what the channel's own wander does
    (sqrt 2 times its stationary spread); truth without a wander has no contrast bin."""
    event = {"type": "drift", "start": T0, "end": T0 + 3600, "magnitude": 0.06}  # 6 %
    sqrt2 = 2.0**0.5
    assert ev.drift_contrast(event, {"wander": 0.03 / sqrt2}) == "<3"  # 2 spreads
    assert ev.drift_contrast(event, {"wander": 0.015 / sqrt2}) == "3-5"  # 4 spreads
    assert ev.drift_contrast(event, {"wander": 0.01 / sqrt2}) == "5-10"  # 6 spreads
    assert ev.drift_contrast(event, {"wander": 0.001}) == ">=10"
    assert ev.drift_contrast(event, {}) is None
    truth = {
        "year": 2022,
        "fills": {
            "1": {
                "start": T0,
                "end": T0 + 7200,
                "channels": {
                    "0": {"status": "anomalous", "events": [event], "wander": 0.001},
                    "1": {"status": "anomalous", "events": [event], "wander": 0.03 / sqrt2},
                    "2": {"status": "anomalous", "events": [event]},
                },
            }
        },
    }
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    found = {"status": "anomalous", "events": [_event("drift", 0, 3600)]}
    report = ev.evaluate(tmp_path / "truth.json", _results(tmp_path, {"0": found}))
    by = report["events"]["drift_by_contrast"]
    assert {k: (v["found"], v["total"]) for k, v in by.items()} == {
        "<3": (0, 1),
        "3-5": (0, 0),
        "5-10": (0, 0),
        ">=10": (1, 1),
    }
    assert "drift recall by contrast" in ev.format_evaluation(report)
