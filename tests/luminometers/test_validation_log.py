"""The experts' validation log: both file forms, -1 bounds, ranges across runs, reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pltanomaly.luminometers.validation_log import (
    ValidationLogError,
    classify_reason,
    parse_validation_log,
    read_validation_log,
)
from tests.luminometers.conftest import DATA

ENTRY = {
    "fill": 7000,
    "general_comments": "scan\n",
    "invalidated_lumisections": [
        {"beginAt": "-1", "endAt": "-1", "luminometer": "dt", "reason": "Very high"},
        {"beginAt": "500:90", "endAt": "501:3", "luminometer": "pltzero", "reason": "dip"},
        {"beginAt": "501:50", "endAt": "-1", "luminometer": "hfoc", "reason": "drift"},
        {
            "beginAt": "-1",
            "endAt": "-1",
            "luminometer": "hfet",
            "reason": "hfet not valid for 5 TeV",
        },
    ],
    "missing_lumisections": [{"beginAt": "500:10", "endAt": "500:12", "luminometer": "pcc"}],
    "validated_by": "someone",
}


def fill_ls() -> tuple[np.ndarray, np.ndarray]:
    return np.array([500] * 100 + [501] * 100), np.r_[np.arange(1, 101), np.arange(1, 101)]


def test_list_and_line_forms_give_the_same_entries():
    as_list = parse_validation_log(json.dumps([ENTRY, {**ENTRY, "fill": 7001}]))
    as_lines = parse_validation_log(
        "[\n" + json.dumps(ENTRY) + ",\n" + json.dumps({**ENTRY, "fill": 7001}) + "\n]\n"
    )
    assert sorted(as_list) == sorted(as_lines) == [7000, 7001]
    assert as_list[7000].truth == as_lines[7000].truth


def test_whole_fill_and_open_ended_ranges_and_ranges_across_runs():
    entry = parse_validation_log(json.dumps([ENTRY]))[7000]
    run, ls = fill_ls()
    by_name = {r.luminometer: r for r in entry.truth}
    assert by_name["dt"].mask(run, ls).all()
    assert by_name["dt"].category == "scale"
    crossing = by_name["pltzero"].mask(run, ls)
    assert crossing.sum() == 11 + 3
    assert crossing[89] and not crossing[88] and crossing[102] and not crossing[103]
    tail = by_name["hfoc"].mask(run, ls)
    assert tail.sum() == 51 and tail[-1]


def test_missing_and_non_anomalies_are_ignore_zones():
    entry = parse_validation_log(json.dumps([ENTRY]))[7000]
    assert {r.luminometer for r in entry.truth} == {"dt", "pltzero", "hfoc"}
    assert {(r.luminometer, r.category) for r in entry.ignore} == {
        ("hfet", "not_valid"),
        ("pcc", "missing"),
    }


@pytest.mark.parametrize(
    ("reason", "truth"),
    [
        ("absent", False),
        ("previously invalidated", False),
        ("5TeV", False),
        ("plt hv scan", False),
        ("jump in dt lumi after emittance scan", True),
        ("20% low", True),
        ("wavy", True),
        ("jumpy", True),
        ("Glitch at start of run", True),
        ("something odd", True),
    ],
)
def test_reason_classification(reason, truth):
    assert classify_reason(reason)[0] is truth


def test_real_log_lines_are_read():
    entries = read_validation_log(DATA / "2016-validation-log.json")
    assert sorted(entries) == [4947, 4958]
    reasons = {(r.luminometer, r.reason) for r in entries[4947].truth}
    assert ("pltzero", "spike") in reasons and ("ramses", "drop") in reasons


def test_bad_bound_raises():
    bad = {
        **ENTRY,
        "invalidated_lumisections": [{"beginAt": "x", "endAt": "-1", "luminometer": "dt"}],
    }
    with pytest.raises(ValidationLogError, match="bound 'x'"):
        parse_validation_log(json.dumps([bad]), "log.json")
