"""The JSON API: every endpoint and its error paths (Flask test client)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from pltanomaly.review.labels import SKIPPED


def patch(client: Any, url: str, body: Any, **kw: Any) -> Any:
    return client.patch(url, json=body, **kw)


# -- fills ------------------------------------------------------------------------------------
def test_list_fills_covers_every_year_and_status(client: Any) -> None:
    body = client.get("/api/fills").get_json()
    assert body["years"] == [2022, 2023]
    got = {(f["year"], f["fill"]): f["status"] for f in body["fills"]}
    assert got == {
        (2022, 8001): "anomalous",
        (2022, 8002): "normal",
        (2022, 8003): "anomalous",
        (2022, 8004): "failed",
        (2022, 8005): "skipped",
        (2023, 8501): "anomalous",
        (2023, 8502): "normal",
    }
    failed = next(f for f in body["fills"] if f["fill"] == 8004)
    assert "truncated" in failed["reason"]
    f8001 = next(f for f in body["fills"] if f["fill"] == 8001)
    assert f8001["score"] == pytest.approx(0.97)
    assert f8001["anomalous_channels"] == [3]
    assert f8001["dead_channels"] == [6, 8, 9]
    assert f8001["types"] == ["step"]
    assert body["notices"] == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("year=2023", [8501, 8502]),
        ("status=anomalous", [8001, 8003, 8501]),
        ("status=failed", [8004]),
        ("status=skipped", [8005]),
        ("status=normal&year=2022", [8002]),
        ("min_score=0.8", [8001, 8003, 8501]),
        ("min_score=0.5&max_score=0.85", [8003]),
        ("date_from=2022-07-06&date_to=2022-07-08", [8002, 8003]),
        ("date_from=2023-01-01", [8501, 8502]),
        ("sort=score", [8001, 8501, 8003, 8002, 8502, 8004, 8005]),
        ("sort=score&order=asc", [8502, 8002, 8003, 8501, 8001, 8004, 8005]),
        ("sort=date&order=desc&year=2022", [8003, 8002, 8001, 8004, 8005]),
        ("sort=events&year=2022", [8003, 8001, 8002, 8004, 8005]),
    ],
)
def test_filters_and_sorting(client: Any, query: str, expected: list[int]) -> None:
    body = client.get(f"/api/fills?{query}").get_json()
    assert [f["fill"] for f in body["fills"]] == expected


def test_unreviewed_and_reviewed_filters_follow_verdicts(client: Any) -> None:
    assert patch(client, "/api/fills/2022/8003/channels/11", {"verdict": "bad"}).status_code == 200
    unreviewed = [f["fill"] for f in client.get("/api/fills?status=unreviewed").get_json()["fills"]]
    reviewed = [f["fill"] for f in client.get("/api/fills?status=reviewed").get_json()["fills"]]
    assert 8003 not in unreviewed and 8001 in unreviewed
    assert reviewed == [8003]
    row = client.get("/api/fills/2022/8003").get_json()["summary"]
    assert row["review"] == {"good": 0, "bad": 1, "skipped": 0, "labelled": 1}


@pytest.mark.parametrize(
    "query",
    [
        "year=abc",
        "min_score=high",
        "date_from=2022-13-01",
        "status=weird",
        "sort=colour",
        "order=sideways",
        "page=0",
        "per_page=999999",
    ],
)
def test_bad_query_is_400(client: Any, query: str) -> None:
    r = client.get(f"/api/fills?{query}")
    assert r.status_code == 400
    assert r.get_json()["error"] == "Bad Request"


def test_one_fill(client: Any) -> None:
    body = client.get("/api/fills/2022/8001").get_json()
    assert body["result"]["channels"]["3"]["status"] == "anomalous"
    assert body["result"]["channels"]["3"]["events"][0]["type"] == "step"
    assert body["plot_url"] == "/plots/2022/8001.png"
    assert body["series_url"] == "/api/fills/2022/8001/series"
    assert body["log"]["status"] == "ok"
    assert body["verdicts"] == {}


def test_one_failed_fill_has_no_result_but_a_reason(client: Any) -> None:
    body = client.get("/api/fills/2022/8004").get_json()
    assert body["result"] is None
    assert body["summary"]["status"] == "failed"
    assert body["log"]["status"] == "failed"
    assert body["plot_url"] is None and body["series_url"] is None


@pytest.mark.parametrize(
    "url", ["/api/fills/2022/9999", "/api/fills/2024/8001", "/api/fills/2023/8001"]
)
def test_unknown_fill_is_404(client: Any, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404
    assert "no fill" in r.get_json()["message"]


# -- series -----------------------------------------------------------------------------------
def _ratio_jump(body: dict[str, Any], channel: str) -> tuple[float, float]:
    """Mean ratio of the channel before and after the fixture's step (at half the fill)."""
    ratio = body["channels"][channel]["ratio"]
    n = len(ratio)
    before = [r for r in ratio[: int(n * 0.45)] if r is not None]
    after = [r for r in ratio[int(n * 0.55) :] if r is not None]
    return sum(before) / len(before), sum(after) / len(after)


