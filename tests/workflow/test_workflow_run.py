"""End to end: the workflow on generated fills, the results contract, and incremental reruns
proved by what Snakemake plans (-n) and runs, and by which steps each fill's job redid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from wf_helpers import (
    CORRUPT_FILL,
    DEAD,
    EMPTY_FILL,
    aggregate_job,
    base_config,
    copy_workdir,
    fill_jobs,
    link_tree,
    own_copy,
    planned,
    ran,
    read_logs,
    snakemake,
    snakemake_command,
    statuses,
    steps_ran,
    truncated_copy,
    write_config,
)

pytestmark = pytest.mark.slow

CONTRACT_COLUMNS = {
    "fill",
    "year",
    "start",
    "end",
    "duration_h",
    "n_nb4",
    "anomalous",
    "anomalous_channels",
    "normal_channels",
    "dead_channels",
    "n_events",
    "max_score",
}


def test_first_run_ran_every_fill_job_once(base_run):
    expected = {aggregate_job(2022), aggregate_job(2023)}
    for fill in base_run.fills2022:
        expected |= fill_jobs(2022, fill)
    for fill in base_run.year2023:
        expected |= fill_jobs(2023, fill)
    assert ran(base_run.result) == expected


def test_results_contract_files(base_run):
    year_dir = base_run.workdir / "results" / "2022"
    report = pd.read_parquet(year_dir / "report.parquet")
    assert CONTRACT_COLUMNS | {"status", "reason"} <= set(report.columns)
    assert sorted(report["fill"]) == base_run.fills2022
    assert report["anomalous"].dtype == bool
    for fill in base_run.good:
        result = json.loads((year_dir / "fills" / f"{fill}.json").read_text())
        assert {"fill", "year", "start", "end", "anomalous", "channels"} <= set(result)
        assert (result["fill"], result["year"]) == (fill, 2022)
        assert set(result["channels"]) >= {str(c) for c in range(16)}
        for channel in DEAD:
            assert result["channels"][str(channel)]["status"] == "dead"
        series = pq.read_table(year_dir / "fills" / f"{fill}.parquet")
        assert series.num_rows > 0
        assert "timestamp" in series.column_names
        plot = year_dir / "plots" / f"{fill}.png"
        assert plot.exists() == result["anomalous"]  # anomalous fills only, by default
        row = report.set_index("fill").loc[fill]
        assert row["status"] == "ok"
        assert row["anomalous"] == result["anomalous"]
        assert row["start"] == result["start"]
        assert sorted(row["dead_channels"]) == sorted(
            int(c) for c, v in result["channels"].items() if v["status"] == "dead"
        )
    assert (year_dir / "report" / "table.html").exists()
    assert (base_run.workdir / "results" / "2023" / "report.parquet").exists()


def test_logs_json(base_run):
    logs = read_logs(base_run.workdir, 2022)
    assert logs["year"] == 2022
    assert set(logs["fills"]) == {str(f) for f in base_run.fills2022}
    for fill in base_run.good:
        entry = logs["fills"][str(fill)]
        assert entry["status"] == "ok" and entry["reason"] is None
        assert set(entry["timings"]) == {"convert", "detect", "lumi", "plot"}
        assert entry["versions"]["convert"]
        assert entry["files"] and entry["files"][0]["name"].endswith(".hd5")


def test_corrupt_and_empty_fills_fail_alone(base_run):
    year_dir = base_run.workdir / "results" / "2022"
    logs = read_logs(base_run.workdir, 2022)["fills"]
    corrupt, empty = logs[str(CORRUPT_FILL)], logs[str(EMPTY_FILL)]
    assert corrupt["status"] == "failed" and corrupt["failed_step"] == "convert"
    assert "hd5" in corrupt["reason"] and "truncated" in corrupt["reason"]
    assert empty["status"] == "failed" and "no .hd5 file" in empty["reason"]
    assert [f["name"] for f in corrupt["files"]] == [
        p.name for p in (base_run.workdir / "data" / "22" / str(CORRUPT_FILL)).glob("*.hd5")
    ]
    assert empty["files"] == []
    report = pd.read_parquet(year_dir / "report.parquet").set_index("fill")
    assert report.loc[CORRUPT_FILL, "status"] == "failed"
    assert report.loc[EMPTY_FILL, "reason"] == empty["reason"]
    for fill in (CORRUPT_FILL, EMPTY_FILL):  # the contract holds real results only
        for name in (f"fills/{fill}.json", f"fills/{fill}.parquet", f"plots/{fill}.png"):
            assert not (year_dir / name).exists()
    assert statuses(base_run.workdir, 2022) == {
        **{f: "ok" for f in base_run.good},
        CORRUPT_FILL: "failed",
        EMPTY_FILL: "failed",
    }


def test_noop_rerun_plans_nothing(base_run):
    assert planned(base_run.workdir) == set()


def test_snakemake_report(base_run, tmp_path):
    out = tmp_path / "report.html"
    snakemake(base_run.workdir, "--report", str(out))
    text = out.read_text()
    assert "report/table.html" in text
    anomalous = [
        f
        for f in base_run.good
        if (base_run.workdir / "results" / "2022" / "plots" / f"{f}.png").exists()
    ]
    for fill in anomalous:
        assert f"report/plots/{fill}.png" in text


def test_new_fill_folder_runs_only_its_jobs(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    new = int(base_run.spare.name)
    link_tree(base_run.spare, workdir / "data" / "22" / base_run.spare.name)
    expected = fill_jobs(2022, new) | {aggregate_job(2022)}
    assert planned(workdir) == expected
    assert ran(snakemake(workdir)) == expected
    assert statuses(workdir, 2022)[new] == "ok"
    assert planned(workdir) == set()


def test_new_file_in_a_fill_reprocesses_that_fill(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    fill = base_run.good[1]
    folder = workdir / "data" / "22" / str(fill)
    first = sorted(folder.glob("*.hd5"))[0]
    added = folder / f"{fill}_399999_2207302300_2207302359.hd5"
    shutil.copyfile(first, added)  # rows repeat the first file's: dropped as duplicates
    expected = fill_jobs(2022, fill) | {aggregate_job(2022)}
    assert planned(workdir) == expected
    assert ran(snakemake(workdir)) == expected
    entry = read_logs(workdir, 2022)["fills"][str(fill)]
    assert entry["status"] == "ok"
    assert added.name in {f["name"] for f in entry["files"]}


def test_growing_newest_fill_is_reprocessed(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    newest = max(base_run.good)
    path = sorted((workdir / "data" / "22" / str(newest)).glob("*.hd5"))[-1]
    own_copy(path)
    os.utime(path)  # the file was written to again
    assert planned(workdir) == fill_jobs(2022, newest) | {aggregate_job(2022)}
    # restored from a backup with its old time stamp but other content: still noticed
    workdir2 = copy_workdir(base_run.workdir, tmp_path / "w2")
    path = sorted((workdir2 / "data" / "22" / str(newest)).glob("*.hd5"))[-1]
    stat = path.stat()
    own_copy(path)
    with open(path, "ab") as handle:
        handle.write(b"\0" * 16)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned(workdir2) == fill_jobs(2022, newest) | {aggregate_job(2022)}


def _detect_jobs(year: int, fills) -> set:
    """The jobs of a year's fills (which redo detection and plots) and its aggregation."""
    jobs = {aggregate_job(year)}
    for fill in fills:
        jobs |= fill_jobs(year, fill)
    return jobs


