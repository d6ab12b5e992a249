"""Server-rendered pages, forms and their error paths (Flask test client)."""

from __future__ import annotations

import re
from typing import Any

import pytest


def text(r: Any) -> str:
    return r.get_data(as_text=True)


def test_root_redirects_to_fills(client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/fills"


def test_fills_page_lists_every_fill_with_status(client: Any) -> None:
    html = text(client.get("/fills"))
    for fill in (8001, 8002, 8003, 8004, 8005, 8501, 8502):
        assert f'data-fill="{fill}"' in html
    assert "BrilFileError" in html  # the failed fill's reason
    assert re.search(r'class="badge st-failed">failed', html)
    assert "7 fills" in html


def test_fills_page_filters_render(client: Any) -> None:
    html = text(client.get("/fills?year=2022&status=anomalous&sort=score"))
    rows = re.findall(r'<tr class="row-[a-z]+" data-fill="(\d+)"', html)
    assert rows == ["8001", "8003"]
    assert '<option value="2022" selected>' in html
    assert 'class="sorted desc">Max score' in html
    assert "No fill matches" in text(client.get("/fills?min_score=0.99"))


def test_fills_page_bad_filter_is_a_400_page(client: Any) -> None:
    r = client.get("/fills?min_score=lots")
    assert r.status_code == 400
    assert "bad query parameter" in text(r)
    assert "Traceback" not in text(r)


def test_heatmap_cells_coloured_by_score(client: Any) -> None:
    html = text(client.get("/fills?year=2022"))
    svg = re.search(r"<svg class=\"heatmap\".*?</svg>", html, re.S).group(0)
    columns = re.findall(r'<a href="/fills/2022/(\d+)" data-fill="\d+">(.*?)</a>', svg, re.S)
    assert [int(f) for f, _ in columns] == [8001, 8002, 8003, 8004, 8005]
    cells = {int(f): re.findall(r'class="(h\w+)"', body) for f, body in columns}
    assert all(len(c) == 16 for c in cells.values())
    assert cells[8001][3] == "h9"  # 0.97
    assert cells[8001][5] == "h5"  # 0.52
    assert cells[8001][6] == "hd"  # dead
    assert cells[8003][11] == "h8"  # 0.81
    assert set(cells[8004]) == {"hfail"}
    assert set(cells[8005]) == {"hskip"}
    assert "<title>fill 8001 · 2022-07-05 05:46 · anomalous · max score 0.97" in svg


def test_heatmap_marks_verdicts(client: Any) -> None:
    client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})
    client.patch("/api/fills/2022/8001/channels/5", json={"verdict": "good"})
    svg = text(client.get("/fills?year=2022"))
    assert svg.count('class="vbad"') == 1 + 1  # the map and the legend
    assert svg.count('class="vgood"') == 1 + 1


def test_heatmap_defaults_to_latest_year(client: Any) -> None:
    html = text(client.get("/fills"))
    assert "2023 at a glance" in html
    assert 'href="/fills/2023/8501"' in html


def test_fill_page(client: Any) -> None:
    html = text(client.get("/fills/2022/8001"))
    assert '<img src="/plots/2022/8001.png"' in html
    assert 'data-src="/api/fills/2022/8001/series"' in html
    assert 'data-select="3"' in html  # the chart opens on the anomalous channel
    assert html.count('<form class="verdict compact"') == 16
    assert "step +10.0% 06:16–06:46" in html
    assert 'href="/fills/2022/8002">8002 →' in html


def test_fill_page_of_failed_and_unknown_fills(client: Any) -> None:
    r = client.get("/fills/2022/8004")
    assert r.status_code == 200
    assert "No readable result" in text(r) and "truncated file" in text(r)
    r = client.get("/fills/2022/9999")
    assert r.status_code == 404
    assert "no fill 9999" in text(r)


def test_fill_page_without_plot(client: Any) -> None:
    html = text(client.get("/fills/2023/8502"))
    assert "No plot for this fill" in html


def test_plot_route(client: Any) -> None:
    r = client.get("/plots/2022/8001.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.data.startswith(b"\x89PNG")
    r.close()
    assert client.get("/plots/2023/8502.png").status_code == 404
    assert client.get("/plots/2022/9999.png").status_code == 404


def test_verdict_form_saves_and_redirects(client: Any) -> None:
    r = client.post(
        "/fills/2022/8001/channels/3/verdict",
        data={
            "verdict": "bad",
            "anomaly_type": "step",
            "comment": "ok <b>really</b>",
            "user": "ben",
        },
    )
    assert r.status_code == 302
    assert r.headers["Location"] == "/fills/2022/8001#ch3"
    assert "pltanomaly_user=ben" in r.headers["Set-Cookie"]
    html = text(client.get("/fills/2022/8001"))
    assert 'class="badge v-bad"' in html
    assert "&lt;b&gt;really&lt;/b&gt;" in html and "<b>really</b>" not in html  # escaped
    assert "Saved: fill 8001 channel 3 is bad." in html  # flash message
    # the reviewer name from the cookie is used when the form has none
    client.post("/fills/2022/8001/channels/5/verdict", data={"verdict": "good"})
    v = client.get("/api/fills/2022/8001").get_json()["verdicts"]["5"]
    assert v["user"] == "ben"


def test_verdict_form_errors(client: Any) -> None:
    r = client.post("/fills/2022/8001/channels/3/verdict", data={"verdict": "perhaps"})
    assert r.status_code == 400 and "verdict" in text(r)
    r = client.post(
        "/fills/2022/8001/channels/3/verdict", data={"verdict": "good", "anomaly_type": "step"}
    )
    assert r.status_code == 400
    assert (
        client.post("/fills/2022/8001/channels/20/verdict", data={"verdict": "bad"}).status_code
        == 404
    )
    assert (
        client.post("/fills/2022/9999/channels/3/verdict", data={"verdict": "bad"}).status_code
        == 404
    )
    assert client.get("/fills/2022/8001/channels/3/verdict").status_code == 405


def test_delete_form(client: Any) -> None:
    client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})
    r = client.post("/fills/2022/8001/verdicts/delete")
    assert r.status_code == 302
    assert client.get("/api/user_scores.json").get_json()["count"] == 0
    assert client.post("/fills/2022/9999/verdicts/delete").status_code == 404