def _check_step_view(body: dict[str, Any]) -> tuple[float, float]:
    from review_data import STEP_SIZE

    assert body["points"] == 200 and len(body["t"]) == 200
    before, after = _ratio_jump(body, "3")
    assert after / before == pytest.approx(1 + STEP_SIZE, abs=0.01)
    # a normal channel stays at 1 throughout
    ch5 = [r for r in body["channels"]["5"]["ratio"] if r is not None]
    assert max(abs(r - 1) for r in ch5) < 0.03
    assert body["channels"]["6"]["live"] is False
    assert body["channels"]["3"]["events"][0]["type"] == "step"
    for ch in body["channels"].values():
        assert len(ch["rate"]) == len(ch["ratio"]) == len(ch["ratio_min"]) == 200
    rate3 = [r for r in body["channels"]["3"]["rate"] if r is not None]
    assert 250 < min(rate3) and max(rate3) < 400  # raw rates (sum of mu), aligned in time
    return before, after


@pytest.mark.skipif(
    importlib.util.find_spec("pltanomaly.channels.detect") is None,
    reason="needs pltanomaly.channels.detect",
)
def test_series_is_what_the_detector_sees(client: Any) -> None:
    body = client.get("/api/fills/2022/8001/series?points=200").get_json()
    assert body["source"] == "pltanomaly.channels.detect"
    before, _ = _check_step_view(body)
    assert before == pytest.approx(1.0, abs=0.01)  # the detector normalises to the fill start


def test_series_fallback_without_the_detector(client: Any, monkeypatch: Any) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("No module named 'pltanomaly.channels.detect'")

    monkeypatch.setattr("pltanomaly.review.series._detector_view", unavailable)
    body = client.get("/api/fills/2022/8001/series?points=200").get_json()
    assert body["source"].startswith("review fallback (ImportError")
    assert "median 1" in body["labels"]["ratio"]
    before, after = _check_step_view(body)
    assert before < 1 < after  # normalised to median 1 over the fill


def test_series_channel_selection_and_limits(client: Any) -> None:
    body = client.get("/api/fills/2022/8003/series?channels=11,12&points=50").get_json()
    assert sorted(body["channels"]) == ["11", "12"]
    spike = body["channels"]["11"]["ratio_max"]
    assert max(v for v in spike if v is not None) > 3  # the 4x spike survives downsampling
    for q in ("points=5", "points=100000", "points=x", "channels=3,99", "channels=a"):
        assert client.get(f"/api/fills/2022/8003/series?{q}").status_code == 400, q


