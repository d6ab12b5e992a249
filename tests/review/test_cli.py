"""``pltanomaly review``: the subcommand, its defaults, and what it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


def test_run_serves_the_app(results: Path, monkeypatch: Any) -> None:
    served: dict[str, Any] = {}

    def fake_run_simple(host: str, port: int, app: Any, **kw: Any) -> None:
        served.update(host=host, port=port, app=app, **kw)

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    args = build_parser().parse_args(["review", "--results", str(results), "--port", "8123"])
    assert args.func(args) == 0
    assert (served["host"], served["port"], served["threaded"]) == ("127.0.0.1", 8123, True)
    assert served["use_debugger"] is False
    client = served["app"].test_client()
    assert client.get("/api/fills").get_json()["count"] == 7
    assert client.get("/fills", headers={"Host": "evil.example"}).status_code == 400


def test_run_on_all_interfaces_needs_allowed_hosts(
    results: Path, monkeypatch: Any, caplog: Any
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(
        "werkzeug.serving.run_simple", lambda host, port, app, **kw: served.update(app=app)
    )
    args = build_parser().parse_args(["review", "--results", str(results), "--host", "0.0.0.0"])
    assert args.func(args) == 2
    assert "--allow-host" in caplog.text and served == {}
    args = build_parser().parse_args(
        ["review", "--results", str(results), "--host", "0.0.0.0",
         "--allow-host", "plt-review.cern.ch"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert "anyone who can reach" in caplog.text
    client = served["app"].test_client()
    assert client.get("/fills", headers={"Host": "plt-review.cern.ch"}).status_code == 200
    assert client.get("/fills", headers={"Host": "rebind.evil.example"}).status_code == 400
