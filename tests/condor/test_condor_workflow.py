"""The real workflow on generated fills through the (derived) lxplus profile on the test pool.

Runs the repository's Snakefile twice on the same fills, once locally (``--cores 2``) and once
on the pool (``--profile``, derived from profiles/lxplus-condor), and checks: same results,
fills grouped as the profile says (``group-components``) and spread over more than one slot,
a corrupt fill reported failed without stopping the others, and a rerun that submits nothing.
Skips, saying why, while the workflow (a Snakefile at the repository root) is not there.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_profile
from condor_helpers import RUNS, SUBMITTED, Pool, run_snakemake, submit_descriptions

pytestmark = [pytest.mark.condor, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
YEAR = 2022
N_GOOD = 5
HOURS = 0.3
CORRUPT_FILL = 7999


@dataclass
class Runs:
    root: Path
    local: Path  # results folder of the local run
    condor: Path  # results folder of the pool run
    condor_log: str
    first_cluster: int
    fills: list[int]
    rerun_log: str
    rerun_returncode: int


def _config(path: Path, results: Path, source: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "results": str(results),
                "years": {YEAR: {"source": str(source), "dead_channels": [6, 8]}},
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def runs(condor_pool: Pool, request: pytest.FixtureRequest) -> Iterator[Runs]:
    if not SNAKEFILE.exists():
        pytest.skip(f"the workflow is not there yet: no {SNAKEFILE}")
    from pltanomaly.channels.generate import generate_year

    RUNS.mkdir(parents=True, exist_ok=True)
    root = RUNS / "workflow-e2e"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    clock = time.perf_counter()
    year_dir = generate_year(root / "data", YEAR, N_GOOD, HOURS, seed=7)
    # a fill whose only file is not HDF5 at all
    corrupt = year_dir / str(CORRUPT_FILL)
    corrupt.mkdir()
    (corrupt / f"{CORRUPT_FILL}_355999_2207100000_2207100018.hd5").write_bytes(
        bytes(range(256)) * 400
    )
    fills = sorted(int(p.name) for p in year_dir.iterdir() if p.is_dir())
    assert len(fills) == N_GOOD + 1

    # one numba cache for both runs and all jobs, as the lxplus profile recommends
    numba_cache = RUNS.parent / "numba-cache"
    env_local = dict(condor_pool.env, PLTANOMALY_NUMBA_CACHE=str(numba_cache))

    timings = {"generate": time.perf_counter() - clock}
    local_results = root / "results-local"
    cfg_local = _config(root / "config-local.json", local_results, year_dir)
    base = ["--snakefile", str(SNAKEFILE)]
    clock = time.perf_counter()
    done = run_snakemake(
        [*base, "--directory", str(root / "local"), "--configfile", str(cfg_local), "--cores", "2"],
        cwd=root,
        env=env_local,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    timings["local run"] = time.perf_counter() - clock

    condor_results = root / "results-condor"
    cfg_condor = _config(root / "config-condor.json", condor_results, year_dir)
    profile = make_profile.write_test_profile(
        root / "profile", jobdir=root / "condor-jobs", numba_cache=numba_cache
    )
    args = [
        *base,
        "--directory",
        str(root / "condor"),
        "--configfile",
        str(cfg_condor),
        "--profile",
        str(profile),
        "--verbose",
    ]
    first_cluster = condor_pool.last_cluster()
    clock = time.perf_counter()
    done = run_snakemake(args, cwd=root, env=condor_pool.env)
    condor_log = done.stdout + done.stderr
    assert done.returncode == 0, condor_log[-4000:]
    timings["pool run"] = time.perf_counter() - clock

    clock = time.perf_counter()
    again = run_snakemake(args, cwd=root, env=condor_pool.env)
    timings["pool rerun"] = time.perf_counter() - clock
    print(", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), file=sys.stderr)

    failed_before = request.session.testsfailed
    yield Runs(
        root=root,
        local=local_results / str(YEAR),
        condor=condor_results / str(YEAR),
        condor_log=condor_log,
        first_cluster=first_cluster,
        fills=fills,
        rerun_log=again.stdout + again.stderr,
        rerun_returncode=again.returncode,
    )
    if request.session.testsfailed == failed_before:
        shutil.rmtree(root, ignore_errors=True)


def test_pool_results_equal_local_results(runs: Runs) -> None:
    good = [f for f in runs.fills if f != CORRUPT_FILL]
    for fill in good:
        local = json.loads((runs.local / "fills" / f"{fill}.json").read_text())
        pool = json.loads((runs.condor / "fills" / f"{fill}.json").read_text())
        assert pool == local, fill
    import pandas as pd

    local = pd.read_parquet(runs.local / "report.parquet").sort_values("fill")
    pool = pd.read_parquet(runs.condor / "report.parquet").sort_values("fill")
    pd.testing.assert_frame_equal(pool.reset_index(drop=True), local.reset_index(drop=True))
    assert sorted(p.name for p in (runs.condor / "plots").glob("*.png")) == sorted(
        p.name for p in (runs.local / "plots").glob("*.png")
    )


def test_corrupt_fill_failed_and_the_others_done(runs: Runs) -> None:
    logs = json.loads((runs.condor / "logs.json").read_text())
    status = {int(k): v["status"] for k, v in logs["fills"].items()}
    assert status.pop(CORRUPT_FILL) == "failed"
    assert "not a readable HDF5 file" in logs["fills"][str(CORRUPT_FILL)]["reason"]
    assert status == {f: "ok" for f in runs.fills if f != CORRUPT_FILL}


def test_fills_grouped_as_configured_and_spread_over_slots(runs: Runs, condor_pool: Pool) -> None:
    per_job = make_profile.load_lxplus_profile()["group-components"]["fill"]
    descriptions = submit_descriptions(runs.condor_log)
    clusters = [int(c) for c in SUBMITTED.findall(runs.condor_log)]
    # aggregate_year is a local rule: every batch job is a "fill" group job
    assert len(descriptions) == len(clusters) == math.ceil(len(runs.fills) / per_job)
    grouped = []
    for description in descriptions:
        args = description["arguments"]
        assert description["batch_name"].startswith("fill_analyse_fill")
        assert description["+JobFlavour"] == '"microcentury"'
        assert description["request_cpus"] == "2"
        assert description["getenv"] == "True"
        targets = re.search(r"--target-jobs (.*?) --allowed-rules", args).group(1).split()
        fills = {int(m) for m in re.findall(r"fill=(\d+)", " ".join(targets))}
        rules = {t.split(":")[0] for t in targets}
        assert rules == {"analyse_fill"}
        assert len(targets) == len(fills)
        grouped.append(fills)
    full, rest = divmod(len(runs.fills), per_job)
    assert sorted(len(g) for g in grouped) == sorted([per_job] * full + ([rest] if rest else []))
    assert set().union(*grouped) == set(runs.fills)

    ads = condor_pool.history(
        f"ClusterId > {runs.first_cluster}", "ClusterId", "LastRemoteHost", "ExitCode"
    )
    assert sorted(int(a[0]) for a in ads) == sorted(clusters)
    assert all(a[2] == "0" for a in ads), ads
    slots = {a[1] for a in ads}
    assert len(slots) > 1, f"all batch jobs ran in one slot: {slots}"


def test_rerun_submits_nothing(runs: Runs, condor_pool: Pool) -> None:
    assert runs.rerun_returncode == 0, runs.rerun_log[-4000:]
    assert "Nothing to be done" in runs.rerun_log
    assert not SUBMITTED.search(runs.rerun_log)
    clusters = [int(c) for c in SUBMITTED.findall(runs.condor_log)]
    assert condor_pool.last_cluster() == max(clusters)
