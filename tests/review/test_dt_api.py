"""The DT JSON API, evaluation queue and re-evaluation over dt_data's folder."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from dt_data import BAD, ERROR, FINISHED, LOADING, MB4, NEAR, NOT_JUDGED, PARTIAL, PARTIAL_CHAMBER


def layer_url(run: int, chamber: str, layer: int) -> str:
    return f"/api/dt/runs/{run}/chambers/{chamber}/layers/{layer}"


def test_net_scores_lists_every_judged_layer_highest_first(dt_client: Any) -> None:
    data = dt_client.get("/api/dt/net_scores.json").get_json()
    assert data["count"] == 12 + 12 + 8 + 12  # BAD, NEAR, MB4, the partial run's chamber
    first = data["scores"][0]
    assert (first["run"], first["chamber"], first["layer"], first["score"]) == (
        FINISHED,
        BAD,
        9,
        0.97,
    )
    assert first["events"] == ["inefficient_layer"] and first["rank"] == 1
    assert all(r["chamber"] != NOT_JUDGED for r in data["scores"])


def test_patch_and_delete_a_verdict(dt_client: Any) -> None:
    url = layer_url(FINISHED, MB4, 10)
    response = dt_client.patch(url, json={"verdict": "bad", "fault_type": "hot_cell"})
    assert response.status_code == 200
    assert response.get_json()["verdict"]["net_score"] == 0.62
    scores = dt_client.get("/api/dt/user_scores.json").get_json()
    assert scores["count"] == 1 and scores["verdicts"][0]["fault_type"] == "hot_cell"
    net = dt_client.get("/api/dt/net_scores.json").get_json()["scores"]
    assert next(r for r in net if r["chamber"] == MB4 and r["layer"] == 10)["verdict"] == "bad"
    assert dt_client.delete(url).status_code == 200
    assert dt_client.delete(url).status_code == 404
    assert dt_client.get("/api/dt/user_scores.json").get_json()["count"] == 0


def test_fault_type_alone_says_the_verdict(dt_client: Any) -> None:
    dt_client.patch(layer_url(FINISHED, BAD, 1), json={"fault_type": "good"})
    dt_client.patch(layer_url(FINISHED, BAD, 2), json={"fault_type": "dead_block"})
    verdicts = dt_client.get("/api/dt/user_scores.json").get_json()["verdicts"]
    assert [(v["layer"], v["verdict"], v["fault_type"]) for v in verdicts] == [
        (1, "good", None),
        (2, "bad", "dead_block"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "maybe"},
        {"verdict": "bad", "fault_type": "step"},  # a PLT type
        {"verdict": "good", "fault_type": "hot_cell"},
        {"verdict": "bad", "anomaly_type": "dead_layer"},
        [],
    ],
)
def test_bad_bodies_are_400(dt_client: Any, body: Any) -> None:
    assert dt_client.patch(layer_url(FINISHED, BAD, 9), json=body).status_code == 400


def test_unknown_targets_are_404(dt_client: Any) -> None:
    body = {"verdict": "good"}
    assert dt_client.patch(layer_url(FINISHED, MB4, 5), json=body).status_code == 404
    assert dt_client.patch(layer_url(FINISHED, NOT_JUDGED, 1), json=body).status_code == 404
    assert dt_client.patch(layer_url(ERROR, BAD, 1), json=body).status_code == 404
    assert dt_client.patch(layer_url(FINISHED, "W9_St1_Sec1", 1), json=body).status_code == 404


def test_api_writes_follow_the_security_rules(dt_app: Any) -> None:
    client = dt_app.test_client()
    url = layer_url(FINISHED, BAD, 9)
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert client.patch(url, json={"verdict": "good"}, headers=cross).status_code == 403
    assert client.delete(url, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.patch(url, json={"verdict": "good"}, headers={"Host": "evil"}).status_code == 400
    # a script: JSON body, no browser headers
    script = dt_app.test_client()
    script.environ_base.pop("HTTP_SEC_FETCH_SITE", None)
    assert script.patch(url, json={"verdict": "good"}).status_code == 200


def test_read_only_database_refuses_dt_writes(make_app: Any, results: Any, tmp_path: Any) -> None:
    """An older database without the DT tables, read-only: pages show, writes are 503, and
    no table is created."""
    from dt_data import build_dt
    from test_security import read_only

    build_dt(results)
    db = tmp_path / "ro" / "labels.sqlite"
    make_app(labels_db=db).extensions["pltanomaly_review"].store.all()
    with read_only(db, db.parent):
        client = make_app(labels_db=db).test_client()
        assert client.get(f"/dt/runs/{FINISHED}/{BAD}").status_code == 200
        assert client.get("/api/dt/eval/next").get_json()["next"]["chamber"] == NEAR
        url = layer_url(FINISHED, BAD, 9)
        response = client.patch(url, json={"verdict": "good"})
        assert response.status_code == 503 and "read-only" in response.get_json()["message"]
        assert client.post("/api/dt/reevaluate", json={"runs": [FINISHED]}).status_code == 503
        assert client.get("/api/dt/user_scores.json").get_json()["count"] == 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "dt_verdicts" not in tables


def test_eval_next_nearest_the_threshold_unlabelled_first(dt_client: Any) -> None:
    head = dt_client.get("/api/dt/eval/next").get_json()
    # NEAR's layer 3 at 0.45 is 0.05 from 0.5; MB4's hot cell 0.12; the partial run's 0.20
    assert (head["next"]["chamber"], head["next"]["layer"]) == (NEAR, 3)
    response = dt_client.get("/dt/eval/next")
    assert response.status_code == 302
    assert f"/dt/runs/{FINISHED}/{NEAR}?eval=1#layer3" in response.headers["Location"]
    # a verdict on another layer of NEAR: its layer 3 is still nearest, but NEAR has a label
    # now, so the untouched chambers come first
    dt_client.patch(layer_url(FINISHED, NEAR, 1), json={"verdict": "good"})
    head = dt_client.get("/api/dt/eval/next").get_json()["next"]
    assert (head["chamber"], head["layer"]) == (MB4, 10)


def test_eval_skip_moves_on_and_the_queue_empties(dt_client: Any) -> None:
    order = []
    for _ in range(10):
        head = dt_client.get("/api/dt/eval/next").get_json()["next"]
        if head is None:
            break
        order.append(head["chamber"])
        assert dt_client.post("/dt/eval/skip").status_code == 302
    assert order == [NEAR, MB4, PARTIAL_CHAMBER, BAD]
    page = dt_client.get("/dt/eval/next")
    assert page.status_code == 200 and 'id="dt-eval-done"' in page.get_data(as_text=True)
    assert dt_client.post("/api/dt/eval/skip").status_code == 404
    skips = dt_client.get("/api/dt/user_scores.json").get_json()["verdicts"]
    assert {v["verdict"] for v in skips} == {"skipped"} and len(skips) == 12 + 8 + 12 + 12


def test_eval_skip_of_a_named_chamber(dt_client: Any) -> None:
    response = dt_client.post("/api/dt/eval/skip", json={"run": FINISHED, "chamber": MB4})
    assert response.get_json() == {"run": FINISHED, "chamber": MB4, "skipped": 8}
    page = dt_client.get(f"/dt/runs/{FINISHED}/{NEAR}?eval=1").get_data(as_text=True)
    assert 'id="eval-mode"' in page and 'value="eval"' in page
    assert '<a href="#layer3" id="eval-pick">layer 3</a>, P(bad) 0.45' in page


def test_reevaluation_goes_through_its_states(
    dt_client: Any, dt_app: Any, fake_dt_detector: Any
) -> None:
    response = dt_client.post("/api/dt/reevaluate", json={"runs": [PARTIAL]})
    assert response.status_code == 202
    assert response.get_json()["jobs"][0]["state"] == "PENDING_REEVALUATION"
    dt_app.extensions["pltanomaly_dt_review"].runner.wait(timeout=10)
    (job,) = dt_client.get("/api/dt/jobs").get_json()["jobs"]
    assert job["state"] == "FINISHED" and job["started"] and job["message"] == "bad chambers 0 -> 1"
    assert [run for run, _ in fake_dt_detector.calls] == [PARTIAL]
    root = dt_app.extensions["pltanomaly_dt_review"].results.root
    result = json.loads((root / f"{PARTIAL}.json").read_text())
    assert result["status"] == "partial"  # the fetch was partial: the result says so still
    assert result["chambers"][PARTIAL_CHAMBER]["layers"]["1"]["score"] == 0.9
    page = dt_client.get("/dt/runs").get_data(as_text=True)
    assert f'data-job-key="{PARTIAL}" data-job-url="/api/dt/jobs" data-job-state="FINISHED"' in page


def test_reevaluation_failure_is_an_error_state(
    dt_client: Any, dt_app: Any, fake_dt_detector: Any
) -> None:
    before = (dt_app.extensions["pltanomaly_dt_review"].results.json_path(FINISHED)).read_text()
    fake_dt_detector.fail = RuntimeError("boom")
    assert dt_client.post(f"/dt/runs/{FINISHED}/reevaluate").status_code == 302
    (job,) = dt_client.get("/api/dt/jobs").get_json()["jobs"]
    assert job["state"] == "ERROR" and "boom" in job["message"]
    after = (dt_app.extensions["pltanomaly_dt_review"].results.json_path(FINISHED)).read_text()
    assert before == after


def test_reevaluation_needs_a_stored_parquet(dt_client: Any) -> None:
    assert dt_client.post("/api/dt/reevaluate", json={"runs": [ERROR]}).status_code == 409
    assert dt_client.post("/api/dt/reevaluate", json={"runs": [1]}).status_code == 404
    assert dt_client.post("/api/dt/reevaluate", json={"runs": "all"}).status_code == 400


def test_a_queued_run_is_not_queued_twice(dt_app: Any) -> None:
    service = dt_app.extensions["pltanomaly_dt_review"]
    with dt_app.test_request_context():
        labels = service.need_labels()
    labels.claim_job(FINISHED)
    assert labels.claim_job(FINISHED) is None
    labels.set_job(FINISHED, "REEVALUATING")
    assert labels.fail_interrupted_jobs() == 1
    assert labels.job(FINISHED).state == "ERROR"


def test_runs_api(dt_client: Any) -> None:
    rows = dt_client.get("/api/dt/runs").get_json()["runs"]
    states = {r["run"]: r["fetch_state"] for r in rows}
    assert states == {FINISHED: "finished", PARTIAL: "partial", ERROR: "error", LOADING: "loading"}
    finished = next(r for r in rows if r["run"] == FINISHED)
    assert finished["chambers"] == {"bad": 2, "good": 1, "not_judged": 1}
