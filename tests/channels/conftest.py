"""Fixtures for the PLT channel family's tests: generated fills and hand-made BRIL files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bril_files import make_records, write_bril

from pltanomaly.channels.generate import generate_year


@pytest.fixture(scope="session")
def generated_year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short generated 2022 fills (with anomalies and file faults)."""
    root = tmp_path_factory.mktemp("generated")
    return generate_year(root, 2022, n_fills=3, hours=0.25, seed=11)


@pytest.fixture
def bril_file(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "8000_356000_2207010000_2207010100.hd5", **kwargs) -> Path:
        records = kwargs.pop("records", None)
        if records is None:
            records = make_records(
                kwargs.pop("n_nb4", 20),
                **{
                    k: kwargs.pop(k)
                    for k in list(kwargs)
                    if k in ("dtype", "channels", "seed", "mu")
                },
            )
        return write_bril(tmp_path / "8000" / name, records, **kwargs)

    return make
