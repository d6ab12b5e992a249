"""Helpers of the condor tests (a module of its own: conftest modules are not importable)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
POOL_SH = HERE / "pool.sh"
RUNS = HERE / ".cache" / "runs"

sys.path.insert(0, str(HERE))
import make_profile  # noqa: E402  (tests/condor is not a package)

SUBMIT_LINE = re.compile(r"HTCondor submit subscription: (\{.*\})\s*$", re.MULTILINE)
SUBMITTED = re.compile(r"submitted to HTCondor Cluster ID (\d+)")


@dataclass
class Pool:
    """A running test pool: its config and a way to run the chroot's condor tools."""

    condor_config: Path
    env: dict[str, str] = field(repr=False)

    def condor(self, *args: str, timeout: float = 60) -> str:
        """Run a condor tool (condor_q, condor_history, ...) against the pool; its stdout."""
        done = subprocess.run(
            ["bash", str(POOL_SH), "condor", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=True,
        )
        return done.stdout

    def history(self, constraint: str, *attributes: str) -> list[list[str]]:
        """Raw ClassAd values (``-af:r``: strings keep their quotes) of finished jobs."""
        out = self.condor("condor_history", "-constraint", constraint, "-af:r", *attributes)
        return [line.split() for line in out.splitlines() if line.strip()]

    def last_cluster(self) -> int:
        """The highest cluster id the schedd handed out so far (0 if none)."""
        out = self.condor("condor_history", "-af", "ClusterId")
        queued = self.condor("condor_q", "-allusers", "-af", "ClusterId")
        ids = [int(x) for x in (out + queued).split()]
        return max(ids, default=0)


def write_profile(workdir: Path) -> Path:
    """The test profile, derived from the lxplus one, for a run in ``workdir``."""
    return make_profile.write_test_profile(
        workdir / "profile",
        jobdir=workdir / "condor-jobs",
        numba_cache=workdir / "numba-cache",
    )


def run_snakemake(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m snakemake ARGS`` with this interpreter (the one the jobs run too)."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (cwd / f"snakemake-{len(list(cwd.glob('snakemake-*.log')))}.log").write_text(
        done.stdout + done.stderr
    )
    return done


def submit_descriptions(log: str) -> list[dict]:
    """The submit descriptions the plugin logged (``--verbose``), as dicts."""
    return [ast.literal_eval(m) for m in SUBMIT_LINE.findall(log)]


def render_submit_file(description: dict) -> str:
    """The submit file the plugin's dict stands for (it hands the dict to htcondor2.Submit)."""
    lines = [f"{key} = {value}" for key, value in description.items()]
    return "\n".join([*lines, "queue", ""])
