"""The DT run map and bad chamber plots: states, files, stale plots removed."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from pltanomaly.chambers import plot
from pltanomaly.chambers.geometry import CHAMBERS, N_LAYERS, chamber_from_key, max_wires, wires

BAD = "W1_St4_Sec13"


def _hits(key: str, level: float = 50.0) -> np.ndarray:
    chamber = chamber_from_key(key)
    hits = np.full((N_LAYERS, max_wires(chamber)), -1.0)
    for layer in chamber.layers:
        hits[layer - 1, : wires(chamber, layer)] = level
    return hits


def _result() -> dict:
    chambers = {c.key: {"status": "good", "layers": {}} for c in CHAMBERS}
    chambers["W0_St1_Sec1"] = {"status": "not_judged", "reason": "too few", "layers": {}}
    chambers["W0_St1_Sec2"] = {
        "status": "not_judged",
        "reason": "not fetched (http 500)",
        "missing": True,
        "layers": {},
    }
    del chambers["W0_St1_Sec3"]
    event = {"type": "dead_block", "first_wire": 10, "last_wire": 20, "magnitude": 0.0}
    chambers[BAD] = {
        "status": "bad",
        "code": 3,
        "entries": 1000,
        "layers": {
            "1": {"status": "bad", "score": 0.9, "events": [event]},
            "2": {"status": "good", "score": 0.1, "events": []},
            "12": {"status": "dead", "score": 0.99, "events": []},
        },
    }
    return {"run": 7, "status": "finished", "chambers": chambers}


def test_chamber_states() -> None:
    states = plot.chamber_states(_result())
    assert len(states) == len(CHAMBERS)
    assert states["W0_St1_Sec1"] == "not_judged"
    assert states["W0_St1_Sec2"] == "missing" and states["W0_St1_Sec3"] == "missing"
    assert states[BAD] == "bad" and states["W2_St4_Sec14"] == "good"
    assert set(plot.chamber_states({"run": 7, "status": "error"}).values()) == {"missing"}
    assert sorted(plot.bad_layers(_result()["chambers"][BAD])) == [1, 12]


def test_run_map_and_chamber_plot(tmp_path: Path) -> None:
    out = plot.plot_run_map(_result(), tmp_path / "7.png")
    image = mpimg.imread(out)
    assert image.shape[:2] == (640, 1200)
    hits = _hits(BAD)
    hits[0, 9:20] = 0
    chamber_png = plot.plot_chamber(7, BAD, hits, _result()["chambers"][BAD], tmp_path / "c.png")
    assert mpimg.imread(chamber_png).shape[0] == 460
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_run_files_draws_bad_chambers_only_and_removes_stale_ones(tmp_path: Path) -> None:
    rows = [
        {"chamber": key, "layer": layer + 1, "wire": wire + 1, "count": value}
        for key in (BAD, "W2_St4_Sec14")
        for (layer, wire), value in np.ndenumerate(_hits(key))
        if value >= 0
    ]
    parquet = tmp_path / "7.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    folder = tmp_path / "plots" / "7"
    folder.mkdir(parents=True)
    (folder / "W0_St1_Sec1.png").write_bytes(b"old")
    drawn = plot.plot_run_files(_result(), parquet, tmp_path / "plots" / "7.png", folder)
    assert [p.name for p in drawn] == [f"{BAD}.png"]
    assert sorted(p.name for p in folder.iterdir()) == [f"{BAD}.png"]
    assert (tmp_path / "plots" / "7.png").is_file()


def test_failure_placeholder(tmp_path: Path) -> None:
    assert plot.draw_failure(7, "internal error in plot", tmp_path / "7.png").stat().st_size
