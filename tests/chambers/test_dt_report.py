"""The DT runs' report.parquet and logs.json from hand-made results and records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pltanomaly.chambers.job import run_paths
from pltanomaly.chambers.report import COLUMNS, aggregate_runs, run_row, run_status
from pltanomaly.core.atomic import write_json_atomic


def _layer(status: str, score: float) -> dict:
    return {"status": status, "score": score, "events": []}


RESULT = {
    "run": 1,
    "status": "finished",
    "entries": 5000,
    "chambers": {
        "W0_St1_Sec1": {
            "status": "bad",
            "code": 2,
            "entries": 3000,
            "layers": {"1": _layer("good", 0.1), "2": _layer("dead", 0.99)},
        },
        "W0_St1_Sec2": {
            "status": "bad",
            "code": 1,
            "entries": 2000,
            "layers": {"3": _layer("bad", 0.8), "4": _layer("bad", 0.7)},
        },
        "W0_St1_Sec3": {"status": "good", "code": 0, "entries": 10, "layers": {}},
        "W0_St1_Sec4": {"status": "not_judged", "reason": "too few entries", "layers": {}},
        "W0_St1_Sec5": {
            "status": "not_judged",
            "reason": "not fetched (http 500)",
            "missing": True,
            "layers": {},
        },
    },
}


def test_run_status_from_the_result_and_the_fetch() -> None:
    assert run_status(RESULT, {"status": "finished"}) == ("finished", None)
    assert run_status(RESULT, {"status": "partial", "reason": "1 missing"}) == (
        "partial",
        "1 missing",
    )
    unknown = {"status": "error", "reason": "no run 1"}
    assert run_status(unknown, {"status": "unknown_run"}) == ("unknown_run", "no run 1")
    assert run_status({"status": "error", "reason": "boom"}, {"status": "finished"}) == (
        "error",
        "boom",
    )
    assert run_status(None, None)[0] == "error"
    assert run_status(RESULT | {"status": "partial", "reason": "2 missing"}, None) == (
        "partial",
        "2 missing",
    )


def test_run_row_counts_chambers_layers_and_codes() -> None:
    row = run_row(1, RESULT, {"status": "partial", "reason": "1 of 250 chambers missing"})
    assert row == {
        "run": 1,
        "status": "partial",
        "n_judged": 3,
        "n_bad": 2,
        "n_not_judged": 1,
        "n_missing": 1,
        "n_bad_layers": 3,
        "bad_chambers": "W0_St1_Sec1,W0_St1_Sec2",
        "codes": "0:1 1:1 2:1",
        "entries": 5000,
        "max_score": 0.99,
        "reason": "1 of 250 chambers missing",
    }


def test_aggregate_runs_writes_report_and_logs(tmp_path: Path) -> None:
    dt = tmp_path / "dt"
    good = run_paths(dt, 1)
    write_json_atomic(good["result"], RESULT)
    write_json_atomic(good["fetch"], {"status": "finished", "seconds": 1.5, "failures": {}})
    write_json_atomic(good["detect"], {"status": "ok", "seconds": 0.6, "version": "9"})
    write_json_atomic(good["plot"], {"status": "ok", "seconds": 0.3, "chamber_plots": ["a.png"]})
    unknown = run_paths(dt, 2)
    write_json_atomic(unknown["result"], {"run": 2, "status": "error", "reason": "no run 2"})
    write_json_atomic(unknown["fetch"], {"status": "unknown_run", "reason": "no run 2"})
    (dt / "plots").mkdir(parents=True)
    (dt / "plots" / "1.png").write_bytes(b"png")
    frame = aggregate_runs(
        [3, 2, 1],
        dt,
        report_out=dt / "report.parquet",
        logs_out=dt / "logs.json",
        table_out=dt / "report" / "table.html",
        plots_out=dt / "report" / "plots",
        meta={"dqmgui": "http://gui"},
    )
    report = pd.read_parquet(dt / "report.parquet")
    assert list(report.columns) == list(COLUMNS)
    assert report["run"].tolist() == [1, 2, 3]
    assert report["status"].tolist() == ["finished", "unknown_run", "error"]
    assert report["n_bad"].dtype == "int64" and report["max_score"].isna().tolist() == [
        False,
        True,
        True,
    ]
    assert frame.equals(report)
    logs = json.loads((dt / "logs.json").read_text())
    assert logs["dqmgui"] == "http://gui"
    assert logs["counts"] == {"finished": 1, "unknown_run": 1, "error": 1}
    one = logs["runs"]["1"]
    assert one["seconds"] == {"fetch": 1.5, "detect": 0.6, "plot": 0.3}
    assert one["versions"]["detect"] == "9" and one["chamber_plots"] == ["a.png"]
    assert logs["runs"]["3"]["reason"].startswith("no result")
    assert logs["runs"]["3"]["steps"] == {"fetch": None, "detect": None, "plot": None}
    assert "unknown_run" in (dt / "report" / "table.html").read_text()
    assert [p.name for p in (dt / "report" / "plots").iterdir()] == ["1.png"]
