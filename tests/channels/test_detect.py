"""The detector on generated fills: every anomaly type found, common-mode changes and
low-rate noise not flagged, dead channels, scores, settings and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_detect_data import DEAD, YEAR, anomaly_fill, clean_fill

from pltanomaly.channels.detect import (
    DECISION_SCORE,
    DetectorInputError,
    DetectorSettings,
    detect_file,
    detect_fill,
    evidence_score,
)

CONTRACT_TYPES = {"step", "drift", "spike", "dropout", "stuck", "noise", "gap"}


def _check_contract(result: dict, fill: int) -> None:
    assert result["fill"] == fill and result["year"] == YEAR
    assert isinstance(result["start"], float) and result["end"] > result["start"]
    assert set(map(str, range(16))) <= set(result["channels"])
    anomalous = False
    for info in result["channels"].values():
        assert info["status"] in {"normal", "anomalous", "dead"}
        assert 0.0 <= info["score"] <= 1.0
        assert (info["status"] == "anomalous") == bool(info["events"])
        assert (info["score"] >= DECISION_SCORE) == (info["status"] == "anomalous")
        anomalous |= info["status"] == "anomalous"
        for event in info["events"]:
            assert event["type"] in CONTRACT_TYPES
            assert result["start"] <= event["start"] <= event["end"] <= result["end"]
            assert DECISION_SCORE <= event["score"] <= info["score"]
    assert result["anomalous"] == anomalous
    json.dumps(result)  # serialisable as is


@pytest.fixture(scope="module")
def anomalies():
    fill = anomaly_fill()
    return fill, detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD)


def test_result_follows_the_contract(anomalies):
    fill, result = anomalies
    _check_contract(result, fill.fill)


@pytest.mark.parametrize("kind", sorted(CONTRACT_TYPES))
def test_each_anomaly_type_is_found(anomalies, kind):
    fill, result = anomalies
    (injected,) = [e for e in fill.events if e.type == kind]
    info = result["channels"][str(injected.channel)]
    assert info["status"] == "anomalous", info
    overlapping = [
        e
        for e in info["events"]
        if e["start"] <= injected.end + 60 and e["end"] >= injected.start - 60
    ]
    assert overlapping, info["events"]
    best = max(
        overlapping, key=lambda e: min(e["end"], injected.end) - max(e["start"], injected.start)
    )
    assert best["type"] == kind, info["events"]
    # nothing else on that channel
    assert all(e in overlapping for e in info["events"]), info["events"]


def test_step_is_placed_and_sized(anomalies):
    fill, result = anomalies
    (step,) = [e for e in fill.events if e.type == "step"]
    (event,) = result["channels"][str(step.channel)]["events"]
    assert abs(event["start"] - step.start) < 30
    assert event["end"] == result["end"]  # persists to the end of the fill
    assert event["magnitude"] == pytest.approx(-0.05, abs=0.005)


def test_untouched_channels_are_normal(anomalies):
    fill, result = anomalies
    touched = {e.channel for e in fill.events}
    for channel, info in result["channels"].items():
        if int(channel) in DEAD:
            assert info["status"] == "dead"
        elif int(channel) not in touched:
            assert info["status"] == "normal", (channel, info)
    # ranked by score, the anomalous channels come first
    ranked = sorted(result["channels"].items(), key=lambda kv: -kv[1]["score"])
    statuses = [info["status"] for _, info in ranked if info["status"] != "dead"]
    assert statuses == sorted(statuses, key=lambda s: s != "anomalous")


@pytest.mark.parametrize("scale", [1.0, 0.05])
def test_clean_fill_with_scans_and_levelling_gives_no_event(scale):
    fill = clean_fill(scale)
    kinds = {c["type"] for c in fill.common}
    assert {"emittance_scan", "levelling_step", "beam_dump"} <= kinds
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    _check_contract(result, fill.fill)
    assert not result["anomalous"], {
        c: v["events"] for c, v in result["channels"].items() if v["events"]
    }
    for channel, info in result["channels"].items():
        assert info["status"] == ("dead" if int(channel) in DEAD else "normal")


def test_dead_channels_found_without_configuration():
    fill = clean_fill(1.0)
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=())
    for channel in DEAD:
        info = result["channels"][str(channel)]
        assert info["status"] == "dead" and info["score"] == 0.0
        assert info["reason"].startswith("no ")  # no hits, or no usable (non-stuck) rows
    weak = result["channels"]["9"]  # weak is not dead: analysed, with its efficiency
    assert weak["status"] == "normal" and 0.1 < weak["efficiency"] < 0.35
    assert not result["anomalous"]


def test_configured_dead_channel_is_dead_even_with_data():
    fill = clean_fill(1.0)
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=(*DEAD, 3))
    assert result["channels"]["3"]["status"] == "dead"
    assert result["channels"]["3"]["reason"] == "configured dead"


def test_channel_dying_in_the_data_is_dead_not_anomalous():
    fill = clean_fill(1.0)
    series = fill.series.copy()
    series.loc[series["channel"] == 12, "rate"] = 0.0
    series.loc[series["channel"] == 12, "stuck"] = True
    result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    assert result["channels"]["12"]["status"] == "dead"
    assert not result["anomalous"]


def test_score_is_monotone_in_step_size():
    fill = clean_fill(1.0)
    t = fill.series["timestamp"]
    middle = t.min() + 0.5 * (t.max() - t.min())
    scores = []
    for size in (0.002, 0.005, 0.01, 0.02, 0.04, 0.08):
        series = fill.series.copy()
        hit = (series["channel"] == 3) & (series["timestamp"] >= middle)
        series.loc[hit, "rate"] *= 1 - size
        result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
        scores.append(result["channels"]["3"]["score"])
    assert scores == sorted(scores), scores
    assert scores[0] < DECISION_SCORE <= scores[-1]


def test_evidence_score():
    xs = np.linspace(0, 20, 400)
    scores = [evidence_score(x) for x in xs]
    assert scores == sorted(scores)
    assert evidence_score(1.0) == pytest.approx(DECISION_SCORE)
    assert evidence_score(0.0) == 0.0 and evidence_score(np.inf) == 1.0


# ---------------------------------------------------------------- settings


def test_settings_round_trip_and_unknown_keys():
    settings = DetectorSettings.from_mapping({"step_min": 0.03, "gap_min_rows": 4})
    assert settings.step_min == 0.03 and settings.gap_min_rows == 4
    assert DetectorSettings.from_mapping(settings.to_dict()) == settings
    with pytest.raises(ValueError, match=r"unknown detector setting.*step_minimum"):
        DetectorSettings.from_mapping({"step_minimum": 0.03})
    with pytest.raises(ValueError, match="must be a number"):
        DetectorSettings.from_mapping({"step_min": "big"})
    with pytest.raises(ValueError, match="integer"):
        DetectorSettings.from_mapping({"gap_min_rows": 2.5})


def test_settings_change_the_decision():
    fill = anomaly_fill()
    # a 5 % step is below the smallest level change (fast or slow) this expert reports
    larger = {"step_min": 0.2, "drift_min_change": 0.2}
    strict = detect_fill(
        fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD, settings=larger
    )
    assert strict["channels"]["0"]["status"] == "normal"
    assert strict["settings"]["step_min"] == 0.2
    with pytest.raises(DetectorInputError, match=r"fill 9001.*unknown"):
        detect_fill(fill.series, fill=9001, year=YEAR, settings={"nope": 1})


# ---------------------------------------------------------------- bad input


def test_empty_or_columnless_series_is_a_clear_error():
    with pytest.raises(DetectorInputError, match="fill 5: series has no row"):
        detect_fill(pd.DataFrame(columns=["timestamp", "channel", "rate"]), fill=5, year=YEAR)
    with pytest.raises(DetectorInputError, match=r"fill 5: .*lacks column.*rate"):
        detect_fill(pd.DataFrame({"timestamp": [1.0], "channel": [0]}), fill=5, year=YEAR)
    with pytest.raises(DetectorInputError, match="fill 5"):
        detect_fill(
            pd.DataFrame({"timestamp": [np.nan], "channel": [0], "rate": [1.0]}), fill=5, year=YEAR
        )


def test_all_channels_dead():
    fill = clean_fill(1.0)
    series = fill.series.assign(rate=0.0, stuck=True)
    result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    _check_contract(result, fill.fill)
    assert all(v["status"] == "dead" for v in result["channels"].values())
    assert not result["anomalous"] and result["notes"]


@pytest.mark.parametrize("n_live", [1, 2])
def test_one_or_two_live_channels(n_live):
    fill = clean_fill(1.0)
    keep = [0, 1][:n_live]
    series = fill.series[fill.series["channel"].isin(keep)]
    result = detect_fill(series, fill=fill.fill, year=YEAR)
    _check_contract(result, fill.fill)
    assert [c for c, v in result["channels"].items() if v["status"] != "dead"] == list(
        map(str, keep)
    )
    assert any("no reference" in note for note in result["notes"])
    assert not result["anomalous"]


def test_fill_of_a_few_minutes():
    fill = anomaly_fill()
    t0 = fill.series["timestamp"].min()
    for minutes in (0.1, 3, 12):
        series = fill.series[fill.series["timestamp"] < t0 + 60 * minutes]
        result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
        _check_contract(result, fill.fill)


def test_nans_gaps_and_disorder_do_not_crash():
    fill = anomaly_fill()
    rng = np.random.default_rng(3)
    series = fill.series.sample(frac=0.9, random_state=1)  # 10 % rows lost, shuffled
    series = series.astype({"rate": "float64"})
    series.loc[rng.random(len(series)) < 0.05, "rate"] = np.nan
    series.loc[rng.random(len(series)) < 0.01, "rate"] = -1.0
    result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    _check_contract(result, fill.fill)
    # the obvious anomalies survive
    for kind in ("spike", "stuck"):
        (injected,) = [e for e in fill.events if e.type == kind]
        assert result["channels"][str(injected.channel)]["status"] == "anomalous"


def test_series_without_stuck_column():
    fill = clean_fill(1.0)
    result = detect_fill(
        fill.series.drop(columns=["stuck"]), fill=fill.fill, year=YEAR, dead_channels=DEAD
    )
    _check_contract(result, fill.fill)


# ---------------------------------------------------------------- files and CLI


def test_detect_file_and_cli(tmp_path, capsys):
    import argparse

    from pltanomaly.channels import detect

    fill = anomaly_fill()
    out = tmp_path / "fills" / f"{fill.fill}.json"
    result = detect_file(fill.path, out, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert list(out.parent.iterdir()) == [out]  # no temporary file left

    parser = argparse.ArgumentParser()
    detect.register(parser.add_subparsers())
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"detector": {"step_min": 0.03}}))
    out2 = tmp_path / "cli.json"
    args = parser.parse_args(
        [
            "detect",
            str(fill.path),
            str(out2),
            "--fill",
            str(fill.fill),
            "--year",
            str(YEAR),
            "--dead",
            "6,8,9",
            "--settings",
            str(settings),
        ]
    )
    assert args.func(args) == 0
    written = json.loads(out2.read_text())
    assert written["settings"]["step_min"] == 0.03
    assert written["channels"]["9"]["status"] == "dead"
    assert "anomalous channels" in capsys.readouterr().out

    settings.write_text(json.dumps({"step_size": 0.03}))
    args = parser.parse_args(
        [
            "detect",
            str(fill.path),
            str(out2),
            "--fill",
            "1",
            "--year",
            "2022",
            "--settings",
            str(settings),
        ]
    )
    assert args.func(args) == 2
    assert "unknown detector setting" in capsys.readouterr().out


def test_load_settings_from_yaml_and_json(tmp_path):
    from pltanomaly.channels.detect import load_settings

    yaml_path = tmp_path / "config.yaml"
    yaml_path.write_text("detector:\n  step_min: 0.025\n  noise_window_s: 90\n")
    settings = load_settings(yaml_path)
    assert settings.step_min == 0.025 and settings.noise_window_s == 90.0
    json_path = tmp_path / "s.json"
    json_path.write_text(json.dumps({"spike_min": 0.5}))
    assert load_settings(json_path).spike_min == 0.5
    assert load_settings(None) == DetectorSettings()
    json_path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="mapping"):
        load_settings(json_path)


def test_calibration_setting_scores_with_the_experts_verdicts(tmp_path):
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.core.calibrate import Observation, fit

    fill = anomaly_fill()
    # experts called forty clear steps normal: a step is no longer an anomaly
    calibration = tmp_path / "cal.json"
    write_json_atomic(calibration, fit([Observation("step", 6.0, False)] * 40).to_json())
    settings = {"calibration": str(calibration)}
    result = detect_fill(
        fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD, settings=settings
    )
    _check_contract(result, fill.fill)
    assert result["channels"]["0"]["status"] == "normal"  # the 5 % step
    assert result["channels"]["2"]["status"] == "anomalous"  # the spike: no verdict on spikes
    assert result["calibration"]["file"] == str(calibration)
    assert result["settings"]["calibration"] == str(calibration)
    with pytest.raises(DetectorInputError, match="calibration"):
        detect_fill(
            fill.series, fill=1, year=YEAR, settings={"calibration": str(tmp_path / "no.json")}
        )


def _small_step(size: float = 0.005) -> tuple[pd.DataFrame, float]:
    """Channel 3 steps down by ``size`` at the middle of a clean fill: below the threshold."""
    fill = clean_fill(1.0)
    series = fill.series.copy()
    t = series["timestamp"]
    middle = float(t.min() + 0.5 * (t.max() - t.min()))
    hit = (series["channel"] == 3) & (t >= middle)
    series.loc[hit, "rate"] *= 1 - size
    return series, middle


def test_near_misses_are_placed_and_are_not_events(monkeypatch):
    from pltanomaly.channels.detect.score import Findings

    fill = clean_fill(1.0)
    series, middle = _small_step()
    result = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    _check_contract(result, fill.fill)
    info = result["channels"]["3"]
    assert info["status"] == "normal"
    (step,) = [m for m in info["near_misses"] if m["type"] == "step"]
    assert abs(step["start"] - middle) < 60 and step["end"] == result["end"]
    for ch in result["channels"].values():
        if ch["status"] == "dead":
            assert "near_misses" not in ch
            continue
        for near in ch["near_misses"]:
            assert near["below_threshold"] is True and 0.3 <= near["evidence"] < 1
            assert near["evidence"] <= ch["evidence_by_type"][near["type"]]
            assert near["score"] < DECISION_SCORE
            assert result["start"] <= near["start"] <= near["end"] <= result["end"]
    # regression: without the ratio detectors' near misses, status and score are the same
    monkeypatch.setattr(Findings, "add_near", lambda self, channel, candidate: None)
    before = detect_fill(series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    for name, ch in result["channels"].items():
        old = before["channels"][name]
        assert (ch["status"], ch["score"], ch["events"]) == (
            old["status"],
            old["score"],
            old["events"],
        )
        assert ch.get("evidence_by_type") == old.get("evidence_by_type")


def test_a_calibration_promotes_a_near_miss_to_an_event(tmp_path):
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.core.calibrate import Observation, fit

    fill = clean_fill(1.0)
    series, middle = _small_step()
    # experts called small steps (evidence 0.5) bad and the noise floor (0.3) good
    observations = [Observation("step", 0.5, True)] * 30 + [Observation("step", 0.3, False)] * 10
    calibration = tmp_path / "cal.json"
    write_json_atomic(calibration, fit(observations).to_json())
    result = detect_fill(
        series,
        fill=fill.fill,
        year=YEAR,
        dead_channels=DEAD,
        settings={"calibration": str(calibration)},
    )
    _check_contract(result, fill.fill)
    info = result["channels"]["3"]
    assert info["status"] == "anomalous" and result["anomalous"]
    (event,) = [e for e in info["events"] if e["type"] == "step"]
    assert event["promoted"] is True and abs(event["start"] - middle) < 60
    assert all(m["type"] != "step" for m in info["near_misses"])
