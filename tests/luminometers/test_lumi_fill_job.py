"""The hd5 path: a generated fill with luminometer tables through the PLT fill job, whose
``lumi`` step cross-checks the tables the conversion read in the same pass."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from pltanomaly.channels.fill_job import FillJob, run_fill_job
from pltanomaly.channels.generate import generate_year
from pltanomaly.channels.report import aggregate_year
from pltanomaly.luminometers.crosscheck import crosscheck_fill
from pltanomaly.luminometers.generate import add_luminometers
from pltanomaly.luminometers.hd5 import PLT_CHANNELS
from pltanomaly.luminometers.report import aggregate_lumi
from pltanomaly.luminometers.steps import plt_from_channels
from tests.luminometers.conftest import make_fill

LUMINOMETERS = ["pltzero", "hfoc", "hfet", "bcm1f"]


@pytest.fixture(scope="module")
def lumi_year(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lumi-source")
    year_dir = generate_year(root, 2022, n_fills=1, hours=0.5, seed=41)
    truth = add_luminometers(year_dir, seed=41, luminometers=LUMINOMETERS)
    fill = int(next(iter(truth["fills"])))
    return year_dir, fill, truth["fills"][str(fill)]["luminometers"]


def _job(tmp_path, year_dir, fill, **changes) -> FillJob:
    return FillJob(
        year=2022,
        fill=fill,
        year_dir=tmp_path / "2022",
        fill_dir=year_dir / str(fill),
        dead_channels=[6, 8],
        **changes,
    )


def test_the_fill_job_cross_checks_the_luminometers_read_in_the_same_pass(lumi_year, tmp_path):
    year_dir, fill, truth = lumi_year
    job = _job(tmp_path, year_dir, fill)
    record = run_fill_job(job)
    assert record["status"]["lumi"] == "ok"
    result = json.loads((job.path("lumi_dir") / f"{fill}.json").read_text())
    assert result["source"] == "hd5" and result["fill"] == fill
    compared = {n for n, e in result["luminometers"].items() if e["status"] != "absent"}
    assert compared == set(truth["present"])
    assert result["luminometers"]["pltzero"].get("channels_checked") is True
    assert (job.path("lumi_dir") / "tables" / f"{fill}.parquet").exists()
    assert job.record("lumi") == job.path("lumi_dir") / "status" / "crosscheck" / f"{fill}.json"
    report = aggregate_year(2022, [fill], job.year_dir).to_pandas().set_index("fill")
    assert set(report.loc[fill, "luminometers"]) == compared
    lumi_report = aggregate_lumi(2022, [fill], job.path("lumi_dir")).to_pandas()
    assert lumi_report["status"].tolist() == ["ok"]
    assert (job.path("lumi_dir") / "offsets.png").exists()


def test_a_year_whose_brilcalc_files_are_checked_leaves_the_lumi_record_alone(lumi_year, tmp_path):
    year_dir, fill, _ = lumi_year
    job = _job(tmp_path, year_dir, fill, lumi_check=False)
    record = run_fill_job(job)
    assert record["steps"]["lumi"] == "off" and record["status"]["lumi"] == "off"
    assert not job.record("lumi").exists()
    assert not (job.path("lumi_dir") / f"{fill}.json").exists()


def test_a_fill_without_luminometer_tables_has_its_plt_total_only(tmp_path):
    root = tmp_path / "plain"
    year_dir = generate_year(root, 2022, n_fills=1, hours=0.25, seed=43)
    fill = int(next(p.name for p in year_dir.iterdir() if p.is_dir()))
    job = _job(tmp_path, year_dir, fill)
    assert run_fill_job(job)["status"]["lumi"] == "ok"
    result = json.loads((job.path("lumi_dir") / f"{fill}.json").read_text())
    statuses = {name: entry["status"] for name, entry in result["luminometers"].items()}
    assert statuses == {"pltzero": "undecided"}
    assert not result["anomalous"]
    table = pd.read_parquet(job.path("lumi_dir") / "tables" / f"{fill}.parquet")
    assert "pltzero_channels" not in table.columns
    shutil.rmtree(root)


def test_plt_from_its_channels_is_scaled_to_the_others_and_never_a_scale_event():
    table = make_fill(["hfoc", "bcm1f", "dt"], n_ls=300)
    table[PLT_CHANNELS] = table["hfoc"] * 0.2  # the zero-counting total: no calibration
    table = plt_from_channels(table)
    assert PLT_CHANNELS not in table.columns
    assert (table["pltzero"] / table["bcm1f"]).median() == pytest.approx(1.0, abs=0.02)
    result = crosscheck_fill(table, 7000)
    assert not result["luminometers"]["pltzero"]["events"]
    # the files' own calibrated pltzero is kept as it is
    calibrated = make_fill(["pltzero", "hfoc", "dt"], n_ls=50)
    calibrated[PLT_CHANNELS] = 1.0
    kept = plt_from_channels(calibrated.copy())
    assert kept["pltzero"].equals(calibrated["pltzero"])
