"""Fixtures of the review app tests; the results folder they serve is built by review_data."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from review_data import build_results


@pytest.fixture(scope="session")
def results_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_results(tmp_path_factory.mktemp("template") / "results")


@pytest.fixture
def results(results_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the fixture results folder for each test."""
    dest = tmp_path / "results"
    shutil.copytree(results_template, dest)
    return dest


class FakeDetector:
    """Stands in for pltanomaly.channels.detect.detect_fill: flags the channel with the largest
    late/early rate change, records its calls, and can be made to fail or to wait."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.gate: Any = None  # a threading.Event to wait on, if set
        self.started: Any = None  # a threading.Event set when a call begins

    def __call__(self, series: pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
        if self.started is not None:
            self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls.append({"rows": len(series), **kwargs})
        if self.fail is not None:
            raise self.fail
        fill, year = kwargs["fill"], kwargs["year"]
        dead = set(kwargs.get("dead_channels") or ())
        start, end = float(series["timestamp"].min()), float(series["timestamp"].max())
        channels: dict[str, Any] = {}
        for ch, grp in series.groupby("channel"):
            ch = int(ch)
            if ch in dead or grp["rate"].median() <= 1.0:
                channels[str(ch)] = {"status": "dead", "score": 0.0, "events": []}
                continue
            channels[str(ch)] = {"status": "normal", "score": 0.05, "events": []}
        channels["0"] = {
            "status": "anomalous",
            "score": 0.99,
            "events": [{"type": "noise", "start": start, "end": end, "score": 0.99}],
        }
        return {
            "fill": fill,
            "year": year,
            "start": start,
            "end": end,
            "anomalous": True,
            "channels": channels,
        }


@pytest.fixture
def fake_detector() -> FakeDetector:
    return FakeDetector()


def _marker_png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 1), dpi=40)
    ax.text(0.5, 0.5, "re-evaluated", ha="center", va="center")
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


class FakePlotter:
    """Stands in for pltanomaly.channels.plot.plot_fill: writes a marker PNG and records its
    calls."""

    PNG = _marker_png()

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    def __call__(
        self, series: pd.DataFrame, result: dict[str, Any], out_png: Path, **kw: Any
    ) -> Path:
        self.calls.append({"fill": result["fill"], "out": Path(out_png), **kw})
        if self.fail is not None:
            raise self.fail
        Path(out_png).write_bytes(self.PNG)
        return Path(out_png)


@pytest.fixture
def fake_plotter() -> FakePlotter:
    return FakePlotter()


class BrowserClient(FlaskClient):
    """A test client that sends what a browser on the app's own pages sends with every request:
    ``Sec-Fetch-Site: same-origin`` (a test may override it per request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"


@pytest.fixture
def make_app(
    results: Path, fake_detector: FakeDetector, fake_plotter: FakePlotter
) -> Iterator[Callable[..., Any]]:
    from pltanomaly.review.app import create_app
    from pltanomaly.review.jobs import SyncExecutor

    made = []

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("detect_fn", fake_detector)
        kwargs.setdefault("plot_fn", fake_plotter)
        kwargs.setdefault("executor", SyncExecutor())
        app = create_app(kwargs.pop("results_dir", results), **kwargs)
        app.config["TESTING"] = True
        app.test_client_class = BrowserClient
        made.append(app)
        return app

    yield factory
    for app in made:
        app.extensions["pltanomaly_review"].shutdown()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def fake_dt_detector() -> Any:
    from dt_data import FakeDtDetector

    return FakeDtDetector()


@pytest.fixture
def dt_app(make_app: Callable[..., Any], results: Path, fake_dt_detector: Any) -> Any:
    """The app over the review results plus the DT folder of dt_data."""
    from dt_data import build_dt

    build_dt(results)
    app = make_app(dt_detect_fn=fake_dt_detector)
    yield app
    app.extensions["pltanomaly_dt_review"].shutdown()


@pytest.fixture
def dt_client(dt_app: Any) -> Any:
    return dt_app.test_client()
