"""The DT family end to end: the real ``snakemake`` on a config with only ``dt:``, fetching from
a loopback DQM GUI serving two generated runs (one with chambers the GUI fails to serve) and
asked for a third it does not know; then a second run that fetches only what was not final."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from pltanomaly.chambers.generate import generate_run
from pltanomaly.chambers.geometry import chamber_from_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from dqmgui_server import DqmGuiServer
from wf_helpers import jobs_in, snakemake, write_config

pytestmark = pytest.mark.slow

SEED = 22
"""Both runs are collisions with hundreds of hits per cell: most chambers are judged."""
GOOD_RUN, PARTIAL_RUN, UNKNOWN_RUN = 355100, 355101, 355102
FAILING = ("W0_St1_Sec1", "W1_St2_Sec5", "W-2_St4_Sec13")
"""Chambers of PARTIAL_RUN the GUI answers 404 the first time it is asked."""


def _served(run: int) -> dict:
    chambers, _ = generate_run(run, SEED, fault_rate=0.02)
    return {chamber_from_key(key): hits for key, hits in chambers.items()}


def _jobs(result) -> set[tuple[str, str]]:
    return {
        (rule, dict(wildcards)["run"])
        for rule, wildcards in jobs_in(result.stdout + result.stderr)
        if rule.startswith("dt_") and rule != "dt_report"
    }


def _requests(server: DqmGuiServer, run: int) -> int:
    return sum(n for path, n in server.requests.items() if f"/archive/{run}/" in path)


@pytest.fixture(scope="module")
def served() -> dict:
    return {GOOD_RUN: _served(GOOD_RUN), PARTIAL_RUN: _served(PARTIAL_RUN)}


def test_dt_workflow_fetches_detects_plots_and_refetches_only_what_is_not_final(
    tmp_path: Path, served: dict
) -> None:
    with DqmGuiServer(served, lifetime=120) as server:
        for key in FAILING:
            server.script(PARTIAL_RUN, chamber_from_key(key), "404")
        config = {
            "results": "results",
            "dt": {"dqmgui": server.base_url, "runs": [f"{GOOD_RUN}-{UNKNOWN_RUN}"]},
        }
        write_config(tmp_path, config)
        first = snakemake(tmp_path, "--replace-workflow-config")
        runs = (GOOD_RUN, PARTIAL_RUN, UNKNOWN_RUN)
        assert _jobs(first) == {
            (rule, str(run)) for rule in ("dt_fetch", "dt_detect", "dt_plot") for run in runs
        }
        dt = tmp_path / "results" / "dt"
        results = {run: json.loads((dt / f"{run}.json").read_text()) for run in runs}

        good = results[GOOD_RUN]
        assert good["status"] == "finished" and good["fetch"]["status"] == "finished"
        assert len(good["chambers"]) == 250
        bad = sorted(k for k, c in good["chambers"].items() if c["status"] == "bad")
        assert bad, "the generated faults should give bad chambers"
        assert sorted(p.name for p in (dt / "plots" / str(GOOD_RUN)).glob("*.png")) == [
            f"{key}.png" for key in bad
        ]

        partial = results[PARTIAL_RUN]
        assert partial["status"] == partial["fetch"]["status"] == "partial"
        for key in FAILING:
            assert partial["chambers"][key]["status"] == "not_judged"
            assert partial["chambers"][key]["reason"] == "not fetched (not_found 404)"
        judged = [c for c in partial["chambers"].values() if c["status"] in ("good", "bad")]
        assert len(judged) > 200

        unknown = results[UNKNOWN_RUN]
        assert unknown["status"] == "error" and "no run 355102" in unknown["reason"]
        for run in runs:
            assert (dt / "plots" / f"{run}.png").stat().st_size > 10_000

        report = pd.read_parquet(dt / "report.parquet").set_index("run")
        assert report["status"].to_dict() == {
            GOOD_RUN: "finished",
            PARTIAL_RUN: "partial",
            UNKNOWN_RUN: "unknown_run",
        }
        assert report.loc[PARTIAL_RUN, "n_missing"] == len(FAILING)
        assert report.loc[GOOD_RUN, "n_bad"] == len(bad)
        assert report.loc[GOOD_RUN, "bad_chambers"] == ",".join(bad)
        assert report.loc[UNKNOWN_RUN, "n_judged"] == 0
        logs = json.loads((dt / "logs.json").read_text())
        assert logs["counts"] == {"finished": 1, "partial": 1, "unknown_run": 1}
        partial_log = logs["runs"][str(PARTIAL_RUN)]
        assert set(partial_log["steps"]["fetch"]["failures"]) == set(FAILING)
        assert all(partial_log["seconds"][step] is not None for step in ("fetch", "detect"))
        assert logs["runs"][str(GOOD_RUN)]["chamber_plots"] == [f"{key}.png" for key in bad]

        asked = {run: _requests(server, run) for run in runs}
        second = snakemake(tmp_path, "--replace-workflow-config")
        again = {run: _requests(server, run) - asked[run] for run in runs}

    # the finished run is left alone; the partial one (now served whole) and the unknown
    # one are fetched again, detected and plotted again
    assert again == {GOOD_RUN: 0, PARTIAL_RUN: 250, UNKNOWN_RUN: 250}
    assert _jobs(second) == {
        (rule, str(run))
        for rule in ("dt_fetch", "dt_detect", "dt_plot")
        for run in (PARTIAL_RUN, UNKNOWN_RUN)
    }
    report = pd.read_parquet(dt / "report.parquet").set_index("run")
    assert report.loc[PARTIAL_RUN, "status"] == "finished"
    assert report.loc[PARTIAL_RUN, "n_missing"] == 0
    assert json.loads((dt / f"{PARTIAL_RUN}.json").read_text())["fetch"]["status"] == "finished"

    # a detector setting redoes detection and plots of every run, fetches only the unknown run
    config["dt"]["detector"] = {"spreads": 5.0}
    write_config(tmp_path, config)
    planned = snakemake(tmp_path, "-n", "--replace-workflow-config")
    assert _jobs(planned) == {
        (rule, str(run)) for rule in ("dt_detect", "dt_plot") for run in runs
    } | {("dt_fetch", str(UNKNOWN_RUN))}
