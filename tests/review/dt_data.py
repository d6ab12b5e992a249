"""A small DT results folder (``{results}/dt/``) as the results contract describes it.

Run 355101 (finished): W-2_St1_Sec1 bad (layer 9 inefficient, score 0.97, saliency on wires
10..12), W0_St2_Sec5 good (layer 3 at 0.45: the layer nearest the threshold), W1_St4_Sec4 (MB4,
8 layers) bad with a hot cell at 0.62, W0_St4_Sec13 not judged. Run 355102 (partial): W2_St3_Sec7
good (layer 1 at 0.30), one chamber failed to fetch. Run 355103: fetch error, no Parquet. Run
355104: a status record only (loading).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pltanomaly.chambers.fetch import METADATA_KEY, SCHEMA
from pltanomaly.chambers.geometry import chamber_from_key, wires

FINISHED, PARTIAL, ERROR, LOADING = 355101, 355102, 355103, 355104
BAD = "W-2_St1_Sec1"
NEAR = "W0_St2_Sec5"
MB4 = "W1_St4_Sec4"
NOT_JUDGED = "W0_St4_Sec13"
PARTIAL_CHAMBER = "W2_St3_Sec7"


def layer(score: float, events: list[dict[str, Any]] = (), saliency: Any = None) -> dict:
    status = "bad" if events else "good"
    out = {"status": status, "score": score, "events": list(events)}
    if saliency is not None:
        out["saliency"] = saliency
    return out


def event(type_: str, first: int, last: int, magnitude: float, score: float, **extra: Any) -> dict:
    return {
        "type": type_,
        "first_wire": first,
        "last_wire": last,
        "magnitude": magnitude,
        "score": score,
        **extra,
    }


def good_chamber(key: str, scores: dict[int, float] | None = None) -> dict[str, Any]:
    layers = {str(n): layer((scores or {}).get(n, 0.05)) for n in chamber_from_key(key).layers}
    return {"status": "good", "code": 0, "entries": 40000, "layers": layers}


def finished_result() -> dict[str, Any]:
    bad = good_chamber(BAD)
    bad["layers"]["9"] = layer(
        0.97,
        [event("inefficient_layer", 1, 50, 0.62, 0.97, evidence=3.2)],
        [{"wire": 10, "weight": 1.0}, {"wire": 11, "weight": 0.8}, {"wire": 12, "weight": 0.5}],
    )
    bad["layers"]["1"]["saliency"] = [{"wire": 20, "weight": 1.0}]  # a good layer's: listed only
    bad.update(status="bad", code=2)
    mb4 = good_chamber(MB4)
    mb4["layers"]["10"] = layer(0.62, [event("hot_cell", 40, 40, 20.0, 0.62)])
    mb4["status"] = "bad"
    return {
        "run": FINISHED,
        "status": "finished",
        "entries": 160000,
        "chambers": {
            BAD: bad,
            NEAR: good_chamber(NEAR, {3: 0.45}),
            MB4: mb4,
            NOT_JUDGED: {"status": "not_judged", "reason": "too few entries", "layers": {}},
        },
    }


def partial_result() -> dict[str, Any]:
    return {
        "run": PARTIAL,
        "status": "partial",
        "entries": 40000,
        "chambers": {PARTIAL_CHAMBER: good_chamber(PARTIAL_CHAMBER, {1: 0.30})},
    }


def write_parquet(path: Path, run: int, keys: list[str], status: str) -> None:
    rows: dict[str, list[Any]] = {
        c: [] for c in ("chamber", "wheel", "station", "sector", "layer", "wire", "count")
    }
    for key in keys:
        chamber = chamber_from_key(key)
        for n in chamber.layers:
            for w in range(1, wires(chamber, n) + 1):
                for name, value in zip(rows, (key, *chamber, n, w, 100.0 + w), strict=True):
                    rows[name].append(value)
    meta = {"run": run, "status": status, "reason": None, "failures": {}}
    if status == "partial":
        meta["failures"] = {"W2_St1_Sec1": {"kind": "timeout", "detail": "read timed out"}}
        meta["reason"] = "1 chamber(s) not fetched"
    schema = SCHEMA.with_metadata({METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), path)


def build_dt(results: Path) -> Path:
    """Write ``results/dt/`` and return it."""
    root = results / "dt"
    (root / "status" / "dt_fetch").mkdir(parents=True, exist_ok=True)
    (root / f"{FINISHED}.json").write_text(json.dumps(finished_result()))
    write_parquet(root / f"{FINISHED}.parquet", FINISHED, [BAD, NEAR, MB4, NOT_JUDGED], "finished")
    (root / f"{PARTIAL}.json").write_text(json.dumps(partial_result()))
    write_parquet(root / f"{PARTIAL}.parquet", PARTIAL, [PARTIAL_CHAMBER], "partial")
    error = {"run": ERROR, "status": "error", "reason": "connection refused", "chambers": {}}
    (root / f"{ERROR}.json").write_text(json.dumps(error))
    (root / "status" / "dt_fetch" / f"{LOADING}.json").write_text(json.dumps({"run": LOADING}))
    return root


class FakeDtDetector:
    """Stands in for the DT detector: calls every judged chamber of the Parquet bad in layer 1
    (score 0.9), records its calls; can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, Path]] = []
        self.fail: Exception | None = None

    def __call__(self, run: int, parquet: Path) -> dict[str, Any]:
        self.calls.append((run, parquet))
        if self.fail is not None:
            raise self.fail
        keys = sorted(set(pq.read_table(parquet, columns=["chamber"])["chamber"].to_pylist()))
        chambers = {}
        for key in keys:
            c = good_chamber(key)
            c["layers"]["1"] = layer(0.9, [event("dead_block", 1, 8, 0.0, 0.9, evidence=2.0)])
            c["status"] = "bad"
            chambers[key] = c
        return {"run": run, "status": "finished", "entries": 1, "chambers": chambers}
