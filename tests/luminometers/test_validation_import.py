"""``pltanomaly import-validation``: the experts' log as luminometer verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA

from pltanomaly.cli import main
from pltanomaly.luminometers.brilcalc import read_fills
from pltanomaly.luminometers.crosscheck import crosscheck_fills, write_result
from pltanomaly.luminometers.labels import LumiLabels, LumiVerdict, NewVerdict
from pltanomaly.luminometers.results import LumiResults
from pltanomaly.luminometers.validation_import import import_validation_log
from pltanomaly.luminometers.validation_log import parse_validation_log, read_validation_log
from pltanomaly.review.labels import LabelStore, default_labels_path


def cross_check(results: Path, year: int) -> None:
    tables = read_fills(sorted(DATA.glob(f"{year}-*.csv.gz"))).tables
    for result in crosscheck_fills(tables, year).values():
        write_result(result, results / str(year) / "lumi")


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    cross_check(folder, 2016)
    cross_check(folder, 2017)
    return folder


def labels_of(results: Path) -> LumiLabels:
    return LumiLabels(LabelStore(default_labels_path(results)))


def index(verdicts: list[LumiVerdict]) -> dict[tuple, tuple]:
    return {
        (v.year, v.fill, v.luminometer, v.first, v.last): (v.verdict, v.anomaly_type, v.reason)
        for v in verdicts
    }


def run(log: Path, results: Path) -> None:
    assert main(["import-validation", str(log), "--results", str(results)]) == 0


def test_real_2016_log(results: Path) -> None:
    run(DATA / "2016-validation-log.json", results)
    got = index(labels_of(results).all())
    spike = (2016, 4947, "pltzero", (273725, 1471), (273725, 1473))
    assert got[spike] == ("bad", "spike", "spike")
    assert got[(2016, 4947, "ramses", (273725, 1392), (273725, 1394))][:2] == ("bad", "dip")
    assert got[(2016, 4947, "pltzero", (273725, 1478), (273725, 1479))][0] == "ignore"
    assert got[(2016, 4947, "hfoc", None, None)][0] == "good"  # no invalidation: good
    assert (2016, 4947, "pltzero", None, None) not in got  # invalidated: no whole-fill good
    assert (2016, 4958, "dt", None, None) not in got  # absent in the fill: not judged
    assert {v.source for v in labels_of(results).all()} == {"validation-log"}


def test_real_2017_log_whole_fill_and_open_bounds(results: Path) -> None:
    run(DATA / "2017-validation-log.json", results)
    got = index(labels_of(results).all())
    # "hfet not valid for 5 TeV" over the whole fill: an ignore zone, not truth
    assert got[(2017, 6392, "hfet", None, None)][0] == "ignore"
    # "-1".."306709:76", "jump in dt lumi after emittance scan": truth from the fill's start
    assert got[(2017, 6392, "dt", None, (306709, 76))][:2] == ("bad", "step")
    assert got[(2017, 6392, "pltzero", (306709, 756), (306709, 756))][0] == "bad"
    # bcm1fsi is judged by the log's bcm1f entries: none here, so it is good
    assert got[(2017, 6392, "bcm1fsi", None, None)][0] == "good"


HAND_LOG = [
    {
        "fill": 4958,
        "validated_by": "me",
        "invalidated_lumisections": [
            {"beginAt": "274157:390", "endAt": "274158:12", "luminometer": "pcc", "reason": "dip"},
            {"beginAt": "-1", "endAt": "-1", "luminometer": "hfoc", "reason": "20% low"},
            {
                "beginAt": "274157:300",
                "endAt": "274157:310",
                "luminometer": "bcm1f",
                "reason": "spike",
            },
            {
                "beginAt": "274157:320",
                "endAt": "-1",
                "luminometer": "ramses",
                "reason": "previously invalidated",
            },
        ],
        "missing_lumisections": [
            {"beginAt": "274157:350", "endAt": "274157:351", "luminometer": "pltzero"}
        ],
    }
]


def test_hand_made_log_runs_and_whole_fill(results: Path, tmp_path: Path) -> None:
    result = json.loads((results / "2016/lumi/4958.json").read_text())
    result["luminometers"]["bcm1fsi"] = {"status": "normal", "score": 0.0, "events": []}
    (results / "2016/lumi/4958.json").write_text(json.dumps(result))
    log = tmp_path / "log.json"
    log.write_text(json.dumps(HAND_LOG))
    run(log, results)
    got = index(labels_of(results).all())
    assert got[(2016, 4958, "pcc", (274157, 390), (274158, 12))][:2] == ("bad", "dip")
    assert got[(2016, 4958, "hfoc", None, None)][:2] == ("bad", "scale")
    assert got[(2016, 4958, "bcm1fsi", (274157, 300), (274157, 310))][:2] == ("bad", "spike")
    assert got[(2016, 4958, "ramses", (274157, 320), None)][0] == "ignore"
    assert got[(2016, 4958, "ramses", None, None)][0] == "good"
    assert got[(2016, 4958, "pltzero", None, None)][0] == "good"
    assert got[(2016, 4958, "pltzero", (274157, 350), (274157, 351))][0] == "ignore"
    verdict = next(v for v in labels_of(results).all() if v.luminometer == "pcc")
    assert verdict.covers((274157, 400), (274158, 1)) and not verdict.covers((274158, 1), None)


def test_reimport_is_idempotent_and_keeps_the_experts_verdicts(results: Path) -> None:
    labels = labels_of(results)
    mine = labels.add(2016, 4947, NewVerdict("hfoc", (273725, 1400), (273725, 1401), "bad"))
    run(DATA / "2016-validation-log.json", results)
    first = index(labels.all())
    run(DATA / "2016-validation-log.json", results)
    assert index(labels.all()) == first and len(labels.all()) == len(first)
    assert labels.get(mine.id) == mine
    # a changed log replaces what the log said before
    entries = read_validation_log(DATA / "2016-validation-log.json")
    del entries[4958]
    entries[4947].truth = [r for r in entries[4947].truth if r.luminometer != "pltzero"]
    import_validation_log(entries, labels, LumiResults(results))
    again = index(labels.all())
    assert again[(2016, 4947, "pltzero", None, None)][0] == "good"
    assert (2016, 4947, "pltzero", (273725, 1471), (273725, 1473)) not in again
    assert any(k[1] == 4958 for k in again)  # fills the new log leaves out are left alone


def test_fills_without_a_year_are_skipped_unless_given(results: Path) -> None:
    entries = parse_validation_log(json.dumps([{**HAND_LOG[0], "fill": 9999}]))
    labels = labels_of(results)
    summary = import_validation_log(entries, labels, LumiResults(results))
    assert summary.skipped_fills == [9999] and labels.all() == []
    summary = import_validation_log(entries, labels, LumiResults(results), year=2016)
    assert summary.fills == 1 and summary.counts["bad"] == 3
    # no result: the log's own names, and no whole-fill good (the luminometers are unknown)
    assert {v.luminometer for v in labels.all()} == {"pcc", "hfoc", "bcm1f", "ramses", "pltzero"}
    assert summary.counts["good"] == 0