def test_series_errors(client: Any, results: Any) -> None:
    assert client.get("/api/fills/2022/8004/series").status_code == 404  # failed: no result
    (results / "2022" / "fills" / "8002.parquet").unlink()
    assert client.get("/api/fills/2022/8002/series").status_code == 404
    (results / "2022" / "fills" / "8003.parquet").write_bytes(b"PAR1 half written")
    r = client.get("/api/fills/2022/8003/series")
    assert r.status_code == 503
    assert "unreadable" in r.get_json()["message"]


def test_series_is_gzipped_when_asked(client: Any) -> None:
    r = client.get("/api/fills/2022/8001/series", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    import gzip

    assert json.loads(gzip.decompress(r.data))["fill"] == 8001


# -- verdicts ---------------------------------------------------------------------------------
def test_save_verdict_and_read_it_back(client: Any) -> None:
    r = patch(
        client,
        "/api/fills/2022/8001/channels/3",
        {"verdict": "bad", "anomaly_type": "step", "comment": "clear 10% step", "user": "anna"},
    )
    assert r.status_code == 200
    saved = r.get_json()["verdict"]
    assert saved["net_score"] == pytest.approx(0.97) and saved["net_status"] == "anomalous"
    fill = client.get("/api/fills/2022/8001").get_json()
    assert fill["verdicts"]["3"]["anomaly_type"] == "step"
    assert fill["verdicts"]["3"]["user"] == "anna"
    # overwrite
    assert patch(client, "/api/fills/2022/8001/channels/3", {"verdict": "good"}).status_code == 200
    scores = client.get("/api/user_scores.json").get_json()
    assert scores["count"] == 1
    assert scores["verdicts"][0]["verdict"] == "good"
    assert scores["verdicts"][0]["anomaly_type"] is None


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/fills/2022/9999/channels/3", 404),  # unknown fill
        ("/api/fills/2022/8004/channels/3", 404),  # failed fill: no channels
        ("/api/fills/2021/8001/channels/3", 404),  # wrong year
        ("/api/fills/2022/8001/channels/16", 404),  # no such channel
        ("/api/fills/2022/8001/channels/-1", 404),  # not an int route
        ("/api/fills/2022/8001/channels/x", 404),
    ],
)
def test_save_verdict_unknown_target_is_404(client: Any, url: str, status: int) -> None:
    r = patch(client, url, {"verdict": "bad"})
    assert r.status_code == status
    assert r.is_json


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"verdict": "maybe"},
        {"verdict": "bad", "anomaly_type": "alien"},
        {"verdict": "good", "anomaly_type": "step"},
        {"verdict": "bad", "comment": 5},
        {"verdict": "bad", "comment": "x" * 2001},
        {"verdict": "bad", "user": "u" * 65},
        {"verdict": "bad", "colour": "red"},
        {"verdict": SKIPPED},
        ["bad"],
        "bad",
    ],
)
def test_save_verdict_bad_body_is_400(client: Any, body: Any) -> None:
    r = patch(client, "/api/fills/2022/8001/channels/3", body)
    assert r.status_code == 400, body
    assert r.get_json()["message"]
    assert client.get("/api/user_scores.json").get_json()["count"] == 0


def test_save_verdict_needs_a_json_body(client: Any) -> None:
    url = "/api/fills/2022/8001/channels/3"
    assert client.patch(url, data="verdict=bad").status_code == 400
    r = client.patch(url, data="{not json", content_type="application/json")
    assert r.status_code == 400


def test_delete_verdicts(client: Any) -> None:
    for ch in (3, 5):
        patch(client, f"/api/fills/2022/8001/channels/{ch}", {"verdict": "bad"})
    patch(client, "/api/fills/2022/8003/channels/11", {"verdict": "bad"})
    r = client.delete("/api/fills/2022/8001/channels/5")
    assert r.status_code == 200
    assert client.delete("/api/fills/2022/8001/channels/5").status_code == 404  # gone
    r = client.delete("/api/fills/2022/8001/verdicts")
    assert r.get_json() == {"deleted": 1}
    left = client.get("/api/user_scores.json").get_json()["verdicts"]
    assert [(v["fill"], v["channel"]) for v in left] == [(8003, 11)]
    assert client.delete("/api/fills/2022/8001/verdicts").get_json() == {"deleted": 0}
    assert client.delete("/api/fills/2022/9999/verdicts").status_code == 404


