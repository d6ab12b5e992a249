"""The workflow's end-to-end fixture: one complete run on generated fills, shared by the
tests (each test that changes something works on its own copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
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


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory, source_tree: Path) -> BaseRun:
    """Three good 2022 fills, a corrupt one (a truncated file), an empty one, and a 2023
    fill, processed by ``snakemake --cores 2``."""
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
