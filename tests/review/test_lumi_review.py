"""The luminometer pages and API of the review app: list, fill page, verdicts on LS ranges,
and the app's security rules on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lumi_data import HAND_FILL, HAND_YEAR, add_hand_made, add_real_2016
from test_security import read_only

from pltanomaly.luminometers.labels import LumiLabels
from pltanomaly.review.labels import LabelStore, default_labels_path

FILL_API = f"/api/lumi/fills/{HAND_YEAR}/{HAND_FILL}"
VERDICTS = f"{FILL_API}/luminometers/pltzero/verdicts"
FORM = f"/lumi/{HAND_YEAR}/{HAND_FILL}/luminometers/pltzero/verdicts"


@pytest.fixture
def lumi_results(results: Path) -> Path:
    add_real_2016(results)
    add_hand_made(results)
    return results


@pytest.fixture
def lumi_client(make_app: Any, lumi_results: Path) -> Any:
    return make_app(results_dir=lumi_results).test_client()


def stored(results: Path) -> list[Any]:
    return LumiLabels(LabelStore(default_labels_path(results))).all()


def test_fill_list_shows_every_lumi_fill(lumi_client: Any) -> None:
    body = lumi_client.get("/api/lumi/fills").get_json()
    assert [(r["year"], r["fill"]) for r in body["fills"]] == [
        (2016, 4947),
        (2016, 4958),
        (HAND_YEAR, HAND_FILL),
    ]
    real = body["fills"][0]
    assert "pltzero" in real["flagged"] and "hfoc" in real["luminometers"]
    html = lumi_client.get("/lumi?year=2016").get_data(as_text=True)
    assert "/lumi/2016/4947" in html and f"/lumi/{HAND_YEAR}/{HAND_FILL}" not in html
    assert 'href="/lumi"' in lumi_client.get("/fills").get_data(as_text=True)  # the nav


def test_fill_page_shows_luminometers_events_and_forms(
    lumi_client: Any, lumi_results: Path
) -> None:
    html = lumi_client.get("/lumi/2016/4947").get_data(as_text=True)
    assert 'id="lumi-plot"' in html and 'src="/lumi/2016/4947.png"' in html
    result = json.loads((lumi_results / "2016/lumi/4947.json").read_text())
    (event, *_) = result["luminometers"]["pltzero"]["events"]  # the real PLT spike's event
    assert 'id="lumi-pltzero"' in html and f"{event['first']}..{event['last']}" in html
    assert lumi_client.get("/lumi/2016/4947.png").data.startswith(b"\x89PNG")
    hand = lumi_client.get(f"/lumi/{HAND_YEAR}/{HAND_FILL}").get_data(as_text=True)
    assert "No plot for this fill" in hand and "-3.0%" in hand and "1.0040" in hand
    # the event's one-click form carries its range
    assert 'name="first" value="320000:10"' in hand and 'name="last" value="320000:19"' in hand


@pytest.mark.parametrize(
    "url", ["/lumi/2016/9999", "/api/lumi/fills/2016/9999", "/lumi/2016/4958.png"]
)
def test_unknown_fill_or_plot_is_404(lumi_client: Any, url: str) -> None:
    assert lumi_client.get(url).status_code == 404


def test_verdict_patch_update_delete(lumi_client: Any, lumi_results: Path) -> None:
    body = {"verdict": "bad", "first": "320000:95", "last": "320001:3", "anomaly_type": "dip"}
    r = lumi_client.patch(VERDICTS, json={**body, "reason": "dip across runs"})
    assert r.status_code == 201
    saved = r.get_json()["verdict"]
    assert (saved["first"], saved["last"], saved["source"]) == ("320000:95", "320001:3", "review")
    r = lumi_client.patch(f"{VERDICTS}/{saved['id']}", json={"verdict": "good", "last": "-1"})
    assert r.status_code == 200 and r.get_json()["verdict"]["last"] is None
    (only,) = stored(lumi_results)
    assert (only.verdict, only.first, only.last) == ("good", None, None)
    fill = lumi_client.get(FILL_API).get_json()
    assert [v["id"] for v in fill["verdicts"]["pltzero"]] == [saved["id"]]
    assert lumi_client.delete(f"{VERDICTS}/{saved['id']}").get_json() == {"deleted": 1}
    assert stored(lumi_results) == []
    assert lumi_client.delete(f"{VERDICTS}/{saved['id']}").status_code == 404


def test_delete_all_keeps_the_log_verdicts(lumi_client: Any, lumi_results: Path) -> None:
    from pltanomaly.luminometers.labels import NewVerdict

    labels = LumiLabels(LabelStore(default_labels_path(lumi_results)))
    labels.replace_log([(HAND_YEAR, HAND_FILL, NewVerdict("pltzero", None, None, "good"))])
    lumi_client.patch(VERDICTS, json={"verdict": "ignore", "first": "320000:1", "last": ""})
    assert lumi_client.delete(VERDICTS).get_json() == {"deleted": 1}
    assert [v.source for v in stored(lumi_results)] == ["validation-log"]


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "maybe"},
        {"verdict": "bad", "first": "320000"},
        {"verdict": "bad", "first": "320001:5", "last": "320000:5"},
        {"verdict": "good", "anomaly_type": "dip"},
        {"verdict": "bad", "anomaly_type": "dropout"},
        {"verdict": "bad", "colour": "red"},
        {"verdict": "bad", "reason": 5},
        ["bad"],
    ],
)
def test_bad_verdict_body_is_400(lumi_client: Any, body: Any) -> None:
    assert lumi_client.patch(VERDICTS, json=body).status_code == 400


def test_unknown_luminometer_is_404(lumi_client: Any) -> None:
    url = f"{FILL_API}/luminometers/bcm1futca/verdicts"
    assert lumi_client.patch(url, json={"verdict": "good"}).status_code == 404


def test_form_one_click_on_an_event(lumi_client: Any, lumi_results: Path) -> None:
    form = {"first": "320000:10", "last": "320000:19", "anomaly_type": "dip", "verdict": "good"}
    r = lumi_client.post(FORM, data={**form, "reason": "fine", "user": "ana"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#lumi-pltzero")
    (v,) = stored(lumi_results)
    assert (v.verdict, v.anomaly_type, v.first, v.user) == ("good", None, (320000, 10), "ana")
    r = lumi_client.post(FORM, data={**form, "verdict": "bad"})
    assert [v.anomaly_type for v in stored(lumi_results)] == [None, "dip"]
    first_id = stored(lumi_results)[0].id
    r = lumi_client.post(f"/lumi/{HAND_YEAR}/{HAND_FILL}/verdicts/{first_id}/delete")
    assert r.status_code == 302 and len(stored(lumi_results)) == 1
    html = lumi_client.get(f"/lumi/{HAND_YEAR}/{HAND_FILL}").get_data(as_text=True)
    assert "bad: dip" in html


def test_verdicts_on_a_luminometer_without_results_are_shown(
    lumi_client: Any, lumi_results: Path
) -> None:
    from pltanomaly.luminometers.labels import NewVerdict

    labels = LumiLabels(LabelStore(default_labels_path(lumi_results)))
    labels.replace_log([(2016, 4947, NewVerdict("hfet", None, None, "ignore", reason="5 TeV"))])
    html = lumi_client.get("/lumi/2016/4947").get_data(as_text=True)
    assert 'id="other-verdicts"' in html and "5 TeV" in html
    assert lumi_client.get("/api/lumi/fills/2016/4947").get_json()["verdicts"]["hfet"]


def test_cross_origin_writes_are_refused(make_app: Any, lumi_results: Path) -> None:
    app = make_app(results_dir=lumi_results)
    browser = app.test_client()
    r = browser.post(FORM, data={"verdict": "good"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = browser.post(FORM, data={"verdict": "good"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    bare = FlaskClient(app, app.response_class)
    assert bare.post(FORM, data={"verdict": "good"}).status_code == 403  # no proof
    r = bare.patch(VERDICTS, json={"verdict": "good"})  # a script: preflighted method, JSON
    assert r.status_code == 201
    r = browser.get("/api/lumi/fills", headers={"Host": "evil.example"})
    assert r.status_code == 400
    assert len(stored(lumi_results)) == 1


def test_read_only_database_shows_verdicts_refuses_writes(
    make_app: Any, lumi_results: Path, tmp_path: Path
) -> None:
    from pltanomaly.luminometers.labels import NewVerdict

    db = tmp_path / "ro" / "labels.sqlite"
    LumiLabels(LabelStore(db)).add(HAND_YEAR, HAND_FILL, NewVerdict("hfoc", None, None, "good"))
    with read_only(db, db.parent):
        client = make_app(results_dir=lumi_results, labels_db=db).test_client()
        assert len(client.get(FILL_API).get_json()["verdicts"]["hfoc"]) == 1
        r = client.patch(VERDICTS, json={"verdict": "good"})
        assert r.status_code == 503 and "read-only" in r.get_json()["message"]
        assert client.post(FORM, data={"verdict": "good"}).status_code == 503
        assert "good" in client.get(f"/lumi/{HAND_YEAR}/{HAND_FILL}").get_data(as_text=True)


def test_plt_fill_page_links_the_fills_luminometers(make_app: Any, results: Path) -> None:
    folder = results / "2022" / "lumi"
    folder.mkdir(parents=True)
    result = {"fill": 8001, "year": 2022, "luminometers": {}}
    (folder / "8001.json").write_text(json.dumps(result))
    client = make_app(results_dir=results).test_client()
    assert 'href="/lumi/2022/8001"' in client.get("/fills/2022/8001").get_data(as_text=True)
    assert "/lumi/2022/8002" not in client.get("/fills/2022/8002").get_data(as_text=True)