def test_net_scores_are_ranked(client: Any) -> None:
    patch(client, "/api/fills/2022/8001/channels/3", {"verdict": "bad"})
    body = client.get("/api/net_scores.json").get_json()
    scores = [r["score"] for r in body["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert body["count"] == 5 * 16
    top = body["scores"][0]
    assert (top["fill"], top["channel"], top["rank"], top["verdict"]) == (8001, 3, 1, "bad")
    assert body["scores"][1]["fill"] == 8501 and body["scores"][1]["channel"] == 7


# -- evaluation queue -------------------------------------------------------------------------
def test_eval_next_is_nearest_the_threshold_and_skip_moves_on(client: Any) -> None:
    first = client.get("/api/eval/next").get_json()
    assert first["next"]["fill"] == 8001 and first["next"]["channel"] == 5  # 0.52
    remaining = first["remaining"]
    # 13 live channels in 2022 fills x3 + 12 in 2023 fills x2
    assert remaining == 3 * 13 + 2 * 12
    r = client.post("/api/eval/skip", json={"year": 2022, "fill": 8001, "channel": 5})
    assert r.get_json()["skipped"]["verdict"] == "skipped"
    second = client.get("/api/eval/next").get_json()
    assert (second["next"]["fill"], second["next"]["channel"]) == (8002, 2)  # 0.44
    assert second["remaining"] == remaining - 1
    # a skip without a body skips the head of the queue
    client.post("/api/eval/skip")
    third = client.get("/api/eval/next").get_json()["next"]
    assert (third["fill"], third["channel"]) == (8501, 4)  # 0.35
    # skips are seen, but are no verdict for the agreement score
    scores = client.get("/api/user_scores.json").get_json()
    assert {v["verdict"] for v in scores["verdicts"]} == {"skipped"}


def test_eval_skip_errors(client: Any) -> None:
    assert (
        client.post("/api/eval/skip", json={"year": 2022, "fill": 9999, "channel": 1}).status_code
        == 404
    )
    assert (
        client.post("/api/eval/skip", json={"year": 2022, "fill": 8001, "channel": 99}).status_code
        == 404
    )
    assert (
        client.post("/api/eval/skip", json={"year": 2022, "fill": "x", "channel": 1}).status_code
        == 400
    )
    assert (
        client.post("/api/eval/skip", json={"year": True, "fill": 8001, "channel": 1}).status_code
        == 400
    )
    assert client.post("/api/eval/skip", json=[1, 2]).status_code == 400


def test_eval_queue_empties(client: Any) -> None:
    for _ in range(3 * 13 + 2 * 12):
        assert client.post("/api/eval/skip").status_code == 200
    body = client.get("/api/eval/next").get_json()
    assert body == {"next": None, "remaining": 0, "threshold": 0.5}
    assert client.post("/api/eval/skip").status_code == 404


def test_threshold_changes_the_queue(make_app: Any) -> None:
    client = make_app(threshold=0.8).test_client()
    nxt = client.get("/api/eval/next").get_json()
    assert nxt["threshold"] == 0.8
    assert (nxt["next"]["fill"], nxt["next"]["channel"]) == (8003, 11)  # 0.81


# -- agreement --------------------------------------------------------------------------------
def test_agreement_json(client: Any) -> None:
    patch(client, "/api/fills/2022/8001/channels/3", {"verdict": "bad", "anomaly_type": "step"})
    patch(client, "/api/fills/2022/8001/channels/5", {"verdict": "bad", "anomaly_type": "drift"})
    body = client.get("/api/agreement.json").get_json()
    assert body["overall"]["tp"] == 1 and body["overall"]["fn"] == 1
    assert body["by_type"]["step"]["recall"] == 1.0
    assert body["by_type"]["drift"]["recall"] == 0.0
