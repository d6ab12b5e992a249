"""The long-format loader, the GUI JSON reader, and the production baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dt_runs import long_rows

from pltanomaly.chambers.generate import generate_run
from pltanomaly.chambers.load import chamber_from_gui, chambers_from_long, load_parquet
from pltanomaly.chambers.production import (
    layer_statistics,
    production_code,
    production_layers,
    zero_fraction_layers,
)
from pltanomaly.core.errors import InputError


def test_parquet_round_trip(tmp_path: Path) -> None:
    chambers, _ = generate_run(1, 1)
    chosen = {k: chambers[k] for k in ("W-2_St1_Sec1", "W0_St4_Sec13", "W1_St3_Sec4")}
    path = tmp_path / "355100.parquet"
    long_rows(chosen).sample(frac=1, random_state=0).to_parquet(path)
    loaded = load_parquet(path)
    assert loaded.keys() == chosen.keys()
    for key, hits in chosen.items():
        np.testing.assert_array_equal(loaded[key], hits)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"chamber": ["W0_St1_Sec1"], "layer": [1], "wire": [1]}), "missing"),
        (
            pd.DataFrame({"chamber": ["W0_St4_Sec20"], "layer": [1], "wire": [1], "count": [3]}),
            "no DT",
        ),
        (
            pd.DataFrame({"chamber": ["W0_St1_Sec1"], "layer": [13], "wire": [1], "count": [3]}),
            "layer",
        ),
    ],
)
def test_bad_rows_are_input_errors(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(InputError, match=message):
        chambers_from_long(frame)


def test_gui_strings_and_unsupported() -> None:
    payload = {"hist": {"bins": {"content": [[1, "nan"], ["inf", -1]]}}}
    got = chamber_from_gui(payload)
    assert got[0, 0] == 1 and np.isnan(got[0, 1]) and np.isinf(got[1, 0]) and got[1, 1] == -1
    with pytest.raises(InputError):
        chamber_from_gui({"hist": "unsupported type"})


@pytest.mark.parametrize(
    ("dead", "code"), [(0, 0), (5, 0), (11, 1), (26, 2), (51, 3), (70, 4), (80, 4)]
)
def test_production_code_follows_the_live_fraction(dead: int, code: int) -> None:
    hits = np.full((9, 10), 5.0)
    hits[8, :] = -1.0
    hits.ravel()[:dead] = 0.0
    assert production_code(hits) == code


def test_layer_rules_and_statistics() -> None:
    hits = np.full((12, 50), 200.0)
    hits[2, 10:20] = 0.0
    hits[4, 3] = 0.0
    production = production_layers(hits, tuple(range(1, 13)))
    zero = zero_fraction_layers(hits, tuple(range(1, 13)))
    assert production[3] == (True, pytest.approx(0.2))
    assert not production[5][0] and production[5][1] == pytest.approx(0.02)
    assert zero[3][0] and not zero[5][0]
    assert layer_statistics(hits[2]) == {"dead_fraction": 0.2, "longest_zero_run": 10}
    poor = np.full((12, 50), 1.0)
    poor[0] = 0.0
    assert not production_layers(poor, (1,))[1][0]
    assert zero_fraction_layers(poor, (1,))[1][0]
