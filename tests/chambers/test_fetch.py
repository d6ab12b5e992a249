"""Fetching a run from a loopback DQM GUI: retries, recorded failures, run status, Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dqmgui_server import DqmGuiServer, generate_run

from pltanomaly.chambers import fetch
from pltanomaly.chambers.fetch import (
    SCHEMA,
    FetchResult,
    fetch_run,
    needs_fetch,
    read_metadata,
    write_run,
)
from pltanomaly.chambers.geometry import CHAMBERS, dqm_path, wires
from pltanomaly.cli import main

RUN = 355100
FAULTY_RUN = 355101
SLEEP = 2.5
FAST = {"timeout": (1.0, 1.0), "retries": 2, "backoff": 0.01, "workers": 16}
"""Read time-out shorter than the server's sleep; 3 attempts per chamber at most. A normal
answer must come well within it on a loaded 2-core CI machine (a 0.2 s time-out timed out
normal answers there: one retry too many)."""

SCRIPTS = {
    0: (("503", "503"), "ok"),
    1: ((), "503"),
    2: (("sleep",), "ok"),
    3: ((), "sleep"),
    4: (("truncate",), "ok"),
    5: ((), "truncate"),
    6: (("reset",), "ok"),
    7: ((), "reset"),
    8: (("drop",), "ok"),
    9: (("unsupported",), "ok"),
    10: (("nan",), "ok"),
    11: (("500",), "ok"),
    12: (("404",), "ok"),
}
"""Chamber index -> (faults of its first requests, then every later request)."""

MISSING = {1: "http", 3: "timeout", 5: "bad_json", 7: "truncated", 9: "unsupported"}
MISSING |= {10: "invalid", 12: "not_found"}
REQUESTS = {0: 3, 1: 3, 2: 2, 3: 3, 4: 2, 5: 3, 6: 2, 7: 3, 8: 2, 9: 1, 10: 1, 11: 2, 12: 1}
"""Requests each scripted chamber costs with 2 retries."""


@pytest.fixture(scope="module")
def runs() -> dict:
    return {RUN: generate_run(1), FAULTY_RUN: generate_run(2)}


@pytest.fixture(scope="module")
def server(runs: dict):
    with DqmGuiServer(runs, sleep=SLEEP, max_requests=3000, lifetime=60) as gui:
        for index, (faults, then) in SCRIPTS.items():
            gui.script(FAULTY_RUN, CHAMBERS[index], *faults, then=then)
        yield gui


@pytest.fixture(scope="module")
def good(server: DqmGuiServer) -> FetchResult:
    return fetch_run(RUN, server.base_url, **FAST)


@pytest.fixture(scope="module")
def faulty(server: DqmGuiServer) -> FetchResult:
    return fetch_run(FAULTY_RUN, server.base_url, **FAST)


def existing_cells() -> int:
    return sum(wires(c, layer) for c in CHAMBERS for layer in c.layers)


def test_a_good_run_is_finished_with_every_chamber(good: FetchResult, runs: dict) -> None:
    assert good.status == "finished" and good.reason is None and not good.failures
    assert len(good.chambers) == 250
    for chamber in CHAMBERS[::17]:
        np.testing.assert_array_equal(good.chambers[chamber.key].counts, runs[RUN][chamber])


def test_each_chamber_is_asked_once_when_all_goes_well(
    good: FetchResult, server: DqmGuiServer
) -> None:
    assert all(server.requests[dqm_path(RUN, c)] == 1 for c in CHAMBERS)


def test_the_parquet_holds_existing_cells_only(
    good: FetchResult, runs: dict, tmp_path: Path
) -> None:
    record = write_run(good, tmp_path / "355100.parquet", tmp_path / "355100.json")
    table = pq.read_table(tmp_path / "355100.parquet")
    assert table.schema.remove_metadata() == SCHEMA
    assert table.num_rows == existing_cells() == record["rows"]
    frame = table.to_pandas()
    assert frame["count"].min() >= 0
    assert not ((frame.station == 4) & frame.layer.between(5, 8)).any()
    chamber = CHAMBERS[-1]
    one = frame[frame.chamber == chamber.key]
    assert set(one[["wheel", "station", "sector"]].drop_duplicates().itertuples(index=False)) == {
        tuple(chamber)
    }
    counts = runs[RUN][chamber]
    np.testing.assert_array_equal(one["count"], counts[one.layer - 1, one.wire - 1])
    assert one.wire.min() == 1 and one.layer.min() == 1


def test_the_parquet_metadata_describes_the_fetch(good: FetchResult, tmp_path: Path) -> None:
    write_run(good, tmp_path / "r.parquet", tmp_path / "r.json")
    meta = read_metadata(tmp_path / "r.parquet")
    assert meta["run"] == RUN and meta["status"] == "finished"
    assert meta["base_url"] == good.base_url and meta["fetched_at"] == good.fetched_at
    assert meta["failures"] == {} and meta["version"]
    key = CHAMBERS[0].key
    assert meta["gui_entries"][key] == good.chambers[key].gui_entries
    assert meta["gui_entries"][key] > good.chambers[key].entries


def test_the_status_record_says_what_was_fetched(good: FetchResult, tmp_path: Path) -> None:
    write_run(good, tmp_path / "r.parquet", tmp_path / "r.json")
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["status"] == "finished" and record["run"] == RUN
    assert record["chambers_fetched"] == 250 and record["chambers_missing"] == 0
    assert record["parquet"] == "r.parquet"
    assert record["entries"] == pytest.approx(sum(o.entries for o in good.chambers.values()))
    assert not needs_fetch(tmp_path / "r.json")


def test_a_run_with_missing_chambers_is_partial(faulty: FetchResult) -> None:
    assert faulty.status == "partial"
    assert faulty.reason is not None and faulty.reason.startswith("7 of 250 chambers missing")
    assert len(faulty.chambers) == 243


@pytest.mark.parametrize("index", sorted(SCRIPTS))
def test_each_fault_is_retried_or_recorded(
    faulty: FetchResult, server: DqmGuiServer, runs: dict, index: int
) -> None:
    chamber = CHAMBERS[index]
    assert server.requests[dqm_path(FAULTY_RUN, chamber)] == REQUESTS[index]
    if index in MISSING:
        assert chamber.key not in faulty.chambers
        assert faulty.failures[chamber.key].kind == MISSING[index]
    else:
        assert chamber.key not in faulty.failures
        got = faulty.chambers[chamber.key].counts
        np.testing.assert_array_equal(got, runs[FAULTY_RUN][chamber])


def test_failures_carry_the_http_status(faulty: FetchResult) -> None:
    assert faulty.failures[CHAMBERS[1].key].http_status == 503
    assert faulty.failures[CHAMBERS[12].key].http_status == 404
    assert faulty.failures[CHAMBERS[3].key].http_status is None


def test_a_partial_run_is_written_and_fetched_again(faulty: FetchResult, tmp_path: Path) -> None:
    record = write_run(faulty, tmp_path / "p.parquet", tmp_path / "p.json")
    assert record["status"] == "partial" and record["chambers_missing"] == 7
    assert record["failures"][CHAMBERS[1].key] == {
        "kind": "http",
        "detail": "Service Unavailable",
        "http_status": 503,
    }
    assert read_metadata(tmp_path / "p.parquet")["failures"] == record["failures"]
    assert pq.read_table(tmp_path / "p.parquet").num_rows < existing_cells()
    assert needs_fetch(tmp_path / "p.json")


def test_a_run_the_gui_does_not_know(server: DqmGuiServer, tmp_path: Path) -> None:
    result = fetch_run(1, server.base_url, **FAST)
    assert result.status == "unknown_run" and "no run 1" in (result.reason or "")
    assert {f.kind for f in result.failures.values()} == {"not_found"}
    record = write_run(result, tmp_path / "1.parquet", tmp_path / "1.json")
    assert record["rows"] == 0
    assert pq.read_schema(tmp_path / "1.parquet").remove_metadata() == SCHEMA
    assert needs_fetch(tmp_path / "1.json")


def test_nothing_usable_is_an_error() -> None:
    chambers = CHAMBERS[:3]
    with DqmGuiServer({7: generate_run(3, chambers)}, max_requests=50) as gui:
        for chamber in chambers:
            gui.script(7, chamber, then="unsupported")
        result = fetch_run(7, gui.base_url, chambers=chambers, **FAST)
    assert result.status == "error"
    assert result.reason == "no chamber fetched (unsupported: 3)"


def test_an_unreachable_gui_is_an_error_for_every_chamber() -> None:
    with DqmGuiServer({}) as gui:
        url = gui.base_url
    result = fetch_run(RUN, url, chambers=CHAMBERS[:4], **FAST)
    assert result.status == "error"
    assert {f.kind for f in result.failures.values()} == {"connection"}


def test_a_failed_parquet_write_leaves_the_old_outputs(
    good: FetchResult, faulty: FetchResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parquet, record = tmp_path / "r.parquet", tmp_path / "r.json"
    write_run(good, parquet, record)
    before = parquet.read_bytes(), record.read_text()

    def broken(table: pa.Table, where: Path) -> None:
        Path(where).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(fetch.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_run(faulty, parquet, record)
    assert (parquet.read_bytes(), record.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.parquet"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, True),
        ("{not json", True),
        ('["finished"]', True),
        ('{"status": "finished"}', False),
        ('{"status": "partial"}', True),
        ('{"status": "error"}', True),
        ('{"status": "unknown_run"}', True),
    ],
)
def test_needs_fetch(tmp_path: Path, content: str | None, expected: bool) -> None:
    record = tmp_path / "status.json"
    if content is not None:
        record.write_text(content)
    assert needs_fetch(record) is expected


def test_the_command_writes_the_run(
    server: DqmGuiServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "dt" / f"{RUN}.parquet"
    argv = ["dt-fetch", str(RUN), "--dqmgui", server.base_url, "--out", str(out)]
    assert main([*argv, "--workers", "8"]) == 0
    assert "finished, 250 chambers" in capsys.readouterr().out
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "finished"
    assert pq.read_table(out).num_rows == existing_cells()


def test_the_command_refuses_https_without_a_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["dt-fetch", "1", "--dqmgui", "https://127.0.0.1:9", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "cert" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_session_presents_the_certificate_and_key(tmp_path: Path) -> None:
    assert fetch.make_session().cert is None
    assert fetch.make_session(cert="c.pem", key="k.pem").cert == ("c.pem", "k.pem")
    assert fetch.make_session(cert="proxy.pem").cert == ("proxy.pem", "proxy.pem")
    assert fetch.make_session(verify="/etc/ca").verify == "/etc/ca"


@pytest.mark.parametrize(
    "bad", [{"workers": 0}, {"retries": -1}, {"backoff": -1.0}, {"timeout": (1.0, 0.0)}]
)
def test_arguments_out_of_range(bad: dict) -> None:
    with pytest.raises(ValueError, match="fetch_run"):
        fetch_run(RUN, "http://127.0.0.1:9", **(FAST | bad))
