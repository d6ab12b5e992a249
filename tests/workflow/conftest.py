"""The workflow's end-to-end fixture: one complete run on generated fills, shared by the
tests (each test that changes something works on its own copy)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from wf_helpers import fill_folders, link_tree, snakemake, write_config

CORRUPT_FILL = 7990
EMPTY_FILL = 7995
DEAD = [6, 8, 9]


@dataclass
class BaseRun:
    workdir: Path
    good: list[int]  # 2022 fills that convert
    spare: Path  # a generated 2022 fill folder not in the source yet
    year2023: list[int]
    result: subprocess.CompletedProcess[str]

    @property
    def fills2022(self) -> list[int]:
        return sorted([*self.good, CORRUPT_FILL, EMPTY_FILL])


def base_config() -> dict:
    return {
        "results": "results",
        "years": {
            2022: {"source": "data/22", "dead_channels": DEAD},
            2023: {"source": "data/23", "dead_channels": DEAD},
        },
    }


def truncated_copy(source: Path, target: Path, fraction: float = 0.4) -> Path:
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


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
