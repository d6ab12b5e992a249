"""Fixtures shared by the test folders: small generated fills in the real on-disk layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from pltanomaly.generate import generate_year


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``{root}/22`` with four short 2022 fills and ``{root}/23`` with one 2023 fill
    (generated once per session, ~2 s a fill; anomalies and file faults included)."""
    root = tmp_path_factory.mktemp("source")
    generate_year(root, 2022, n_fills=4, hours=0.25, seed=5)
    generate_year(root, 2023, n_fills=1, hours=0.25, seed=5)
    return root
