"""``pltanomaly review``: the subcommand, its defaults, and what it serves."""

from __future__ import annotations

import json
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from served import serving

from pltanomaly.cli import build_parser
from pltanomaly.review import DEFAULT_HOST, DEFAULT_PORT, is_loopback, run


def test_defaults_bind_to_loopback() -> None:
    args = build_parser().parse_args(["review", "--results", "results/"])
    assert (args.host, args.port) == ("127.0.0.1", 8080) == (DEFAULT_HOST, DEFAULT_PORT)
    assert args.results == Path("results/")
    assert args.labels is None and args.config is None and args.threshold is None
    assert args.func is run


def test_options() -> None:
    args = build_parser().parse_args(
        ["review", "--results", "r", "--host", "0.0.0.0", "--port", "9000", "--labels", "l.db",
         "--config", "c.yaml", "--threshold", "0.3"]
    )  # fmt: skip
    assert (args.host, args.port, args.labels, args.threshold) == (
        "0.0.0.0",
        9000,
        Path("l.db"),
        0.3,
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("10.1.2.3", False), ("plt.cern.ch", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


class FakeWaitress:
    """Stands in for waitress.create_server: records what it was asked to serve."""

    def __init__(self) -> None:
        self.served: dict[str, Any] = {}
        self.effective_port = 0

    def __call__(self, app: Any, **kw: Any) -> FakeWaitress:
        self.served.update(app=app, **kw)
        self.effective_port = kw["port"]
        return self

    def run(self) -> None:
        self.served["ran"] = True


@pytest.fixture
def fake_waitress(monkeypatch: Any) -> FakeWaitress:
    fake = FakeWaitress()
    monkeypatch.setattr("waitress.create_server", fake)
    monkeypatch.setattr(
        "werkzeug.serving.run_simple",
        lambda *a, **k: pytest.fail("the development server runs only with --debug"),
    )
    return fake


def test_run_serves_the_app_through_waitress(results: Path, fake_waitress: FakeWaitress) -> None:
    args = build_parser().parse_args(
        ["review", "--results", str(results), "--port", "8123", "--threads", "3"]
    )
    assert args.func(args) == 0
    served = fake_waitress.served
    assert (served["host"], served["port"], served["threads"], served["ran"]) == (
        "127.0.0.1",
        8123,
        3,
        True,
    )
    client = served["app"].test_client()
    assert client.get("/api/fills").get_json()["count"] == 7
    assert client.get("/fills", headers={"Host": "evil.example"}).status_code == 400


def test_debug_uses_the_development_server(results: Path, monkeypatch: Any) -> None:
    served: dict[str, Any] = {}

    def fake_run_simple(host: str, port: int, app: Any, **kw: Any) -> None:
        served.update(host=host, port=port, app=app, **kw)

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    args = build_parser().parse_args(["review", "--results", str(results), "--debug"])
    assert args.func(args) == 0
    assert (served["host"], served["port"], served["threaded"]) == ("127.0.0.1", 8080, True)
    assert served["use_debugger"] is False


def test_run_on_all_interfaces_needs_allowed_hosts(
    results: Path, fake_waitress: FakeWaitress, caplog: Any
) -> None:
    args = build_parser().parse_args(["review", "--results", str(results), "--host", "0.0.0.0"])
    assert args.func(args) == 2
    assert "--allow-host" in caplog.text and fake_waitress.served == {}
    args = build_parser().parse_args(
        ["review", "--results", str(results), "--host", "0.0.0.0",
         "--allow-host", "plt-review.cern.ch"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert "anyone who can reach" in caplog.text
    client = fake_waitress.served["app"].test_client()
    assert client.get("/fills", headers={"Host": "plt-review.cern.ch"}).status_code == 200
    assert client.get("/fills", headers={"Host": "rebind.evil.example"}).status_code == 400


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        pytest.param(
            "::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
        ),
    ],
)
def test_waitress_serves_reads_and_browser_writes(make_app: Any, host: str) -> None:
    """Real HTTP through waitress: on ::1 the browser's Host is [::1]:PORT, and it is served."""
    app = make_app()
    with serving(app, host) as base:
        with urllib.request.urlopen(f"{base}/api/fills", timeout=10) as r:
            assert r.status == 200 and r.headers["Server"] == "pltanomaly-review"
            assert json.load(r)["count"] == 7
        form = urllib.parse.urlencode({"verdict": "bad"}).encode()
        request = urllib.request.Request(
            f"{base}/fills/2022/8001/channels/3/verdict",
            data=form,
            headers={"Origin": base, "Sec-Fetch-Site": "same-origin"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200 and r.url.endswith("/fills/2022/8001#ch3")
    assert app.extensions["pltanomaly_review"].store.get(2022, 8001, 3).verdict == "bad"
