"""The review app probed as an attacker would: framing, redirects, cross-origin writes, hosts,
read-only and damaged label databases, hostile JSON. Each case failed before its fix."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from pltanomaly.review.labels import LabelStore, default_labels_path

VERDICT_URL = "/api/fills/2022/8001/channels/3"
FORM_URL = "/fills/2022/8001/channels/3/verdict"


def bare(app: Any) -> FlaskClient:
    """A client that sends no browser header at all: curl, a script, or an old browser."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def count(client: Any) -> int:
    return int(client.get("/api/user_scores.json").get_json()["count"])


# -- framing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/fills", "/fills/2022/8001", "/eval/next", "/api/fills", "/x"])
def test_no_page_can_be_framed(client: Any, url: str) -> None:
    r = client.get(url)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


# -- redirects --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "back",
    [
        "https://evil.com/x",
        "//evil.com/x",
        "/\\evil.com/x",
        "\\\\evil.com/x",
        "javascript:alert(1)",
        "/fills\r\nSet-Cookie: x=1",
        "fills",
    ],
)
def test_reevaluate_form_follows_only_local_paths(client: Any, back: str) -> None:
    r = client.post("/reevaluate", data={"fill": "2022/8002", "back": back})
    assert r.status_code == 302
    assert r.headers["Location"] == "/fills"


def test_user_form_refuses_backslash_redirects(client: Any) -> None:
    r = client.post("/user", data={"user": "x", "back": "/\\evil.com/"})
    assert r.headers["Location"] == "/fills"


# -- cross-origin writes ----------------------------------------------------------------------
def test_form_write_without_any_origin_header_is_refused(app: Any) -> None:
    """A form post with neither Origin, Sec-Fetch-Site nor Referer proves no origin."""
    client = bare(app)
    r = client.post(FORM_URL, data={"verdict": "bad"})
    assert r.status_code == 403
    assert "same-origin" in r.get_data(as_text=True)
    assert client.post("/eval/skip").status_code == 403
    assert client.post("/api/eval/skip").status_code == 403  # an empty POST is a simple request
    assert count(client) == 0


@pytest.mark.parametrize(
    "referer", ["https://evil.example/page", "http://localhost.evil.example/", "null"]
)
def test_cross_site_referer_is_refused(app: Any, referer: str) -> None:
    client = bare(app)
    r = client.post(FORM_URL, data={"verdict": "bad"}, headers={"Referer": referer})
    assert r.status_code == 403
    assert count(client) == 0


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_only_same_origin_fetch_site_is_accepted(app: Any, site: str) -> None:
    r = bare(app).post(FORM_URL, data={"verdict": "bad"}, headers={"Sec-Fetch-Site": site})
    assert r.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Referer": "http://localhost/fills/2022/8001"},
        {"Origin": "http://localhost"},
        {"Sec-Fetch-Site": "same-origin"},
    ],
)
def test_same_origin_form_write_is_accepted(app: Any, headers: dict[str, str]) -> None:
    client = bare(app)
    assert client.post(FORM_URL, data={"verdict": "bad"}, headers=headers).status_code == 302
    assert count(client) == 1


