"""Chamber arrays (12, wires) with -1 for cells that do not exist, from the fetcher's
long-format Parquet or from the DQM GUI's JSON of one chamber."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pltanomaly.chambers.geometry import N_LAYERS, chamber_from_key, max_wires
from pltanomaly.core.errors import InputError

COLUMNS = ("chamber", "layer", "wire", "count")


def chambers_from_long(frame: Any, source: str = "table") -> dict[str, np.ndarray]:
    """Chamber key -> hits from rows (chamber, layer 1..12, wire 1.., count) of existing
    cells; cells without a row are -1. The x bins reach the chamber's longest layer (from
    the geometry, or further if a row names a higher wire)."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing columns {missing}")
    chambers: dict[str, np.ndarray] = {}
    for key, rows in frame.groupby("chamber", sort=False):
        try:
            chamber = chamber_from_key(str(key))
        except ValueError as exc:
            raise InputError(f"{source}: {exc}") from None
        layer = rows["layer"].to_numpy(dtype=np.int64)
        wire = rows["wire"].to_numpy(dtype=np.int64)
        if layer.min() < 1 or layer.max() > N_LAYERS or wire.min() < 1:
            raise InputError(f"{source}: chamber {key} has a layer outside 1..12 or a wire < 1")
        hits = np.full((N_LAYERS, max(max_wires(chamber), int(wire.max()))), -1.0)
        hits[layer - 1, wire - 1] = rows["count"].to_numpy(dtype=float)
        chambers[chamber.key] = hits
    return chambers


def load_parquet(path: str | Path) -> dict[str, np.ndarray]:
    """A run's chambers from the fetcher's Parquet (columns chamber, layer, wire, count)."""
    import pandas as pd

    return chambers_from_long(pd.read_parquet(path, columns=list(COLUMNS)), str(path))


def chamber_from_gui(payload: dict[str, Any]) -> np.ndarray:
    """Hits (layers, wires) from the GUI's JSON of a TH2 (``bins.content[layer][wire]``;
    "nan" and "inf" strings become NaN and infinity)."""
    hist = payload.get("hist")
    if not isinstance(hist, dict) or "bins" not in hist:
        raise InputError(f"not a DQM GUI histogram: {str(hist)[:80]!r}")
    content = hist["bins"]["content"]
    return np.array([[_number(v) for v in row] for row in content], dtype=float)


def _number(value: Any) -> float:
    if isinstance(value, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(value, math.nan)
    return float(value)
