"""Helpers of the luminometer tests: the real slices and hand-made fills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def real_2016() -> list[Path]:
    return sorted(DATA.glob("2016-*.csv.gz"))


@pytest.fixture
def real_2017() -> list[Path]:
    return sorted(DATA.glob("2017-*.csv.gz"))


def make_fill(
    names: list[str],
    n_ls: int = 600,
    *,
    seed: int = 1,
    noise: float = 0.002,
    offsets: dict[str, float] | None = None,
    run_length: int = 300,
) -> pd.DataFrame:
    """A hand-made fill table: a decaying luminosity seen by ``names`` with their own offsets
    and per-LS noise, runs of ``run_length`` LS starting at run 300000."""
    rng = np.random.default_rng(seed)
    ls_index = np.arange(n_ls)
    lumi = 8000 * np.exp(-ls_index / 2000)
    table = pd.DataFrame(
        {
            "run": 300000 + ls_index // run_length,
            "ls": ls_index % run_length + 1,
            "time": 1.5e9 + 23.31 * ls_index,
            "stable": True,
        }
    )
    for i, name in enumerate(names):
        offset = (offsets or {}).get(name, 1 + 0.01 * (i - 2))
        table[name] = lumi * offset * (1 + noise * rng.standard_normal(n_ls))
    return table
