"""A fill's whole job in one process (pltanomaly.channels.fill_job), without Snakemake: which steps
it redoes when what changes, and that the plot draws what the detector computed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from wf_helpers import ROOT, fill_folders

import pltanomaly.channels.plot
from pltanomaly.channels import fill_job
from pltanomaly.channels.fill_job import FillJob, redo_steps, run_fill_job

YEAR = 2022
ALL = {"convert", "detect", "lumi", "plot"}


def _ran(record: dict) -> set[str]:
    return {step for step, how in record["steps"].items() if how == "ran"}


@pytest.fixture
def job(tmp_path, source_tree, monkeypatch) -> FillJob:
    monkeypatch.delenv(fill_job.REDO_VARIABLE, raising=False)
    folder = fill_folders(source_tree / "22")[0]
    return FillJob(
        year=YEAR,
        fill=int(folder.name),
        year_dir=tmp_path / str(YEAR),
        fill_dir=folder,
        fingerprint="f1",
        dead_channels=[6, 8],
        plots="all",
        code={"detect": "d1", "plot": "p1"},
    )


def test_first_run_does_every_step_and_a_rerun_reuses_them(job):
    first = run_fill_job(job)
    assert _ran(first) == ALL and first["status"] == dict.fromkeys(ALL, "ok")
    for kind in ("series", "result", "plot"):
        assert job.path(kind).exists()
    tracked = job.year_dir / "status" / "fill" / f"{job.fill}.json"
    assert json.loads(tracked.read_text()) == first
    records = {s: job.record(s).read_text() for s in ALL}
    assert _ran(run_fill_job(job)) == set()
    assert {s: job.record(s).read_text() for s in ALL} == records  # not rewritten


@pytest.mark.parametrize(
    ("change", "redone"),
    [
        ({"settings": {"step_min": 0.05}}, {"detect", "lumi", "plot"}),
        ({"dead_channels": [6, 8, 13]}, {"detect", "lumi", "plot"}),
        ({"min_fill_hours": 0.01}, {"detect", "lumi", "plot"}),
        ({"code": {"detect": "d2", "plot": "p1"}}, {"detect", "lumi", "plot"}),
        ({"code": {"detect": "d1", "plot": "p2"}}, {"plot"}),
        ({"plots": "anomalous"}, {"lumi", "plot"}),
        ({"lumi_settings": {"merge_gap": 4}}, {"lumi", "plot"}),
        ({"lumi_check": False}, {"plot"}),
        ({"retry": {"detect": "1-abc"}}, {"detect", "lumi", "plot"}),
        ({"retry": {"convert": "1-abc"}}, ALL),
        ({"fingerprint": "f2"}, ALL),
        ({"counts": "zeros"}, ALL),
    ],
)
def test_a_change_redoes_its_step_and_those_after_it_only(job, change, redone):
    run_fill_job(job)
    assert _ran(run_fill_job(dataclasses.replace(job, **change))) == redone


def test_a_deleted_output_is_made_again(job):
    run_fill_job(job)
    job.path("series").unlink()
    assert _ran(run_fill_job(job)) == ALL
    job.path("plot").unlink()
    assert _ran(run_fill_job(job)) == {"plot"}
    assert job.path("plot").exists()


def test_redo_asks_for_steps_whose_inputs_did_not_change(job, monkeypatch):
    run_fill_job(job)
    monkeypatch.setenv(fill_job.REDO_VARIABLE, "detect")
    assert _ran(run_fill_job(job)) == {"detect", "lumi", "plot"}  # a new detection: all after
    assert redo_steps("all") == ALL and redo_steps(" plot, ") == {"plot"} and not redo_steps("")
    with pytest.raises(ValueError, match="unknown step"):
        redo_steps("detection")


def test_the_plot_draws_the_detectors_view(job, monkeypatch):
    def recompute(*args, **kwargs):
        raise AssertionError("the plot recomputed the ratios")

    monkeypatch.setattr(pltanomaly.channels.plot, "ratio_view", recompute)
    record = run_fill_job(job)
    assert record["status"]["plot"] == "ok" and job.path("plot").exists()
    # a plot redone alone (detection reused) makes the view from the series
    monkeypatch.undo()
    job.path("plot").unlink()
    assert _ran(run_fill_job(job)) == {"plot"}


def test_bad_fill_fails_its_records_not_the_job(job, tmp_path):
    empty = tmp_path / "7995"
    empty.mkdir()
    record = run_fill_job(dataclasses.replace(job, fill=7995, fill_dir=empty))
    assert record["status"] == {
        "convert": "failed",
        "detect": "failed",
        "lumi": "failed",
        "plot": "skipped",
    }
    assert _ran(record) == ALL


def test_the_workflow_script_runs_a_job_from_its_json(job, tmp_path):
    spec = {
        field.name: getattr(job, field.name)
        for field in dataclasses.fields(job)
        if field.name not in ("year_dir", "fill_dir")
    }
    spec.update(year_dir=str(job.year_dir), fill_dir=str(job.fill_dir))
    log = tmp_path / "job.log"
    script = ROOT / "workflow" / "scripts" / "analyse_fill.py"
    env = {k: v for k, v in os.environ.items() if k != fill_job.REDO_VARIABLE}
    command = [sys.executable, str(script), "--log", str(log), json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr + log.read_text()
    tracked = job.year_dir / "status" / "fill" / f"{job.fill}.json"
    assert _ran(json.loads(tracked.read_text())) == ALL
    assert "steps" in log.read_text()
