"""Running the workflow in a scratch folder and reading what Snakemake planned or ran.

The workflow runs from a snapshot of this checkout (Snakefile, workflow/, src/, config/,
envs/) taken at the first run of a session: the plans the tests compare depend on the code's
hash and the scripts' times, which must not change under a test while someone edits the tree.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
RULE_RE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
WILDCARDS_RE = re.compile(r"^\s*wildcards: (.*)$")

Job = tuple[str, tuple[tuple[str, str], ...]]
SNAPSHOT_PARTS = ("Snakefile", "workflow", "src", "config", "envs")
_snapshot: Path | None = None


def workflow_snapshot() -> Path:
    """A copy of the workflow and package, made once per test session."""
    global _snapshot
    if _snapshot is None:
        target = Path(tempfile.mkdtemp(prefix="pltanomaly-workflow-"))
        atexit.register(shutil.rmtree, target, True)
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
        for name in SNAPSHOT_PARTS:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=ignore)
            else:
                shutil.copy2(source, target / name)
        (target / "numba-cache").mkdir()
        _snapshot = target
    return _snapshot


def fill_folders(year_dir: Path) -> list[Path]:
    """The fill folders of a source year, by fill number."""
    return sorted((p for p in year_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def link_tree(source: Path, target: Path) -> None:
    """Copy a source tree as hard links (cheap; replace a file, never modify it in place)."""
    shutil.copytree(source, target, copy_function=os.link)


def copy_workdir(source: Path, target: Path) -> Path:
    """A copy of a workflow folder after a run: data as hard links, results and Snakemake's
    metadata as copies with their times."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "data":
            link_tree(entry, target / "data")
        elif entry.is_dir():
            shutil.copytree(entry, target / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, target / entry.name)
    return target


def own_copy(path: Path) -> Path:
    """Break a hard link so ``path`` can be changed without touching other copies."""
    data = path.read_bytes()
    stat = path.stat()
    path.unlink()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return path


def write_config(workdir: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(
    workdir: Path,
    *args: str,
    configfiles: Iterable[str | Path] = ("config.yaml",),
    cores: int = 2,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the workflow snapshot on ``workdir``."""
    snapshot = workflow_snapshot()
    command = [SNAKEMAKE, "--snakefile", str(snapshot / "Snakefile")]
    files = [str(workdir / f) for f in configfiles]
    if files:
        command += ["--configfile", *files]
    command += ["--directory", str(workdir), "--cores", str(cores), *args]
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "PLTANOMALY_NUMBA_CACHE": str(snapshot / "numba-cache"),
    }
    return command, env


def snakemake(
    workdir: Path,
    *args: str,
    configfiles: Iterable[str | Path] = ("config.yaml",),
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``snakemake --directory workdir --configfile ... --cores 2 ARGS`` with the venv's
    snakemake; raises with its output when it fails and ``check``."""
    command, env = snakemake_command(workdir, *args, configfiles=configfiles)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-5000:]}\n{result.stderr[-8000:]}"
        )
    return result


def jobs_in(output: str) -> list[Job]:
    """The jobs Snakemake printed (planned with -n, or run): (rule, wildcards)."""
    jobs: list[Job] = []
    rule = None
    for line in output.splitlines():
        match = RULE_RE.match(line)
        if match:
            if rule is not None:
                jobs.append((rule, ()))
            rule = match.group(1)
            continue
        match = WILDCARDS_RE.match(line)
        if match and rule is not None:
            pairs = tuple(tuple(part.strip().split("=", 1)) for part in match.group(1).split(","))
            jobs.append((rule, pairs))  # type: ignore[arg-type]
            rule = None
    if rule is not None:
        jobs.append((rule, ()))
    return jobs


def planned(workdir: Path, *args: str, configfiles=("config.yaml",)) -> set[Job]:
    """What ``snakemake -n`` would run, without the ``all`` target."""
    result = snakemake(workdir, "-n", *args, configfiles=configfiles)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return set()
    return {job for job in jobs_in(text) if job[0] != "all"}


def ran(result: subprocess.CompletedProcess[str]) -> set[Job]:
    return {job for job in jobs_in(result.stdout + result.stderr) if job[0] != "all"}


FILL_RULE = "analyse_fill"
STEPS = ("convert", "detect", "lumi", "plot")


def fill_jobs(year: int, fill: int) -> set[Job]:
    """The job of one fill (all its steps run in it, or are reused)."""
    return {(FILL_RULE, (("year", str(year)), ("fill", str(fill))))}


def steps_ran(workdir: Path, year: int, fills: Iterable[int]) -> dict[int, set[str]]:
    """Per fill, the steps its last job redid (the others it reused), from the job record."""
    ran_steps = {}
    for fill in fills:
        record = workdir / "results" / str(year) / "status" / "fill" / f"{fill}.json"
        steps = json.loads(record.read_text())["steps"]
        assert set(steps) == set(STEPS) and set(steps.values()) <= {"ran", "reused"}
        ran_steps[fill] = {step for step, how in steps.items() if how == "ran"}
    return ran_steps


def aggregate_job(year: int) -> Job:
    return ("aggregate_year", (("year", str(year)),))


def read_logs(workdir: Path, year: int) -> dict[str, Any]:
    return json.loads((workdir / "results" / str(year) / "logs.json").read_text())


def statuses(workdir: Path, year: int) -> dict[int, str]:
    return {int(k): v["status"] for k, v in read_logs(workdir, year)["fills"].items()}


# ------------------------------------------------------------------ the end-to-end scenario

CORRUPT_FILL = 7990
EMPTY_FILL = 7995
DEAD = [6, 8]


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
