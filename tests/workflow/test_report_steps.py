"""The per-fill steps behind the workflow's rules and the per-year aggregation, without
Snakemake: status records, publication of contract files, failure kinds and retries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from wf_helpers import fill_folders, truncated_copy

from pltanomaly.channels import report, steps
from pltanomaly.core import steps as records

YEAR = 2022


@pytest.fixture(scope="module")
def converted(tmp_path_factory, source_tree):
    """One good fill converted into a year folder."""
    year_dir = tmp_path_factory.mktemp("steps") / str(YEAR)
    folder = fill_folders(source_tree / "22")[0]
    fill = int(folder.name)
    record = steps.convert_step(
        folder,
        year_dir / "fills" / f"{fill}.parquet",
        records.record_path(year_dir, "convert", fill),
        fill=fill,
        year=YEAR,
    )
    return year_dir, fill, record


def _detect(year_dir: Path, fill: int, **kwargs):
    return steps.detect_step(
        year_dir / "fills" / f"{fill}.parquet",
        records.record_path(year_dir, "convert", fill),
        year_dir / "fills" / f"{fill}.json",
        records.record_path(year_dir, "detect", fill),
        fill=fill,
        year=YEAR,
        **{"dead_channels": [6, 8, 9], **kwargs},
    )


def _plot(year_dir: Path, fill: int, **kwargs):
    return steps.plot_step(
        year_dir / "fills" / f"{fill}.parquet",
        year_dir / "fills" / f"{fill}.json",
        records.record_path(year_dir, "detect", fill),
        year_dir / "plots" / f"{fill}.png",
        records.record_path(year_dir, "plot", fill),
        fill=fill,
        year=YEAR,
        **kwargs,
    )


def test_convert_step_ok(converted):
    year_dir, fill, record = converted
    assert record["status"] == "ok" and record["reason"] is None
    assert record["summary"]["rows_kept"] > 0 and record["seconds"] > 0
    assert json.loads(records.record_path(year_dir, "convert", fill).read_text()) == record
    assert pq.read_table(year_dir / "fills" / f"{fill}.parquet").num_rows > 0


def test_convert_step_failures_remove_stale_series(tmp_path, source_tree):
    good = sorted(fill_folders(source_tree / "22")[0].glob("*.hd5"))[0]
    folder = tmp_path / "data" / "7990"
    truncated_copy(good, folder / good.name.replace(good.name[:4], "7990"))
    series = tmp_path / "fills" / "7990.parquet"
    series.parent.mkdir(parents=True)
    series.write_bytes(b"stale")
    record = steps.convert_step(folder, series, tmp_path / "rec.json", fill=7990, year=YEAR)
    assert record["status"] == "failed" and record["error_type"] == "BrilFileError"
    assert "truncated" in record["reason"] and not series.exists()
    empty = tmp_path / "data" / "7995"
    empty.mkdir()
    record = steps.convert_step(empty, series, tmp_path / "rec.json", fill=7995, year=YEAR)
    assert record["error_type"] == "EmptyFillError"
    assert record["reason"] == "no .hd5 file in the fill folder"
    assert not records.retry_path(tmp_path / "rec.json").exists()  # data errors: no retry


def test_detect_and_plot_steps(converted):
    year_dir, fill, _ = converted
    record = _detect(year_dir, fill, settings={}, settings_hash="abc")
    result = json.loads((year_dir / "fills" / f"{fill}.json").read_text())
    assert record["status"] == "ok" and record["settings_hash"] == "abc"
    assert record["row"]["anomalous"] == result["anomalous"]
    assert record["row"]["dead_channels"] == sorted(
        int(c) for c, v in result["channels"].items() if v["status"] == "dead"
    )
    plotted = _plot(year_dir, fill, plots="all")
    assert plotted["status"] == "ok" and (year_dir / "plots" / f"{fill}.png").stat().st_size
    if not result["anomalous"]:
        assert _plot(year_dir, fill)["status"] == "skipped"
        assert not (year_dir / "plots" / f"{fill}.png").exists()


def test_detect_step_skips_short_fills_and_removes_stale_result(converted):
    year_dir, fill, _ = converted
    result = year_dir / "fills" / f"{fill}.json"
    result.write_text("{}")
    record = _detect(year_dir, fill, min_fill_hours=10.0)
    assert record["status"] == "skipped" and "min_fill_hours 10" in record["reason"]
    assert not result.exists()
    assert _plot(year_dir, fill)["status"] == "skipped"
    _detect(year_dir, fill)  # back to normal for the other tests


def test_detect_step_bad_settings_raise(converted):
    year_dir, fill, _ = converted
    with pytest.raises(ValueError, match="unknown detector setting"):
        _detect(year_dir, fill, settings={"no_such_setting": 1})


def test_internal_error_is_recorded_with_a_retry_token(converted, monkeypatch, tmp_path):
    import pltanomaly.channels.detect

    year_dir, fill, _ = converted
    work = tmp_path / str(YEAR)
    (work / "fills").mkdir(parents=True)
    (work / "fills" / f"{fill}.parquet").write_bytes(
        (year_dir / "fills" / f"{fill}.parquet").read_bytes()
    )
    record_in = records.record_path(year_dir, "convert", fill)
    records.record_path(work, "convert", fill).parent.mkdir(parents=True)
    records.record_path(work, "convert", fill).write_text(record_in.read_text())

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pltanomaly.channels.detect, "detect_fill_analysis", broken)
    record = _detect(work, fill)
    assert record["status"] == "failed" and record["internal"] is True
    assert "RuntimeError: boom" in record["reason"]
    first = records.retry_tokens(work, "detect")
    assert set(first) == {fill}
    _detect(work, fill)
    assert records.retry_tokens(work, "detect")[fill] != first[fill]  # a new token each time
    logs = report.fill_log(work, fill)
    assert logs["status"] == "failed" and logs["internal_error"] is True


def test_failed_conversion_propagates(tmp_path):
    year_dir = tmp_path / str(YEAR)
    convert = records.record_path(year_dir, "convert", 7990)
    convert.parent.mkdir(parents=True)
    convert.write_text(json.dumps({"status": "failed", "reason": "x.hd5: truncated"}))
    stale = year_dir / "fills" / "7990.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    record = _detect(year_dir, 7990)
    assert (record["status"], record["reason"], record["failed_step"]) == (
        "failed",
        "x.hd5: truncated",
        "convert",
    )
    assert not stale.exists()
    assert _plot(year_dir, 7990)["status"] == "skipped"


def test_aggregate_year(converted, tmp_path):
    year_dir, fill, _ = converted
    _plot(year_dir, fill, plots="all")
    # a failed fill beside the good one
    for step, status in (("convert", "failed"), ("detect", "failed"), ("plot", "skipped")):
        path = records.record_path(year_dir, step, 7990)
        path.write_text(
            json.dumps({"status": status, "reason": "bad file", "failed_step": "convert"})
        )
    table = report.aggregate_year(
        YEAR,
        [7990, fill],
        year_dir,
        table_out=year_dir / "report" / "table.html",
        plots_out=year_dir / "report" / "plots",
        excluded=[7000],
        meta={"source": "data/22"},
    )
    frame = pq.read_table(year_dir / "report.parquet").to_pandas()
    assert frame.equals(table.to_pandas())
    assert list(frame["fill"]) == [fill, 7990]
    assert list(frame["status"]) == ["ok", "failed"]
    assert frame["reason"].iloc[1] == "bad file"
    assert frame["anomalous_channels"].iloc[1].tolist() == []
    schema = pq.read_schema(year_dir / "report.parquet")
    assert str(schema.field("dead_channels").type.value_type) == "int64"
    logs = json.loads((year_dir / "logs.json").read_text())
    assert logs["source"] == "data/22"
    assert logs["fills"]["7000"] == {"status": "skipped", "reason": "excluded by the config"}
    assert logs["counts"] == {"ok": 1, "failed": 1, "skipped": 1}
    assert list(logs["fills"]) == ["7000", str(fill), "7990"]
    assert (year_dir / "report" / "plots" / f"{fill}.png").exists()
    assert f"<td>{fill}</td>" in (year_dir / "report" / "table.html").read_text()


def test_report_command_rebuilds_from_records(converted):
    year_dir, fill, _ = converted
    result = subprocess.run(
        [sys.executable, "-m", "pltanomaly.cli", "report", str(year_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "2022:" in result.stdout
    assert fill in pq.read_table(year_dir / "report.parquet").column("fill").to_pylist()
