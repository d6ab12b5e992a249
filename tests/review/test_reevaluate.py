"""Re-evaluation: PENDING_REEVALUATION -> REEVALUATING -> FINISHED | ERROR, in the background."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pltanomaly.channels.detect import DetectorSettings
from pltanomaly.review.labels import ERROR, FINISHED, PENDING, RUNNING


def reevaluate(client: Any, *fills: tuple[int, int]) -> Any:
    return client.post(
        "/api/reevaluate", json={"fills": [{"year": y, "fill": f} for y, f in fills]}
    )


def test_reevaluate_rewrites_the_result(client: Any, results: Path, fake_detector: Any) -> None:
    before = json.loads((results / "2022" / "fills" / "8002.json").read_text())
    assert before["anomalous"] is False
    r = reevaluate(client, (2022, 8002))
    assert r.status_code == 202
    job = client.get("/api/jobs?year=2022&fill=8002").get_json()["jobs"][0]
    assert job["state"] == FINISHED and "max score 0.440 -> 0.990" in job["message"]
    call = fake_detector.calls[0]
    assert (call["fill"], call["year"], call["rows"]) == (8002, 2022, 16 * 2469)
    after = json.loads((results / "2022" / "fills" / "8002.json").read_text())
    assert after["anomalous"] is True and after["channels"]["0"]["status"] == "anomalous"
    body = client.get("/api/fills/2022/8002").get_json()
    assert body["summary"]["status"] == "anomalous"
    assert body["summary"]["job"]["state"] == FINISHED
    html = client.get("/fills/2022/8002").get_data(as_text=True)
    assert 'data-job-state="FINISHED"' in html
    assert 'data-job-state="FINISHED"' in client.get("/fills?year=2022").get_data(as_text=True)


def test_settings_and_dead_channels_come_from_the_config(make_app: Any, fake_detector: Any) -> None:
    config = {
        "detector": {"step_min": 0.03, "spike_min": 0.3},
        "years": {
            2022: {"source": "x", "dead_channels": [6, 8, 9], "detector": {"spike_min": 0.5}},
            "2023": {"source": "y"},
        },
    }
    client = make_app(config=config).test_client()
    assert reevaluate(client, (2022, 8001), (2023, 8501)).status_code == 202
    first, second = fake_detector.calls
    # the year's override, validated and serialised as the workflow passes them
    assert first["settings"] == DetectorSettings(step_min=0.03, spike_min=0.5).to_dict()
    assert first["dead_channels"] == (6, 8, 9)
    assert second["settings"] == DetectorSettings(step_min=0.03, spike_min=0.3).to_dict()
    assert second["dead_channels"] == ()


def test_no_config_means_default_settings(client: Any, fake_detector: Any) -> None:
    reevaluate(client, (2022, 8001))
    assert fake_detector.calls[0]["settings"] == DetectorSettings().to_dict()
    assert fake_detector.calls[0]["dead_channels"] == ()


def test_config_from_yaml_file(make_app: Any, fake_detector: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "results: results\ndetector:\n  step_min: 0.03\n"
        "years:\n  2022:\n    source: demo-data/22\n    dead_channels: [6, 8]\n"
    )
    client = make_app(config=cfg).test_client()
    reevaluate(client, (2022, 8001))
    assert fake_detector.calls[0]["settings"] == DetectorSettings(step_min=0.03).to_dict()
    assert fake_detector.calls[0]["dead_channels"] == (6, 8)


def test_bad_config_fails_at_start(make_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="detector"):
        make_app(config={"detector": [1, 2]})
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        make_app(config=cfg)


def test_plot_is_redrawn_for_anomalous_results(
    client: Any, results: Path, fake_plotter: Any
) -> None:
    reevaluate(client, (2022, 8002))  # the fake detector flags channel 0
    assert [c["fill"] for c in fake_plotter.calls] == [8002]
    assert fake_plotter.calls[0]["out"] == results / "2022" / "plots" / "8002.png"
    assert fake_plotter.calls[0]["year"] == 2022
    assert (results / "2022" / "plots" / "8002.png").read_bytes() == fake_plotter.PNG


def test_plot_failure_keeps_the_new_result(client: Any, results: Path, fake_plotter: Any) -> None:
    fake_plotter.fail = ValueError("no axes")
    reevaluate(client, (2022, 8002))
    job = client.get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == FINISHED
    assert "plot not redrawn (ValueError: no axes)" in job["message"]
    assert json.loads((results / "2022" / "fills" / "8002.json").read_text())["anomalous"]


def test_normal_result_without_plot_draws_none(make_app: Any, fake_plotter: Any) -> None:
    def normal(series: Any, **kw: Any) -> dict[str, Any]:
        chans = {str(c): {"status": "normal", "score": 0.1, "events": []} for c in range(16)}
        return {"fill": kw["fill"], "year": kw["year"], "start": 1.0, "end": 2.0,
                "anomalous": False, "channels": chans}  # fmt: skip

    client = make_app(detect_fn=normal).test_client()
    reevaluate(client, (2023, 8502))  # normal, and had no plot
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == FINISHED
    assert fake_plotter.calls == []


def test_detector_failure_is_an_error_state(client: Any, results: Path, fake_detector: Any) -> None:
    original = (results / "2022" / "fills" / "8001.json").read_text()
    fake_detector.fail = RuntimeError("window too short")
    assert reevaluate(client, (2022, 8001)).status_code == 202
    job = client.get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == ERROR and job["message"] == "RuntimeError: window too short"
    assert (results / "2022" / "fills" / "8001.json").read_text() == original  # untouched
    assert "RuntimeError: window too short" in client.get("/fills/2022/8001").get_data(as_text=True)


def test_invalid_detector_result_is_an_error(make_app: Any, results: Path) -> None:
    client = make_app(detect_fn=lambda series, **kw: {"fill": kw["fill"]}).test_client()
    reevaluate(client, (2022, 8001))
    job = client.get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == ERROR and "invalid result" in job["message"]
    assert json.loads((results / "2022" / "fills" / "8001.json").read_text())["channels"]


def test_missing_detector_module_is_an_error(make_app: Any, monkeypatch: Any) -> None:
    """The default detector is imported inside the job: an ImportError becomes ERROR."""
    import builtins

    real_import = builtins.__import__

    def no_detect(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pltanomaly.channels.detect":
            raise ImportError("No module named 'pltanomaly.channels.detect'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_detect)
    client = make_app(detect_fn=None).test_client()
    reevaluate(client, (2022, 8001))
    job = client.get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == ERROR and "ImportError" in job["message"]


def test_states_in_order_with_a_background_thread(make_app: Any, fake_detector: Any) -> None:
    fake_detector.gate = threading.Event()
    fake_detector.started = threading.Event()
    app = make_app(executor=ThreadPoolExecutor(max_workers=1))
    client = app.test_client()
    r = reevaluate(client, (2022, 8001), (2022, 8003))
    assert r.status_code == 202
    assert [j["state"] for j in r.get_json()["jobs"]] == [PENDING, PENDING]
    assert fake_detector.started.wait(5)
    states = {j["fill"]: j["state"] for j in client.get("/api/jobs").get_json()["jobs"]}
    assert states == {8001: RUNNING, 8003: PENDING}
    html = client.get("/fills/2022/8001").get_data(as_text=True)
    assert 'data-job-state="REEVALUATING"' in html
    assert "Re-evaluate with current config</button>" in html and "disabled>Re-evaluate" in html
    # a fill already queued is not queued twice
    again = reevaluate(client, (2022, 8003)).get_json()["jobs"][0]
    assert again["state"] == PENDING
    fake_detector.gate.set()
    app.extensions["pltanomaly_review"].runner.wait(timeout=10)
    states = {j["fill"]: j["state"] for j in client.get("/api/jobs").get_json()["jobs"]}
    assert states == {8001: FINISHED, 8003: FINISHED}
    assert len(fake_detector.calls) == 2


def test_interrupted_jobs_are_errors_after_a_restart(make_app: Any, fake_detector: Any) -> None:
    fake_detector.gate = threading.Event()
    fake_detector.started = threading.Event()
    app = make_app(executor=ThreadPoolExecutor(max_workers=1))
    reevaluate(app.test_client(), (2022, 8001))
    assert fake_detector.started.wait(5)
    restarted = make_app()  # a new server on the same label database
    job = restarted.test_client().get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == ERROR and "interrupted" in job["message"]
    fake_detector.gate.set()
    app.extensions["pltanomaly_review"].runner.wait(timeout=10)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"fills": [{"year": 2022, "fill": 9999}]}, 404),
        ({"fills": [{"year": 2022, "fill": 8001}, {"year": 2030, "fill": 8001}]}, 404),
        ({"fills": [{"year": 2022, "fill": 8004}]}, 409),  # failed fill: no series
        ({"fills": []}, 400),
        ({"fills": "8001"}, 400),
        ({"fills": [8001]}, 400),
        ({"fills": [{"year": 2022}]}, 400),
        ({"fills": [{"year": 2022, "fill": "abc"}]}, 400),
        ({}, 400),
        ([], 400),
    ],
)
def test_reevaluate_errors(client: Any, fake_detector: Any, body: Any, status: int) -> None:
    r = client.post("/api/reevaluate", json=body)
    assert r.status_code == status, r.get_json()
    assert fake_detector.calls == []
    assert client.get("/api/jobs").get_json()["jobs"] == []


def test_reevaluate_needs_json(client: Any) -> None:
    assert client.post("/api/reevaluate", data="fills=8001").status_code == 400
    assert client.get("/api/jobs?year=x").status_code == 400


def test_reevaluate_forms(client: Any, fake_detector: Any) -> None:
    r = client.post("/fills/2022/8001/reevaluate")
    assert r.status_code == 302 and r.headers["Location"] == "/fills/2022/8001"
    r = client.post(
        "/reevaluate", data={"fill": ["2022/8002", "2023/8501"], "back": "/fills?year=2022"}
    )
    assert r.status_code == 302 and r.headers["Location"] == "/fills?year=2022"
    assert [c["fill"] for c in fake_detector.calls] == [8001, 8002, 8501]
    assert client.post("/reevaluate", data={}).status_code == 400
    assert client.post("/reevaluate", data={"fill": "../etc"}).status_code == 400
    assert client.post("/fills/2022/9999/reevaluate").status_code == 404


@pytest.mark.skipif(
    importlib.util.find_spec("pltanomaly.channels.detect") is None,
    reason="pltanomaly.channels.detect (the real detector) is not written yet",
)
def test_reevaluate_with_the_real_detector(make_app: Any, results: Path) -> None:
    from pltanomaly.review.results import normalise_fill

    client = make_app(detect_fn=None, plot_fn=None).test_client()
    plot = results / "2022" / "plots" / "8001.png"
    old_plot = plot.read_bytes()
    t0 = time.time()
    assert reevaluate(client, (2022, 8001)).status_code == 202
    job = client.get("/api/jobs").get_json()["jobs"][0]
    assert job["state"] == FINISHED, job["message"]
    result = json.loads((results / "2022" / "fills" / "8001.json").read_text())
    normalise_fill(result, 2022, 8001)  # a result the pages can read
    assert result["channels"]["3"]["status"] == "anomalous"  # the 10 % step is found
    assert plot.read_bytes() != old_plot and plot.read_bytes().startswith(b"\x89PNG")
    assert time.time() - t0 < 30


def test_post_reports_the_jobs_it_queued_not_a_later_state(
    make_app: Any, fake_detector: Any
) -> None:
    """The answer to POST /api/reevaluate says what the request did (queued), even when the
    worker has already moved the job on (here: an inline executor finishes it at once)."""
    client = make_app().test_client()
    r = reevaluate(client, (2022, 8001))
    assert r.status_code == 202
    assert [j["state"] for j in r.get_json()["jobs"]] == [PENDING]
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == FINISHED
