"""The DT section's pages over dt_data's folder: runs, chamber map, chamber heatmap, forms."""

from __future__ import annotations

import json
from typing import Any

from dt_data import BAD, ERROR, FINISHED, LOADING, MB4, NEAR, NOT_JUDGED, PARTIAL


def test_runs_page_lists_fetch_states(dt_client: Any) -> None:
    page = dt_client.get("/dt/runs").get_data(as_text=True)
    for run, state in (
        (FINISHED, "finished"),
        (PARTIAL, "partial"),
        (ERROR, "error"),
        (LOADING, "loading"),
    ):
        assert f'<tr id="run{run}" class="fetch-{state}">' in page
    assert "connection refused" in page


def test_plt_navigation_links_to_dt(dt_client: Any) -> None:
    page = dt_client.get("/fills").get_data(as_text=True)
    assert 'href="/dt/runs"' in page and 'href="/dt/eval/next"' in page


def test_run_page_maps_every_chamber_by_status(dt_client: Any) -> None:
    page = dt_client.get(f"/dt/runs/{FINISHED}").get_data(as_text=True)
    assert page.count('class="dt-map"') == 4  # one map per station
    assert f'title="{BAD}: bad, highest layer score 0.970"' in page
    assert f'title="{NOT_JUDGED}: not_judged (too few entries)"' in page
    assert f'href="/dt/runs/{FINISHED}/{MB4}"' in page
    # MB4 has sectors 13 and 14, the other stations stop at 12
    assert '<table class="dt-map" id="map-st4">' in page
    assert 'title="W2_St4_Sec14: no result"' in page


def test_partial_and_error_runs(dt_client: Any) -> None:
    page = dt_client.get(f"/dt/runs/{PARTIAL}").get_data(as_text=True)
    assert 'id="fetch-partial"' in page and "1 chamber(s) not fetched" in page
    page = dt_client.get(f"/dt/runs/{ERROR}").get_data(as_text=True)
    assert 'id="fetch-error"' in page and "connection refused" in page
    assert 'id="not-evaluated"' in page
    assert dt_client.get(f"/dt/runs/{LOADING}").status_code == 200
    assert dt_client.get("/dt/runs/1").status_code == 404


def test_chamber_page_heatmap_scores_saliency_forms(dt_client: Any) -> None:
    page = dt_client.get(f"/dt/runs/{FINISHED}/{BAD}").get_data(as_text=True)
    assert page.count('<tr id="heat') == 12
    assert page.count('class="sal"') == 3  # layer 9's three saliency wires
    assert "10: 1.00, 11: 0.80, 12: 0.50" in page and "20: 1.00" in page
    assert 'title="SL3: L1 wire 10: 110"' in page
    assert "inefficient_layer w1–50" in page
    assert page.count('name="fault_type"') == 12
    assert f'action="/dt/runs/{FINISHED}/{BAD}/layers/9/verdict"' in page


def test_mb4_chamber_has_eight_layers(dt_client: Any) -> None:
    page = dt_client.get(f"/dt/runs/{FINISHED}/{MB4}").get_data(as_text=True)
    assert page.count('<tr id="heat') == 8
    assert page.count('name="fault_type"') == 8
    assert 'id="heat5"' not in page
    assert "hot_cell w40" in page


def test_not_judged_chamber(dt_client: Any) -> None:
    page = dt_client.get(f"/dt/runs/{FINISHED}/{NOT_JUDGED}").get_data(as_text=True)
    assert 'id="no-layers"' in page and "too few entries" in page
    assert 'name="fault_type"' not in page


def test_unknown_chambers_and_layers_are_404(dt_client: Any) -> None:
    assert dt_client.get(f"/dt/runs/{FINISHED}/W3_St1_Sec1").status_code == 404
    assert dt_client.get(f"/dt/runs/{FINISHED}/W0_St1_Sec13").status_code == 404
    assert dt_client.get(f"/dt/runs/{FINISHED}/W2_St3_Sec7").status_code == 404
    form = {"verdict": "bad", "fault_type": "dead_layer"}
    url = f"/dt/runs/{FINISHED}/{MB4}/layers/6/verdict"  # MB4 has no layer 6
    assert dt_client.post(url, data=form).status_code == 404


