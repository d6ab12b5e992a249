"""Fixtures shared by the test folders: small generated fills in the real on-disk layout, and
the workflow tests' end-to-end run.

Only fixtures here: test modules import helpers from uniquely named modules (``wf_helpers``),
never from ``conftest``, a name every test folder's conftest shares."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from pltanomaly.channels.generate import generate_year


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``{root}/22`` with four short 2022 fills and ``{root}/23`` with one 2023 fill
    (generated once per session, ~2 s a fill; anomalies and file faults included)."""
    root = tmp_path_factory.mktemp("source")
    generate_year(root, 2022, n_fills=4, hours=0.25, seed=5)
    generate_year(root, 2023, n_fills=1, hours=0.25, seed=5)
    return root


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory, source_tree: Path) -> Any:
    """Three good 2022 fills, a corrupt one (a truncated file), an empty one, and a 2023
    fill, processed by ``snakemake --cores 2`` (the workflow tests' shared scenario)."""
    helpers = str(Path(__file__).parent / "workflow")
    if helpers not in sys.path:
        sys.path.insert(0, helpers)
    from wf_helpers import (
        CORRUPT_FILL,
        EMPTY_FILL,
        BaseRun,
        base_config,
        fill_folders,
        link_tree,
        snakemake,
        truncated_copy,
        write_config,
    )

    workdir = tmp_path_factory.mktemp("base")
    folders = fill_folders(source_tree / "22")
    good, spare = folders[:3], folders[3]
    data = workdir / "data"
    for folder in good:
        link_tree(folder, data / "22" / folder.name)
    link_tree(source_tree / "23", data / "23")
    (data / "23" / "truth.json").unlink()
    first = sorted(good[0].glob("*.hd5"))[0]
    truncated_copy(
        first, data / "22" / str(CORRUPT_FILL) / f"{CORRUPT_FILL}_355999_2207100000_2207100030.hd5"
    )
    (data / "22" / str(EMPTY_FILL)).mkdir()
    write_config(workdir, base_config())
    result = snakemake(workdir)
    shutil.rmtree(workdir / ".snakemake" / "log", ignore_errors=True)
    return BaseRun(
        workdir=workdir,
        good=[int(p.name) for p in good],
        spare=spare,
        year2023=[int(p.name) for p in fill_folders(data / "23")],
        result=result,
    )