def test_scripts_write_through_the_json_api(app: Any) -> None:
    """curl and scripts send JSON: a browser can send that cross-origin only after a CORS
    preflight, which the app never grants, so it needs no origin header."""
    client = bare(app)
    assert client.patch(VERDICT_URL, json={"verdict": "bad"}).status_code == 200
    r = client.post("/api/eval/skip", data="{}", content_type="application/json")
    assert r.status_code == 200
    preflight = client.options(VERDICT_URL, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


# -- hosts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["[::1]:8080", "[::1]", "127.0.0.1:8080", "LOCALHOST:8080"])
def test_loopback_hosts_are_accepted(client: Any, host: str) -> None:
    assert client.get("/fills", headers={"Host": host}).status_code == 200


def test_ipv6_loopback_form_write(app: Any) -> None:
    client = bare(app)
    r = client.post(
        FORM_URL,
        data={"verdict": "bad"},
        headers={"Host": "[::1]:8080", "Origin": "http://[::1]:8080"},
    )
    assert r.status_code == 302


def test_allowed_hosts_are_the_only_other_names(make_app: Any) -> None:
    client = make_app(allowed_hosts=["plt-review.cern.ch"]).test_client()
    assert client.get("/fills", headers={"Host": "plt-review.cern.ch:8080"}).status_code == 200
    assert client.get("/fills", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    # a rebinding attacker's name resolving to this machine
    assert client.get("/fills", headers={"Host": "rebind.evil.example"}).status_code == 400
    assert client.get("/fills", headers={"Host": "plt-review.cern.ch.evil"}).status_code == 400


# -- hostile JSON -----------------------------------------------------------------------------
def test_deeply_nested_json_is_400(client: Any) -> None:
    body = "[" * 10_000 + "]" * 10_000  # under the 64 kB body limit
    for url, method in ((VERDICT_URL, client.patch), ("/api/reevaluate", client.post)):
        r = method(url, data=body, content_type="application/json")
        assert r.status_code == 400, url
        assert r.get_json()["error"] == "Bad Request"


@pytest.mark.parametrize("field", ["comment", "user"])
def test_lone_surrogate_is_400(client: Any, field: str) -> None:
    body = '{"verdict": "bad", "FIELD": "a\\ud800b"}'.replace("FIELD", field)
    r = client.patch(VERDICT_URL, data=body, content_type="application/json")
    assert r.status_code == 400
    assert "Unicode" in r.get_json()["message"]
    assert count(client) == 0


# -- read-only label database -----------------------------------------------------------------
def _fill_store(path: Path, n: int = 100) -> None:
    store = LabelStore(path)
    channels = [c for c in range(16) if c not in (6, 8, 9)]
    keys = [(f, c) for f in (8001, 8002, 8003) for c in channels]
    for i in range(n):
        fill, ch = keys[i % len(keys)]
        store.save(2022 if i < len(keys) else 2023, fill, ch, "bad" if i % 3 else "good")


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders unwritable, for root too (chattr +i) or by mode otherwise."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make files immutable here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        return
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.fixture
def labelled_db(tmp_path: Path) -> Path:
    folder = tmp_path / "labels"
    folder.mkdir()
    db = folder / "labels.sqlite"
    _fill_store(db, 39)  # every live channel of the three 2022 fills
    return db


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
def test_read_only_database_shows_everything_refuses_writes(
    make_app: Any, labelled_db: Path, folder_too: bool
) -> None:
    paths = [labelled_db, labelled_db.parent] if folder_too else [labelled_db]
    before = LabelStore(labelled_db).all()
    with read_only(*paths):
        client = make_app(labels_db=labelled_db).test_client()
        assert count(client) == 39
        body = client.get("/api/fills/2022/8001").get_json()
        assert len(body["verdicts"]) == 13
        html = client.get("/fills").get_data(as_text=True)
        assert "read-only" in html
        # the queue offers only unlabelled channels: the 2023 ones
        nxt = client.get("/api/eval/next").get_json()
        assert nxt["next"]["year"] == 2023 and nxt["remaining"] == 2 * 12
        r = client.patch(VERDICT_URL, json={"verdict": "good"})
        assert r.status_code == 503 and "read-only" in r.get_json()["message"]
        r = client.post(FORM_URL, data={"verdict": "good"})
        assert r.status_code == 503 and "read-only" in r.get_data(as_text=True)
        r = client.post("/api/reevaluate", json={"fills": [{"year": 2022, "fill": 8001}]})
        assert r.status_code == 503 and "read-only" in r.get_json()["message"]
        assert client.get("/api/user_scores.json").get_json()["count"] == 39
    assert LabelStore(labelled_db).all() == before


# -- a damaged label database -----------------------------------------------------------------
def _garble_verdicts_page(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'verdicts'"
        ).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)


def test_garbled_label_page_leaves_the_fills_viewable(make_app: Any, results: Path) -> None:
    db = default_labels_path(results)
    _fill_store(db, 39)
    _garble_verdicts_page(db)
    client = make_app().test_client()
    r = client.get("/fills")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'data-fill="8001"' in html
    assert "Labels unavailable" in html
    assert client.get("/fills/2022/8001").status_code == 200
    assert "Labels unavailable" in client.get("/fills/2022/8001").get_data(as_text=True)
    body = client.get("/api/fills").get_json()
    assert body["count"] == 7 and "malformed" in body["labels_error"]
    assert all(f["review"] is None for f in body["fills"])
    # the API does not pretend there are no verdicts
    assert client.get("/api/user_scores.json").status_code == 503