def _redid(workdir: Path, year: int, fills, steps: set[str]) -> None:
    """Each fill's last job redid exactly ``steps`` and reused the others."""
    assert steps_ran(workdir, year, fills) == {fill: steps for fill in fills}


def test_settings_change_reprocesses_the_affected_years(base_run, tmp_path):
    from pltanomaly.channels.detect import DetectorSettings

    workdir = base_run.workdir
    step_min = DetectorSettings().step_min
    all2022 = _detect_jobs(2022, base_run.fills2022)
    all2023 = _detect_jobs(2023, base_run.year2023)
    # one year's own detector settings: that year only, convert untouched
    config = base_config()
    config["years"][2022]["detector"] = {"step_min": step_min * 1.5}
    write_config(workdir, config, "year-settings.yaml")
    assert planned(workdir, configfiles=["year-settings.yaml"]) == all2022
    changed = copy_workdir(workdir, tmp_path / "w")
    assert ran(snakemake(changed, configfiles=["year-settings.yaml"])) == all2022
    _redid(changed, 2022, base_run.fills2022, {"detect", "lumi", "plot"})  # conversion reused
    _redid(changed, 2023, base_run.year2023, {"convert", "detect", "lumi", "plot"})  # untouched
    assert planned(changed, configfiles=["year-settings.yaml"]) == set()
    # the global settings: every year
    config = base_config()
    config["detector"] = {"step_min": step_min * 1.5}
    write_config(workdir, config, "global-settings.yaml")
    assert planned(workdir, configfiles=["global-settings.yaml"]) == all2022 | all2023
    # the year's dead channels
    config = base_config()
    config["years"][2023]["dead_channels"] = [*DEAD, 13]
    write_config(workdir, config, "dead.yaml")
    assert planned(workdir, configfiles=["dead.yaml"]) == all2023
    # an explicit default value is no change
    config = base_config()
    config["detector"] = {"step_min": step_min}
    write_config(workdir, config, "same.yaml")
    assert planned(workdir, configfiles=["same.yaml"]) == set()


