"""The DT run's workflow steps: fetch, detect and plot records, error results, retry tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dqmgui_server import DqmGuiServer, generate_run

import pltanomaly.chambers.detect as detect
import pltanomaly.chambers.job as job
from pltanomaly.chambers.fetch import needs_fetch, read_metadata
from pltanomaly.chambers.geometry import CHAMBERS
from pltanomaly.chambers.source import DqmSource
from pltanomaly.core.config import ConfigError
from pltanomaly.core.steps import retry_tokens

RUN = 355100
FEW = CHAMBERS[:3]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return job.run_paths(tmp_path / "dt", RUN)


def _fetch(paths: dict[str, Path], faults: dict = {}) -> dict:  # noqa: B006 (read only)
    with DqmGuiServer({RUN: generate_run(1, FEW)}) as server:
        for chamber, fault in faults.items():
            server.script(RUN, chamber, fault)
        source = DqmSource(server.base_url, (RUN,))
        return job.fetch_step(
            RUN, source, paths["occupancy"], paths["fetch"], retries=0, chambers=FEW
        )


def test_paths_of_a_run(tmp_path: Path) -> None:
    paths = job.run_paths(tmp_path, 7)
    assert paths["result"] == tmp_path / "7.json"
    assert paths["fetch"] == tmp_path / "status" / "fetch" / "7.json"
    assert paths["chamber_plots"] == tmp_path / "plots" / "7"


def test_fetch_step_writes_the_parquet_and_a_final_record(paths: dict[str, Path]) -> None:
    record = _fetch(paths)
    assert record["status"] == "finished" and record["chambers_fetched"] == len(FEW)
    assert read_metadata(paths["occupancy"])["run"] == RUN
    assert not needs_fetch(paths["fetch"])


def test_a_partial_fetch_is_detected_on_what_it_has(
    paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetch(paths, {FEW[0]: "404"})
    assert needs_fetch(paths["fetch"])
    seen = {}

    def fake_detect(run, chambers, settings=None):
        seen.update(chambers)
        return {
            "run": run,
            "status": "finished",
            "entries": 1,
            "chambers": {c.key: {"status": "not_judged", "layers": {}} for c in CHAMBERS},
        }

    monkeypatch.setattr(detect, "detect_run", fake_detect)
    record = job.detect_step(
        RUN, paths["occupancy"], paths["fetch"], paths["result"], paths["detect"]
    )
    assert record["status"] == "ok" and record["fetch_status"] == "partial"
    assert sorted(seen) == sorted(c.key for c in FEW[1:])
    result = json.loads(paths["result"].read_text())
    missing = result["chambers"][FEW[0].key]
    assert missing == {
        "status": "not_judged",
        "layers": {},
        "reason": "not fetched (not_found 404)",
        "missing": True,
    }
    assert "missing" not in result["chambers"][FEW[1].key]
    assert result["fetch"]["status"] == "partial"
    assert result["status"] == "partial" and "1 of 3 chambers missing" in result["reason"]


def test_an_unknown_run_gets_an_error_result_and_a_map(paths: dict[str, Path]) -> None:
    with DqmGuiServer({}) as server:
        record = job.fetch_step(
            RUN,
            DqmSource(server.base_url, (RUN,)),
            paths["occupancy"],
            paths["fetch"],
            retries=0,
            chambers=FEW,
        )
    assert record["status"] == "unknown_run"
    detected = job.detect_step(
        RUN, paths["occupancy"], paths["fetch"], paths["result"], paths["detect"]
    )
    assert detected["status"] == "skipped"
    result = json.loads(paths["result"].read_text())
    assert result["status"] == "error" and f"no run {RUN}" in result["reason"]
    plotted = job.plot_step(
        RUN,
        paths["result"],
        paths["occupancy"],
        paths["map"],
        paths["chamber_plots"],
        paths["plot"],
    )
    assert plotted["status"] == "ok" and plotted["chamber_plots"] == []
    assert paths["map"].stat().st_size > 10_000


def test_a_fetch_that_raises_is_an_error_record(
    paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(job, "fetch_run", broken)
    record = job.fetch_step(RUN, DqmSource("http://127.0.0.1:9", (RUN,)), *_fetch_out(paths))
    assert record["status"] == "error" and "OSError: disk on fire" in record["reason"]
    assert paths["occupancy"].is_file() and needs_fetch(paths["fetch"])


def _fetch_out(paths: dict[str, Path]) -> tuple[Path, Path]:
    return paths["occupancy"], paths["fetch"]


def test_a_detector_crash_is_an_error_result_retried_next_time(
    paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetch(paths)

    def crash(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(detect, "detect_run", crash)
    record = job.detect_step(
        RUN, paths["occupancy"], paths["fetch"], paths["result"], paths["detect"]
    )
    assert record["status"] == "failed" and record["internal"] is True
    result = json.loads(paths["result"].read_text())
    assert result["status"] == "error"
    assert result["reason"] == "internal error in detect: ZeroDivisionError: oops"
    assert RUN in retry_tokens(paths["result"].parent, "detect")


def test_a_missing_fetch_record_is_an_error_result(paths: dict[str, Path]) -> None:
    record = job.detect_step(
        RUN, paths["occupancy"], paths["fetch"], paths["result"], paths["detect"]
    )
    assert record["status"] == "failed"
    assert "missing or unreadable" in json.loads(paths["result"].read_text())["reason"]


def test_detector_settings_from_the_config() -> None:
    settings = job.detector_settings({"spreads": 5.0, "features": {"hot_ratio": 6.0}})
    assert settings.spreads == 5.0 and settings.features.hot_ratio == 6.0
    as_dict = job.settings_dict(settings)
    assert as_dict["features"]["hot_ratio"] == 6.0
    assert job.settings_dict(job.detector_settings({})) == job.settings_dict(detect.Settings())
    assert job.settings_dict(
        job.detector_settings({"spreads": detect.Settings().spreads})
    ) == job.settings_dict(job.detector_settings(None))
    with pytest.raises(ConfigError, match=r"dt\.detector"):
        job.detector_settings({"sparks": 1})
    with pytest.raises(ConfigError, match=r"dt\.detector"):
        job.detector_settings({"features": {"nope": 1}})


def test_error_result_carries_the_fetch_summary() -> None:
    result = job.error_result(5, "why", {"status": "error", "reason": "why", "failures": {}})
    assert result["status"] == "error" and result["chambers"] == {}
    assert result["fetch"]["status"] == "error"
    assert "failures" not in result["fetch"]
