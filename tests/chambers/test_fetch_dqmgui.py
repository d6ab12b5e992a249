"""Parsing and validating one chamber's DQM GUI answer (no network)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from dqmgui_server import occupancy

from pltanomaly.chambers.dqmgui import DqmAnswerError, parse_answer
from pltanomaly.chambers.generate import gui_json
from pltanomaly.chambers.geometry import CHAMBERS, Chamber, wires
from pltanomaly.core.errors import InputError

RUN = 1
URL = "http://127.0.0.1:1/dqm/online/jsonfairy/archive/1/x"
MB1 = Chamber(0, 1, 3)
MB4 = Chamber(-2, 4, 13)


def counts_of(chamber: Chamber, seed: int = 3) -> np.ndarray:
    return occupancy(chamber, np.random.default_rng(seed))


def body(answer: object) -> bytes:
    return json.dumps(answer).encode()


def content_answer(chamber: Chamber, content: list) -> bytes:
    answer = gui_json(RUN, chamber, counts_of(chamber))
    answer["hist"]["bins"]["content"] = content
    return body(answer)


def rejected(raw: bytes | str, chamber: Chamber = MB1) -> DqmAnswerError:
    with pytest.raises(DqmAnswerError) as caught:
        parse_answer(raw, chamber, URL)
    return caught.value


@pytest.mark.parametrize("chamber", [MB1, MB4, Chamber(1, 3, 4), Chamber(2, 4, 9)])
def test_an_answer_gives_back_the_served_counts(chamber: Chamber) -> None:
    counts = counts_of(chamber)
    got = parse_answer(body(gui_json(RUN, chamber, counts)), chamber, URL)
    assert got.chamber == chamber
    np.testing.assert_array_equal(got.counts, counts)
    for layer in range(1, 13):
        assert got.cells[layer - 1].sum() == wires(chamber, layer)


def test_entries_are_recomputed_from_the_cells_and_the_gui_figure_kept() -> None:
    counts = counts_of(MB4)
    answer = gui_json(RUN, MB4, counts)
    got = parse_answer(body(answer), MB4, URL)
    assert got.entries == counts[counts >= 0].sum()
    assert got.gui_entries == answer["hist"]["stats"]["entries"]
    assert got.gui_entries == got.entries + (counts == -1).sum()


def test_missing_gui_entries_are_none() -> None:
    answer = gui_json(RUN, MB1, counts_of(MB1))
    del answer["hist"]["stats"]
    assert parse_answer(body(answer), MB1, URL).gui_entries is None


def test_mb4_theta_rows_of_zeros_are_not_cells_but_hits_there_are_an_error() -> None:
    counts = counts_of(MB4)
    counts[4:8] = 0
    got = parse_answer(body(gui_json(RUN, MB4, counts)), MB4, URL)
    assert not got.cells[4:8].any()
    assert (got.counts[4:8] == -1).all()
    counts[5, 3] = 7
    error = rejected(body(gui_json(RUN, MB4, counts)), MB4)
    assert error.kind == "invalid" and "do not exist" in str(error)


@pytest.mark.parametrize("spelled", ["nan", "inf", "-inf"])
def test_a_non_finite_count_invalidates_the_chamber(spelled: str) -> None:
    counts = counts_of(MB1)
    counts[8, 10] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[spelled]
    raw = body(gui_json(RUN, MB1, counts))
    assert f'"{spelled}"' in raw.decode()
    error = rejected(raw)
    assert error.kind == "invalid"
    assert "layer 9, wire 11" in str(error)


def test_errors_are_input_errors_naming_url_and_chamber() -> None:
    error = rejected(b'{"hist": "unsupported type"}')
    assert isinstance(error, InputError)
    assert error.kind == "unsupported"
    assert URL in str(error) and MB1.key in str(error)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"", "absent"),
        (b"  \n", "absent"),
        (b"{}", "absent"),
        (b'{"other": 1}', "absent"),
        (b"[1, 2]", "invalid"),
        (b'{"hist": {"type": "TH1F", "bins": {"content": [1, 2]}}}', "invalid"),
        (b'{"hist": {"type": "TH2F"}}', "invalid"),
        (b'{"hist": 3}', "invalid"),
        (b"<html>Service Unavailable</html>", "bad_json"),
    ],
)
def test_answers_without_a_usable_histogram(raw: bytes, kind: str) -> None:
    assert rejected(raw).kind == kind


def test_a_truncated_body_is_bad_json() -> None:
    raw = body(gui_json(RUN, MB1, counts_of(MB1)))
    error = rejected(raw[: len(raw) // 3])
    assert error.kind == "bad_json" and "truncated" in str(error)


def rows(n_layers: int, n_wires: int, value: object = 1) -> list:
    return [[value] * n_wires for _ in range(n_layers)]


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (rows(8, 50), "8 layer rows"),
        (rows(13, 50), "13 layer rows"),
        ([*rows(11, 50), [1] * 49], "one width"),
        (rows(12, 0), "one width"),
        ([*rows(11, 50), 5], "not a list"),
        (rows(12, 50, -2), "negative"),
        (rows(12, 50, -0.5), "negative"),
        (rows(12, 50, True), "bool"),
        (rows(12, 50, None), "NoneType"),
        (rows(12, 50, {"v": 1}), "dict"),
        (rows(12, 50, "12"), "not a number"),
        (rows(12, 50, "NaN "), "not a number"),
    ],
)
def test_malformed_content_is_invalid(content: list, what: str) -> None:
    error = rejected(content_answer(MB1, content))
    assert error.kind == "invalid"
    assert what in str(error)


def test_padding_and_fractional_counts_are_accepted() -> None:
    content = rows(12, 50, 2.5)
    content[3][49] = -1
    got = parse_answer(content_answer(MB1, content), MB1, URL)
    assert not got.cells[3, 49] and got.cells.sum() == 12 * 50 - 1
    assert got.entries == 2.5 * (12 * 50 - 1)


def test_wrong_gui_entries_are_invalid() -> None:
    answer = gui_json(RUN, MB1, counts_of(MB1))
    answer["hist"]["stats"]["entries"] = "many"
    assert rejected(body(answer)).kind == "invalid"


def test_every_chamber_round_trips() -> None:
    rng = np.random.default_rng(0)
    for chamber in CHAMBERS:
        counts = occupancy(chamber, rng)
        got = parse_answer(body(gui_json(RUN, chamber, counts)), chamber, URL)
        assert got.cells.sum() == sum(wires(chamber, layer) for layer in chamber.layers)