def test_verdict_form_saves_and_clears(dt_client: Any, dt_app: Any) -> None:
    url = f"/dt/runs/{FINISHED}/{NEAR}/layers/3/verdict"
    response = dt_client.post(url, data={"verdict": "bad", "fault_type": "noisy_layer"})
    assert response.status_code == 302
    labels = dt_app.extensions["pltanomaly_dt_review"].labels
    (v,) = labels.all()
    assert (v.run, v.chamber, v.layer, v.verdict, v.fault_type) == (
        FINISHED,
        NEAR,
        3,
        "bad",
        "noisy_layer",
    )
    assert v.net_score == 0.45
    page = dt_client.get(f"/dt/runs/{FINISHED}/{NEAR}").get_data(as_text=True)
    assert "bad: noisy_layer" in page
    assert dt_client.post(url + "/delete").status_code == 302
    assert labels.all() == []


def test_form_write_from_another_site_is_refused(dt_client: Any, dt_app: Any) -> None:
    url = f"/dt/runs/{FINISHED}/{NEAR}/layers/3/verdict"
    response = dt_client.post(
        url, data={"verdict": "good"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    bare = dt_app.test_client()
    bare.environ_base.pop("HTTP_SEC_FETCH_SITE", None)
    assert bare.post(url, data={"verdict": "good"}).status_code == 403
    assert dt_client.get("/dt/runs", headers={"Host": "evil.example"}).status_code == 400
    assert dt_app.extensions["pltanomaly_dt_review"].labels.all() == []


def test_broken_files_leave_the_pages_up(dt_client: Any, dt_app: Any) -> None:
    root = dt_app.extensions["pltanomaly_dt_review"].results.root
    (root / f"{PARTIAL}.json").write_text('{"run": 355102, "chambers": ')
    (root / f"{FINISHED}.parquet").write_bytes(b"PAR1 not really")
    page = dt_client.get("/dt/runs").get_data(as_text=True)
    assert f'<tr id="run{PARTIAL}" class="fetch-partial">' in page  # the fetch was partial
    assert "result unreadable" in page
    run_page = dt_client.get(f"/dt/runs/{PARTIAL}").get_data(as_text=True)
    assert 'id="result-problem"' in run_page and 'id="not-evaluated"' in run_page
    assert dt_client.get(f"/dt/runs/{PARTIAL}/W2_St3_Sec7").status_code == 503
    page = dt_client.get(f"/dt/runs/{FINISHED}/{BAD}").get_data(as_text=True)
    assert 'id="no-hits"' in page and 'id="layer9"' in page


def test_eval_forms_stay_on_the_chamber_until_it_is_done(dt_client: Any) -> None:
    url = f"/dt/runs/{FINISHED}/{MB4}/layers/{{}}/verdict"
    form = {"verdict": "good", "next": "eval"}
    for layer in (1, 2, 3, 4, 9, 10, 11):
        response = dt_client.post(url.format(layer), data=form)
        assert f"/dt/runs/{FINISHED}/{MB4}?eval=1#layer{layer}" in response.headers["Location"]
    response = dt_client.post(url.format(12), data=form)
    assert response.headers["Location"].endswith("/dt/eval/next")


def test_missing_extras_are_tolerated(dt_client: Any, dt_app: Any) -> None:
    root = dt_app.extensions["pltanomaly_dt_review"].results.root
    result = json.loads((root / f"{FINISHED}.json").read_text())
    layers = result["chambers"][BAD]["layers"]
    layers["1"] = {"status": "bad", "events": [{"type": "hot_cell"}]}  # no score, no wires
    layers["2"] = {"status": "bad", "score": "high", "saliency": [{"wire": "x"}, 7, {"wire": 3}]}
    (root / f"{FINISHED}.json").write_text(json.dumps(result))
    response = dt_client.get(f"/dt/runs/{FINISHED}/{BAD}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'title="SL1: L2 wire 3: 103"' in page and page.count('class="sal"') == 4
    assert dt_client.get("/api/dt/net_scores.json").status_code == 200
    assert dt_client.get("/api/dt/eval/next").status_code == 200


def test_garbled_dt_table_leaves_the_pages_up(dt_client: Any, dt_app: Any) -> None:
    import sqlite3

    url = f"/api/dt/runs/{FINISHED}/chambers/{BAD}/layers/9"
    assert dt_client.patch(url, json={"verdict": "bad"}).status_code == 200
    db = dt_app.extensions["pltanomaly_review"].db_path
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='dt_verdicts'")
        page = root.fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xff" * size)
    for path in ("/dt/runs", f"/dt/runs/{FINISHED}", f"/dt/runs/{FINISHED}/{BAD}"):
        response = dt_client.get(path)
        assert response.status_code == 200, path
        assert 'id="labels-error"' in response.get_data(as_text=True)
    assert dt_client.get("/fills").status_code == 200
