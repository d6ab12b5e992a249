"""Security and robustness: path traversal, hosts, cross-site requests, missing or half-written
results, a workflow writing while the app reads, errors without tracebacks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pltanomaly.core.atomic import write_json_atomic


@pytest.mark.parametrize(
    "url",
    [
        "/fills/2022/..%2F..%2Fetc%2Fpasswd",
        "/fills/2022/../../etc/passwd",
        "/fills/..%2F2022/8001",
        "/fills/2022/8001.json",
        "/plots/2022/..%2F..%2F2022%2Ffills%2F8001.png",
        "/plots/2022/8001.json",
        "/plots/22/8001.png",
        "/fills/99999/8001",
        "/fills/2022/123456789",
        "/api/fills/2022/%2e%2e/series",
        "/api/fills/2022/8001/channels/3%2F..%2F4",
        "/static/../app.py",
        "/static/..%2Fapp.py",
    ],
)
def test_no_path_traversal(client: Any, url: str) -> None:
    r = client.get(url)
    assert r.status_code in (404, 405)
    assert b"root:" not in r.data and b"def create_app" not in r.data


def test_only_loopback_hosts_by_default(client: Any) -> None:
    assert client.get("/fills", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert client.get("/fills", headers={"Host": "localhost:8080"}).status_code == 200
    assert client.get("/fills", headers={"Host": "evil.example"}).status_code == 400


def test_named_host_when_told(make_app: Any) -> None:
    client = make_app(allowed_hosts=["plt-review.cern.ch"]).test_client()
    assert client.get("/fills", headers={"Host": "plt-review.cern.ch"}).status_code == 200


def test_cross_site_writes_are_refused(client: Any) -> None:
    url = "/api/fills/2022/8001/channels/3"
    r = client.patch(url, json={"verdict": "bad"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post(
        "/fills/2022/8001/channels/3/verdict",
        data={"verdict": "bad"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    r = client.patch(url, json={"verdict": "bad"}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert client.get("/api/user_scores.json").get_json()["count"] == 0
    # the app's own pages send a same-origin Origin
    r = client.patch(url, json={"verdict": "bad"}, headers={"Origin": "http://localhost"})
    assert r.status_code == 200


def test_oversized_body_is_refused(client: Any) -> None:
    r = client.patch(
        "/api/fills/2022/8001/channels/3", json={"verdict": "bad", "comment": "x" * 100_000}
    )
    assert r.status_code == 413


def test_missing_results_folder_gives_a_clear_page(make_app: Any, tmp_path: Path) -> None:
    missing = tmp_path / "not-yet"
    client = make_app(results_dir=missing).test_client()
    r = client.get("/fills")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Nothing to review yet" in html and "does not exist" in html
    assert "Traceback" not in html
    assert client.get("/eval/next").status_code == 200
    body = client.get("/api/fills").get_json()
    assert body["fills"] == [] and "does not exist" in body["problem"]
    assert client.get("/api/user_scores.json").get_json()["count"] == 0
    assert not missing.exists()  # the app created nothing
    r = client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})
    assert r.status_code == 404


def test_results_folder_appearing_later_is_picked_up(
    make_app: Any, tmp_path: Path, results: Path
) -> None:
    later = tmp_path / "later"
    client = make_app(results_dir=later).test_client()
    assert "does not exist" in client.get("/fills").get_data(as_text=True)
    shutil.copytree(results, later)
    assert client.get("/api/fills").get_json()["count"] == 7
    r = client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})
    assert r.status_code == 200
    assert (tmp_path / "later.labels.sqlite").exists()


def test_empty_results_folder(make_app: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    html = make_app(results_dir=empty).test_client().get("/fills").get_data(as_text=True)
    assert "holds no year folder yet" in html


def test_half_written_results(client: Any, results: Path) -> None:
    """A year still being written: truncated JSON, no report.parquet, no logs.json."""
    y = results / "2023"
    (y / "report.parquet").unlink()
    (y / "logs.json").unlink()
    (y / "fills" / "8502.json").write_text('{"fill": 8502, "year": 2023, "channels": {"0": {"sta')
    (y / "fills" / "8503.json").write_text(json.dumps({"fill": 8503, "channels": {"0": "x"}}))
    html = client.get("/fills?year=2023").get_data(as_text=True)
    assert "report.parquet is not written yet" in html
    assert "logs.json is not written yet" in html
    assert "half-written" in html
    body = client.get("/api/fills?year=2023").get_json()
    status = {f["fill"]: (f["status"], f["reason"]) for f in body["fills"]}
    assert status[8501][0] == "anomalous"
    assert status[8502][0] == "failed" and "not valid JSON" in status[8502][1]
    assert status[8503][0] == "failed" and "channel 0 is not an object" in status[8503][1]
    r = client.get("/fills/2023/8502")
    assert r.status_code == 200 and "No readable result" in r.get_data(as_text=True)
    r = client.patch("/api/fills/2023/8502/channels/0", json={"verdict": "bad"})
    assert r.status_code == 503
    assert client.get("/eval/next").status_code == 302
    assert client.get("/api/net_scores.json").status_code == 200
    # the workflow finishes the file: the app sees it at once
    write_json_atomic(y / "fills" / "8502.json", _valid(8502))
    assert client.get("/api/fills/2023/8502").get_json()["summary"]["status"] == "normal"


def _valid(fill: int) -> dict[str, Any]:
    from review_data import FILLS, fill_json

    return fill_json(fill, FILLS[fill])


def test_bad_logs_json_is_a_notice(client: Any, results: Path) -> None:
    (results / "2022" / "logs.json").write_text("{oops")
    html = client.get("/fills?year=2022").get_data(as_text=True)
    assert "logs.json is unreadable" in html
    body = client.get("/api/fills?year=2022").get_json()
    # without the log, the failed and skipped fills are unknown; the others are still listed
    assert [f["fill"] for f in body["fills"]] == [8001, 8002, 8003]


@pytest.mark.parametrize(
    "logs",
    [
        {"fills": {"8004": {"status": "failed", "reason": "r"}}},
        {"fills": [{"fill": 8004, "status": "failed", "reason": "r"}]},
        {"8004": {"status": "failed", "reason": "r"}},
        [{"fill": 8004, "status": "failed", "reason": "r"}],
    ],
)
def test_logs_json_shapes(client: Any, results: Path, logs: Any) -> None:
    (results / "2022" / "logs.json").write_text(json.dumps(logs))
    body = client.get("/api/fills/2022/8004").get_json()
    assert body["summary"]["status"] == "failed" and body["summary"]["reason"] == "r"


def test_reads_do_not_hold_results_files_open(client: Any, results: Path) -> None:
    """A running workflow can replace or delete any file while the app serves pages."""
    for url in (
        "/fills",
        "/fills/2022/8001",
        "/api/fills/2022/8001/series",
        "/api/net_scores.json",
        "/eval/next",
        "/agreement",
    ):
        assert client.get(url).status_code in (200, 302)
    r = client.get("/plots/2022/8001.png")
    r.close()
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc")
    held = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if target.startswith(str(results) + os.sep):
            held.append(target)
    assert held == []
    # the workflow rewrites a fill: the next request shows the new result
    data = json.loads((results / "2022" / "fills" / "8002.json").read_text())
    data["channels"]["4"] = {
        "status": "anomalous",
        "score": 0.88,
        "events": [{"type": "noise", "start": data["start"], "end": data["end"], "score": 0.88}],
    }
    data["anomalous"] = True
    write_json_atomic(results / "2022" / "fills" / "8002.json", data)
    row = client.get("/api/fills/2022/8002").get_json()["summary"]
    assert row["status"] == "anomalous" and row["score"] == 0.88


def test_unexpected_error_is_a_page_not_a_traceback(app: Any, monkeypatch: Any) -> None:
    review = app.extensions["pltanomaly_review"]

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(review.reader, "list_fills", boom)
    client = app.test_client()
    r = client.get("/fills")
    assert r.status_code == 500
    html = r.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "secret internal detail" not in html and "Traceback" not in html
    r = client.get("/api/fills")
    assert r.status_code == 500 and r.get_json()["error"] == "Internal Server Error"


def test_unusable_label_database(make_app: Any, tmp_path: Path) -> None:
    bad = tmp_path / "labels.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    client = make_app(labels_db=bad).test_client()
    html = client.get("/fills").get_data(as_text=True)
    assert "Verdicts cannot be saved" in html
    r = client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})
    assert r.status_code == 503
    assert "cannot" in r.get_json()["message"]
    assert client.get("/fills/2022/8001").status_code == 200  # results still readable