def test_calibration_reruns_detection_of_its_years_only(base_run, tmp_path):
    from pltanomaly.core.atomic import write_json_atomic
    from pltanomaly.core.calibrate import Observation, fit

    workdir = base_run.workdir
    calibration = tmp_path / "cal.json"
    write_json_atomic(calibration, fit([Observation("step", 2.0, False)] * 30).to_json())
    config = base_config()
    config["years"][2022]["detector"] = {"calibration": str(calibration)}
    write_config(workdir, config, "calibrated.yaml")
    assert planned(workdir, configfiles=["calibrated.yaml"]) == _detect_jobs(
        2022, base_run.fills2022
    )
    # a missing calibration file stops the run naming it
    config["years"][2022]["detector"] = {"calibration": str(tmp_path / "none.json")}
    write_config(workdir, config, "missing.yaml")
    result = snakemake(workdir, "-n", configfiles=["missing.yaml"], check=False)
    assert result.returncode != 0 and "none.json" in result.stdout + result.stderr


def test_excluding_a_fill_and_plotting_all_fills(base_run, tmp_path):
    workdir = base_run.workdir
    config = base_config()
    config["years"][2022]["fills"] = {"exclude": [CORRUPT_FILL]}
    write_config(workdir, config, "exclude.yaml")
    assert planned(workdir, configfiles=["exclude.yaml"]) == {aggregate_job(2022)}
    config = base_config()
    config["plots"] = "all"
    write_config(workdir, config, "plots.yaml")
    expected = {aggregate_job(2022), aggregate_job(2023)}
    for year, fills in ((2022, base_run.fills2022), (2023, base_run.year2023)):
        for fill in fills:
            expected |= fill_jobs(year, fill)
    assert planned(workdir, configfiles=["plots.yaml"]) == expected
    changed = copy_workdir(workdir, tmp_path / "w")
    assert ran(snakemake(changed, configfiles=["plots.yaml"])) == expected
    _redid(changed, 2022, base_run.fills2022, {"lumi", "plot"})  # conversion, detection reused
    _redid(changed, 2023, base_run.year2023, {"lumi", "plot"})
    for fill in base_run.good:
        assert (changed / "results" / "2022" / "plots" / f"{fill}.png").exists()


