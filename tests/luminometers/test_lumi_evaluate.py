"""Scoring against the validation log: hand-made counts, the public rule, the real slices."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pltanomaly.cli import main
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.bril import LS_SECONDS
from pltanomaly.luminometers.brilcalc import read_fills
from pltanomaly.luminometers.crosscheck import crosscheck_fill, crosscheck_fills, write_result
from pltanomaly.luminometers.evaluate import (
    evaluate,
    evaluate_against_log,
    format_table,
    public_rule_result,
    score_fill,
)
from pltanomaly.luminometers.validation_log import parse_validation_log, read_validation_log
from tests.luminometers.conftest import DATA, make_fill

NAMES = ["pltzero", "hfoc", "pcc"]


def result_with(events: dict[str, list[tuple[str, str]]]) -> dict:
    return {
        "fill": 7000,
        "luminometers": {
            name: {
                "status": "anomalous" if events.get(name) else "normal",
                "events": [
                    {"type": "dip", "first": a, "last": b, "magnitude": -0.1, "score": 0.9}
                    for a, b in events.get(name, [])
                ],
            }
            for name in NAMES
        },
    }


LOG = parse_validation_log(
    json.dumps(
        [
            {
                "fill": 7000,
                "invalidated_lumisections": [
                    {
                        "beginAt": "300000:101",
                        "endAt": "300000:110",
                        "luminometer": "pltzero",
                        "reason": "dip",
                    },
                    {
                        "beginAt": "300000:1",
                        "endAt": "300000:50",
                        "luminometer": "hfoc",
                        "reason": "previously invalidated",
                    },
                ],
                "missing_lumisections": [
                    {"beginAt": "300000:200", "endAt": "300000:220", "luminometer": "pcc"}
                ],
            }
        ]
    )
)


def test_counts_on_hand_made_events():
    table = make_fill(NAMES, n_ls=300)
    result = result_with(
        {
            "pltzero": [("300000:106", "300000:115"), ("300000:250", "300000:250")],
            "hfoc": [("300000:10", "300000:20")],
            "pcc": [("300000:201", "300000:210")],
        }
    )
    scores = score_fill(table, result, LOG[7000])
    plt = scores["pltzero"]
    assert (plt.tp, plt.fp, plt.fn) == (5, 6, 5)
    assert (plt.ranges_found, plt.ranges, plt.false_events) == (1, 1, 1)
    assert plt.fills_tp == 1
    hfoc = scores["hfoc"]
    assert (hfoc.tp, hfoc.fp, hfoc.ranges, hfoc.false_events) == (0, 0, 0, 0)
    assert hfoc.fills_fp == 1
    assert scores["pcc"].false_events == 0
    evaluation = evaluate({7000: table}, {7000: result}, LOG)
    assert evaluation.total.ranges == 1 and evaluation.fills == 1
    assert evaluation.false_per_100h == pytest.approx(100 / (300 * LS_SECONDS / 3600))


def test_luminometers_the_log_never_names_are_scored_apart():
    table = make_fill([*NAMES, "bcm1fsi"], n_ls=300)
    result = result_with({"pltzero": [("300000:250", "300000:250")]})
    result["luminometers"]["bcm1fsi"] = {
        "status": "anomalous",
        "events": [{"type": "dip", "first": "300000:5", "last": "300000:6", "magnitude": -0.1}],
    }
    evaluation = evaluate({7000: table}, {7000: result}, LOG)
    assert evaluation.named == {"pltzero", "hfoc", "pcc"}
    assert evaluation.total.false_events == 2  # all luminometers: BCM1FSI's dip is false
    assert evaluation.named_total.false_events == 1  # the log never judged BCM1FSI
    assert evaluation.named_false_per_100h == pytest.approx(evaluation.false_per_100h / 2)
    text = format_table({"ours": evaluation})
    assert "ours         named" in text and "it never names bcm1fsi" in text
    assert evaluate({7000: table}, {7000: result}, None).named is None


def test_without_a_log_every_event_is_false():
    table = make_fill(NAMES, n_ls=300)
    result = result_with({"pcc": [("300000:5", "300000:6")]})
    assert evaluate({7000: table}, {7000: result}, None).total.false_events == 1


def test_public_rule_flags_only_outside_its_window():
    table = make_fill(NAMES, n_ls=300)
    table.loc[100:102, "pltzero"] *= 1.2
    table.loc[200, "hfoc"] *= 1.03
    rule = public_rule_result(table, 7000)
    (event,) = rule["luminometers"]["pltzero"]["events"]
    assert (event["first"], event["last"]) == ("300000:101", "300000:103")
    assert not rule["luminometers"]["hfoc"]["events"]


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        ("2016", {(4947, "pltzero"), (4947, "ramses"), (4958, "pcc")}),
        ("2017", {(6392, "pltzero")}),
    ],
)
def test_real_slices_find_the_experts_ranges(year, expected):
    tables = read_fills(sorted(DATA.glob(f"{year}-*.csv.gz"))).tables
    log = read_validation_log(DATA / f"{year}-validation-log.json")
    evaluation = evaluate(tables, crosscheck_fills(tables), log)
    assert evaluation.total.ranges == len(expected)
    assert evaluation.total.ranges_found == len(expected), evaluation.total.missed
    assert evaluation.total.false_events <= 1


def test_command_line_writes_and_scores(tmp_path, capsys):
    csvs = [str(p) for p in sorted(DATA.glob("2017-*.csv.gz"))]
    out = tmp_path / "2017" / "lumi"
    assert main(["lumi-check", *csvs, "--year", "2017", "--out", str(out)]) == 0
    written = json.loads((out / "6392.json").read_text())
    assert written["year"] == 2017
    assert written["luminometers"]["pltzero"]["status"] == "anomalous"
    figures = tmp_path / "eval.json"
    code = main(
        [
            "evaluate-lumi",
            *csvs,
            "--results",
            str(out),
            "--validation-log",
            str(DATA / "2017-validation-log.json"),
            "--json",
            str(figures),
        ]
    )
    assert code == 0
    assert "public rule" in capsys.readouterr().out
    assert json.loads(figures.read_text())["ours"]["total"]["ranges_found"] == 1


def test_command_line_names_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("#run:fill,ls,time\n1:2,3:3,4\n")
    assert main(["lumi-check", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "bad.csv" in capsys.readouterr().err


def test_gap_events_are_data_losses_not_anomalies():
    table = make_fill(NAMES, n_ls=300)
    result = result_with({"pcc": [("300000:5", "300000:6")]})
    result["luminometers"]["pcc"]["events"][0]["type"] = "gap"
    (score,) = [s for n, s in score_fill(table, result, LOG[7000]).items() if n == "pcc"]
    assert (score.events, score.false_events, score.gaps, score.fp) == (0, 0, 1, 0)
    assert evaluate({7000: table}, {7000: result}, None).total.false_events == 0


def test_beam_changes_mark_scans_and_fill_edges_only():
    from pltanomaly.luminometers.evaluate import beam_changes

    lumi = 8000 * np.exp(-np.arange(300) / 2000)
    lumi[100:110] *= np.r_[np.linspace(1, 0.3, 5), np.linspace(0.3, 1, 5)]  # a scan
    values = np.column_stack([lumi * 1.01, lumi, lumi * 0.98])
    values[:, 2][200] = np.nan
    at = beam_changes(values)
    assert at[:3].all() and at[-3:].all()
    assert at[97:113].all()
    assert not at[3:96].any() and not at[115:297].any()


def test_the_years_published_events_are_scored_unless_older_than_a_fill(tmp_path, caplog):
    csvs = sorted(DATA.glob("2017-*.csv.gz"))
    log = DATA / "2017-validation-log.json"
    folder = tmp_path / "2017" / "lumi"
    for fill, table in read_fills(csvs).tables.items():
        write_result(crosscheck_fill(table, fill, 2017), folder)
    computed, _ = evaluate_against_log(folder.parent, log, csvs)
    assert "year-scale.json" in caplog.text, "computed here: said so"
    fill = min(int(p.stem) for p in folder.glob("*.json"))
    added = {"type": "scale", "first": "1:1", "last": "1:2", "start": 0.0, "end": 1.0}
    added.update(magnitude=0.05, score=0.9, against="year")
    year = {"year": 2017, "fills": {str(fill): {"hfoc": added}}, "rejudged": {}}
    write_json_atomic(folder / "year-scale.json", year)
    published, _ = evaluate_against_log(folder.parent, log, csvs)
    assert published.total.events == computed.total.events + 1
    later = (folder / "year-scale.json").stat().st_mtime + 1
    os.utime(folder / f"{fill}.json", (later, later))  # checked again since the aggregation
    assert evaluate_against_log(folder.parent, log, csvs)[0].total.events == computed.total.events