def test_eval_flow(client: Any) -> None:
    r = client.get("/eval/next")
    assert r.status_code == 302 and r.headers["Location"] == "/eval/2022/8001/5"
    html = text(client.get("/eval/2022/8001/5"))
    assert 'data-focus="5"' in html and "Save &amp; next" in html
    assert "63 unlabelled channels left" in html
    assert 'href="/eval/2022/8002/2"' in html  # up next
    # saving from the eval page moves on
    r = client.post("/fills/2022/8001/channels/5/verdict", data={"verdict": "good", "next": "eval"})
    assert r.headers["Location"] == "/eval/next"
    assert client.get("/eval/next").headers["Location"] == "/eval/2022/8002/2"
    # skipping marks it seen and moves on
    r = client.post("/eval/skip", data={"year": "2022", "fill": "8002", "channel": "2"})
    assert r.status_code == 302 and r.headers["Location"] == "/eval/next"
    assert client.get("/eval/next").headers["Location"] == "/eval/2023/8501/4"
    assert client.get("/eval/skip").status_code == 405


def test_near_misses_are_shown_apart_from_events(client: Any) -> None:
    for page in ("/eval/2022/8001/5", "/fills/2022/8001"):
        html = text(client.get(page))
        near = re.search(r'<span class="near-misses">below threshold: (.*?)</span>\s*</span>', html)
        assert near, page
        assert 'class="event near ev-drift"' in near.group(1) and "evidence 0.73 of 1" in html
        assert "not an event" in near.group(1)
    eval_page = text(client.get("/eval/2022/8001/5"))
    assert "no event reported" in eval_page  # a near miss is not an event
    assert "below threshold" not in text(client.get("/eval/2022/8001/4"))
    promoted = text(client.get("/fills/2022/8003"))
    assert 'class="event ev-dropout promoted"' in promoted and "dropout" in promoted
    assert promoted.count("(calibrated)") == 1  # the spike of ch 11 is the detector's own


def test_eval_page_errors(client: Any) -> None:
    assert client.get("/eval/2022/9999/1").status_code == 404
    assert client.get("/eval/2022/8001/44").status_code == 404
    assert (
        client.post("/eval/skip", data={"year": "2022", "fill": "x", "channel": "1"}).status_code
        == 400
    )


def test_eval_done_page(client: Any) -> None:
    for _ in range(63):
        client.post("/eval/skip")
    r = client.get("/eval/next")
    assert r.status_code == 200 and "Nothing left to evaluate" in text(r)


def test_agreement_page(client: Any) -> None:
    assert "No good/bad verdict" in text(client.get("/agreement"))
    client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad", "anomaly_type": "step"})
    client.patch("/api/fills/2022/8003/channels/11", json={"verdict": "good"})
    html = text(client.get("/agreement"))
    assert "precision 50.0%" in html and "recall 100.0%" in html
    assert 'href="/fills/2022/8003#ch11"' in html  # the disagreement is listed


def test_set_reviewer_name(client: Any) -> None:
    r = client.post("/user", data={"user": "carla", "back": "/fills?year=2022"})
    assert r.headers["Location"] == "/fills?year=2022"
    assert "pltanomaly_user=carla" in r.headers["Set-Cookie"]
    assert 'value="carla"' in text(client.get("/fills"))
    # no open redirect
    r = client.post("/user", data={"user": "x", "back": "https://evil.example/"})
    assert r.headers["Location"] == "/fills"
    r = client.post("/user", data={"user": "x", "back": "//evil.example/"})
    assert r.headers["Location"] == "/fills"


@pytest.mark.parametrize("url", ["/fills", "/fills/2022/8001", "/eval/2022/8001/5", "/agreement"])
def test_pages_link_only_local_assets(client: Any, url: str) -> None:
    html = text(client.get(url))
    srcs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert srcs
    assert not [s for s in srcs if s.startswith(("http:", "https:", "//"))], srcs


def test_fill_page_names_the_calibration_of_its_scores(client: Any, results: Any) -> None:
    import json

    assert "uncalibrated scores" in text(client.get("/fills/2022/8002"))
    path = results / "2022" / "fills" / "8002.json"
    data = json.loads(path.read_text())
    data["calibration"] = {"file": "cal/2022.json", "sha256": "ab" * 32}
    path.write_text(json.dumps(data))
    html = text(client.get("/fills/2022/8002"))
    assert "scored with calibration <code>cal/2022.json</code> (sha256 abababababab)" in html