def test_settings_change_run_and_min_fill_length(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    config = base_config()
    config["years"][2023]["min_fill_hours"] = 5.0
    write_config(workdir, config)
    assert ran(snakemake(workdir)) == _detect_jobs(2023, base_run.year2023)
    _redid(workdir, 2023, base_run.year2023, {"detect", "lumi", "plot"})
    logs = read_logs(workdir, 2023)["fills"]
    for fill in base_run.year2023:
        assert logs[str(fill)]["status"] == "skipped"
        assert "min_fill_hours" in logs[str(fill)]["reason"]
        assert not (workdir / "results" / "2023" / "fills" / f"{fill}.json").exists()
    assert planned(workdir) == set()


def test_fixed_data_is_processed_on_rerun(base_run, tmp_path, source_tree):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    corrupt = workdir / "data" / "22" / str(CORRUPT_FILL)
    good_file = sorted((workdir / "data" / "22" / str(base_run.good[0])).glob("*.hd5"))[0]
    for path in corrupt.glob("*.hd5"):  # the whole file arrives
        path.unlink()
        shutil.copyfile(good_file, path)
    empty = workdir / "data" / "22" / str(EMPTY_FILL)
    shutil.copyfile(good_file, empty / f"{EMPTY_FILL}_355998_2207110000_2207110030.hd5")
    expected = fill_jobs(2022, CORRUPT_FILL) | fill_jobs(2022, EMPTY_FILL)
    expected |= {aggregate_job(2022)}
    assert planned(workdir) == expected
    assert ran(snakemake(workdir)) == expected
    status = statuses(workdir, 2022)
    assert status[CORRUPT_FILL] == status[EMPTY_FILL] == "ok"
    assert (workdir / "results" / "2022" / "fills" / f"{CORRUPT_FILL}.json").exists()
    # and broken again: the stale results go, the failure is reported
    path = next(corrupt.glob("*.hd5"))
    path.unlink()
    truncated_copy(good_file, path)
    assert ran(snakemake(workdir)) == fill_jobs(2022, CORRUPT_FILL) | {aggregate_job(2022)}
    assert statuses(workdir, 2022)[CORRUPT_FILL] == "failed"
    for name in (f"fills/{CORRUPT_FILL}.json", f"fills/{CORRUPT_FILL}.parquet"):
        assert not (workdir / "results" / "2022" / name).exists()


def test_internal_error_is_retried_next_run(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    fill = base_run.good[0]
    record = workdir / "results" / "2022" / "status" / "detect" / f"{fill}.json"
    record.with_suffix(".retry").write_text("1-abc\n")  # as written by a failing step
    expected = fill_jobs(2022, fill) | {aggregate_job(2022)}
    assert planned(workdir) == expected
    assert ran(snakemake(workdir)) == expected
    _redid(workdir, 2022, [fill], {"detect", "lumi", "plot"})


def test_result_deleted_by_hand_is_made_again(base_run, tmp_path):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    fill = base_run.good[0]
    year_dir = workdir / "results" / "2022"
    (year_dir / "fills" / f"{fill}.parquet").unlink()
    (year_dir / "status" / "detect" / f"{fill}.retry").write_text("1-abc\n")  # detect reruns
    snakemake(workdir)  # the job sees the series gone: it converts again, in the same run
    _redid(workdir, 2022, [fill], {"convert", "detect", "lumi", "plot"})
    assert statuses(workdir, 2022)[fill] == "ok"
    assert (year_dir / "fills" / f"{fill}.parquet").exists()
    assert planned(workdir) == set()


def _processes_in_group(pgid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
    return found


def _start_and_kill(workdir: Path, *, whole_run: bool) -> int:
    """Start the workflow, wait until a fill's job runs (converting), then SIGKILL the job's
    process (or all of Snakemake). Returns Snakemake's exit code."""
    command, env = snakemake_command(workdir, cores=1)
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            jobs = [
                pid
                for pid, cmd in _processes_in_group(process.pid).items()
                if "analyse_fill.py" in cmd and not cmd.split()[0].endswith("sh")
            ]
            if jobs:
                break
            assert process.poll() is None, "snakemake ended before the conversion started"
            assert time.monotonic() < deadline, "the conversion never started"
            time.sleep(0.05)
        time.sleep(0.5)  # half-way through the conversion
        if whole_run:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(jobs[0], signal.SIGKILL)
        return process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize("whole_run", [False, True], ids=["job-killed", "snakemake-killed"])
def test_killed_job_leaves_nothing_trusted(base_run, tmp_path, whole_run):
    workdir = copy_workdir(base_run.workdir, tmp_path / "w")
    fill = base_run.good[0]
    path = sorted((workdir / "data" / "22" / str(fill)).glob("*.hd5"))[0]
    own_copy(path)
    os.utime(path)
    record = workdir / "results" / "2022" / "status" / "fill" / f"{fill}.json"
    assert _start_and_kill(workdir, whole_run=whole_run) != 0
    assert not record.exists()  # the tracked output was never written
    expected = fill_jobs(2022, fill) | {aggregate_job(2022)}
    assert planned(workdir) == expected
    if whole_run:  # Snakemake's own lock outlives a kill -9 of Snakemake
        snakemake(workdir, "--unlock")
    assert ran(snakemake(workdir, "--rerun-incomplete")) == expected
    assert statuses(workdir, 2022)[fill] == "ok"
    leftovers = [p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp")]
    assert all(p.name.startswith(".") for p in leftovers)  # hidden temporaries only
