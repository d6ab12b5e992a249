"""The real Snakemake workflow on a year that names brilcalc files only: the real 2016 slice,
plus a broken file whose fill fails alone; then reruns."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from wf_helpers import planned, ran, snakemake, write_config

DATA = Path(__file__).parent / "data"
BROKEN_FILL = 9001

pytestmark = pytest.mark.slow


def _broken_csv(path: Path) -> Path:
    """A brilcalc file for a fill of its own that breaks off in the middle (truncated gzip)."""
    lines = ["#run:fill,ls,time,beamstatus,E(GeV),delivered(hz/ub),recorded(hz/ub),avgpu,source"]
    lines += [
        f"400000:{BROKEN_FILL},{ls}:{ls},{1500000000 + 23 * ls},STABLE BEAMS,6500,"
        f"{1000 + ls},{1000 + ls},30.0,HFOC"
        for ls in range(1, 400)
    ]
    whole = gzip.compress("\n".join(lines).encode())
    path.write_bytes(whole[: len(whole) // 2])
    return path


@pytest.fixture(scope="module")
def lumi_run(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("lumi")
    files = []
    for source in sorted(DATA.glob("2016-*.csv.gz")):
        files.append(str(shutil.copy2(source, workdir / source.name)))
    files.append(str(_broken_csv(workdir / "broken-hfoc.csv.gz")))
    write_config(workdir, {"results": "results", "years": {2016: {"brilcalc": files}}})
    return workdir, snakemake(workdir)


def test_each_fill_has_its_result_and_the_broken_file_fails_only_its_fill(lumi_run):
    workdir, _ = lumi_run
    lumi = workdir / "results" / "2016" / "lumi"
    logs = json.loads((lumi / "logs.json").read_text())["fills"]
    assert logs["4947"]["status"] == logs["4958"]["status"] == "ok"
    assert logs[str(BROKEN_FILL)]["status"] == "failed"
    assert "broken-hfoc.csv.gz" in logs[str(BROKEN_FILL)]["reason"]
    assert not (lumi / f"{BROKEN_FILL}.json").exists()
    result = json.loads((lumi / "4947.json").read_text())
    assert result["source"] == "brilcalc" and result["year"] == 2016
    assert {"pltzero", "hfoc", "pcc", "ramses", "dt"} <= set(result["luminometers"])
    report = pd.read_parquet(lumi / "report.parquet").set_index("fill")
    assert report.loc[BROKEN_FILL, "status"] == "failed"
    assert set(report.loc[4947, "luminometers"]) == {
        name for name, e in result["luminometers"].items() if e["status"] != "absent"
    }
    for fill in (4947, 4958):
        anomalous = json.loads((lumi / f"{fill}.json").read_text())["anomalous"]
        assert (lumi / "plots" / f"{fill}.png").exists() == anomalous
    assert (lumi / "offsets.png").stat().st_size > 0


def test_a_rerun_does_nothing_and_a_setting_reruns_only_the_crosscheck(lumi_run):
    workdir, _ = lumi_run
    assert planned(workdir) == set()
    config = json.loads(json.dumps({"results": "results"}))
    files = [str(p) for p in sorted(workdir.glob("*.csv.gz"))]
    config["years"] = {2016: {"brilcalc": files, "luminometers": {"merge_gap": 4}}}
    write_config(workdir, config, "tuned.yaml")
    jobs = ran(snakemake(workdir, configfiles=("tuned.yaml",)))
    rules = {rule for rule, _ in jobs}
    assert "crosscheck_fill" in rules and "lumi_tables" not in rules


def test_an_unknown_setting_stops_the_parse_naming_the_year(lumi_run):
    workdir, _ = lumi_run
    files = [str(p) for p in sorted(workdir.glob("*.csv.gz"))]
    write_config(
        workdir,
        {"results": "results", "years": {2016: {"brilcalc": files, "luminometers": {"bad": 1}}}},
        "bad.yaml",
    )
    result = snakemake(workdir, "-n", configfiles=("bad.yaml",), check=False)
    assert result.returncode != 0
    assert "years.2016 luminometers: unknown setting(s) bad" in result.stdout + result.stderr


def test_evaluate_scores_the_workflows_results_against_the_log(lumi_run, capsys):
    from pltanomaly.cli import main

    workdir, _ = lumi_run
    log = DATA / "2016-validation-log.json"
    out = workdir / "scores.json"
    args = ["evaluate", "--validation-log", str(log), "--results", str(workdir / "results/2016")]
    assert main([*args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ours" in printed and "public rule" in printed
    scores = json.loads(out.read_text())
    assert scores["ours"]["total"]["ranges"] > 0
    assert scores["ours"]["total"]["ranges_found"] >= scores["public_rule"]["total"]["ranges_found"]
