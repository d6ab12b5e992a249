"""Relative and symlinked ``--results`` paths: the app resolves them once, at start-up, and
serves the same files whatever the working directory later (issue 19)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import pltanomaly
from pltanomaly.review.labels import FINISHED

PLOT = "/plots/2022/8001.png"


def _is_plot(response: Any, results: Path) -> bool:
    return (
        response.status_code == 200
        and response.data == (results / "2022" / "plots" / "8001.png").read_bytes()
    )


@pytest.mark.parametrize("name", ["results", "link"])
def test_relative_results_served_from_anywhere(
    make_app: Any, results: Path, tmp_path: Path, monkeypatch: Any, fake_plotter: Any, name: str
) -> None:
    """Relative (directly or through a symlink), then the working directory changes."""
    if name == "link":
        (tmp_path / "link").symlink_to(results, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    app = make_app(results_dir=Path(name), labels_db=Path("labels.sqlite"))
    review = app.extensions["pltanomaly_review"]
    client = app.test_client()
    assert _is_plot(client.get(PLOT), results)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _is_plot(client.get(PLOT), results)
    assert client.get("/fills/2022/8001").status_code == 200
    assert client.get("/api/fills/2022/8001/series").status_code == 200
    verdict = {"verdict": "bad", "anomaly_type": "step"}
    assert client.patch("/api/fills/2022/8001/channels/3", json=verdict).status_code == 200
    jobs = client.post("/api/reevaluate", json={"fills": [{"year": 2022, "fill": 8001}]})
    assert jobs.status_code == 202 and review.store.job(2022, 8001).state == FINISHED
    assert fake_plotter.calls[-1]["out"] == tmp_path / name / "2022" / "plots" / "8001.png"
    assert client.get(PLOT).data == fake_plotter.PNG
    assert client.get("/api/agreement.json").status_code == 200
    assert not (elsewhere / name).exists() and not (elsewhere / "labels.sqlite").exists()
    assert (tmp_path / "labels.sqlite").is_file()


def test_default_labels_sit_beside_the_symlink(
    make_app: Any, results: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "link").symlink_to(results, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    app = make_app(results_dir=Path("link"))
    assert app.extensions["pltanomaly_review"].db_path == tmp_path / "link.labels.sqlite"


def _lines(stream: Any, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def test_review_command_serves_plots_of_a_relative_results_folder(
    results: Path, tmp_path: Path
) -> None:
    """``pltanomaly review --results results`` as the README runs it, in another process whose
    working directory holds the results, far from the package folder."""
    src = Path(pltanomaly.__file__).resolve().parents[1]
    paths = [str(src), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, "-m", "pltanomaly.cli", "review", "--results", "results"]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", "--threads", "2"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    try:
        log: list[str] = []
        base = None
        while base is None:
            try:
                log.append(lines.get(timeout=60))
            except queue.Empty:
                pytest.fail("the review command did not start within 60 s:\n" + "".join(log))
            if m := re.search(r"waitress with \d+ threads on (http://\S+?)/?$", log[-1]):
                base = m[1]
        with urllib.request.urlopen(base + PLOT, timeout=30) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/png"
            assert r.read() == (results / "2022" / "plots" / "8001.png").read_bytes()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
