"""Synthetic DT occupancy runs with per-layer truth (see dt-occupancy.md).

Every choice is drawn per run from the seed, over wide ranges: the run's statistics (orders
of magnitude, collisions or cosmics), the station, wheel and sector factors, the spread of
chambers, layers and cells, the phi and theta profile shapes, the benign features (isolated
zero cells, benign hot cells) and the faults. A chamber is a float array (12, max_wires) of
hits with -1 for the cells that do not exist, as the DQM GUI serves it.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pltanomaly.chambers.geometry import (
    CHAMBERS,
    LAYER_LABELS,
    N_LAYERS,
    THETA_SUPERLAYER,
    Chamber,
    dqm_path,
    max_wires,
    superlayer,
    wires,
)
from pltanomaly.core.atomic import write_json_atomic

FAULT_TYPES = (
    "inefficient_layer",
    "dead_layer",
    "dead_block",
    "dead_superlayer",
    "dead_chamber",
    "hot_cell",
    "noisy_layer",
    "synchronous_noise",
)
FAULT_WEIGHTS = (0.22, 0.1, 0.22, 0.06, 0.03, 0.15, 0.12, 0.1)
BENIGN_FEATURES = ("isolated_zero", "benign_hot_cell")
LAYER_EVENT = {
    "dead_superlayer": "dead_layer",
    "dead_chamber": "dead_layer",
}
"""The results contract's layer event of a fault that spans several layers."""


@dataclass(frozen=True)
class RunConditions:
    """The normal behaviour of one run, drawn from its seed."""

    kind: str
    level: float
    """Mean hits per cell of a typical chamber."""
    station_factor: dict[int, float]
    wheel_factor: dict[int, float]
    sector_factor: dict[tuple[int, int], float]
    chamber_spread: float
    layer_spread: float
    cell_spread: float
    phi_edge_width: float
    phi_edge_depth: float
    phi_tilt: float
    theta_edge: float
    theta_power: float
    theta_factor: float
    fault_rate: float


def draw_conditions(rng: np.random.Generator, *, fault_rate: float | None = None) -> RunConditions:
    """A run's normal behaviour; cosmics have fewer hits, mostly in the vertical sectors."""
    kind = "cosmics" if rng.random() < 0.25 else "collisions"
    if kind == "cosmics":
        level = 10 ** rng.uniform(-0.5, 2.5)
        power = rng.uniform(1.0, 3.0)
        sector_factor = {
            (station, sector): (abs(np.sin(np.radians(30 * (_sector_angle(sector) - 1)))) + 0.05)
            ** power
            * rng.lognormal(0, 0.1)
            for station in (1, 2, 3, 4)
            for sector in range(1, 15)
        }
    else:
        level = 10 ** rng.uniform(-0.3, 3.3)
        sector_factor = {
            (station, sector): rng.lognormal(0, 0.15)
            for station in (1, 2, 3, 4)
            for sector in range(1, 15)
        }
    station_factor = {1: 1.0} | {s: rng.uniform(0.3, 1.0) for s in (2, 3, 4)}
    wheel_factor = {w: rng.lognormal(0, 0.1 + 0.15 * abs(w)) for w in range(-2, 3)}
    return RunConditions(
        kind=kind,
        level=float(level),
        station_factor=station_factor,
        wheel_factor=wheel_factor,
        sector_factor=sector_factor,
        chamber_spread=rng.uniform(0.05, 0.25),
        layer_spread=rng.uniform(0.01, 0.04),
        cell_spread=rng.uniform(0.0, 0.08),
        phi_edge_width=rng.uniform(1.0, 6.0),
        phi_edge_depth=rng.uniform(0.15, 0.6),
        phi_tilt=rng.uniform(-0.15, 0.15),
        theta_edge=rng.uniform(0.38, 0.55),
        theta_power=rng.uniform(1.5, 3.0),
        theta_factor=rng.uniform(0.5, 1.2),
        fault_rate=rng.uniform(0.1, 0.4) if fault_rate is None else fault_rate,
    )


def _sector_angle(sector: int) -> int:
    """Sectors 13 and 14 of MB4 sit beside sectors 4 and 10."""
    return {13: 4, 14: 10}.get(sector, sector)


def existing_cells(chamber: Chamber, first_wire_two: bool = False) -> np.ndarray:
    """Boolean (12, max_wires): the cells that exist. The staggered (shorter) layers lack
    their last wire, or their first one when ``first_wire_two``."""
    mask = np.zeros((N_LAYERS, max_wires(chamber)), dtype=bool)
    for layer in chamber.layers:
        n = wires(chamber, layer)
        start = 1 if first_wire_two and n < mask.shape[1] else 0
        mask[layer - 1, start : start + n] = True
    return mask


def layer_profile(
    n: int, theta: bool, conditions: RunConditions, rng: np.random.Generator
) -> np.ndarray:
    """The normal shape of a layer of ``n`` wires (peak 1), jittered per chamber."""
    x = (np.arange(n) + 0.5) / n
    if theta:
        edge = np.clip(conditions.theta_edge * rng.lognormal(0, 0.05), 0.2, 0.8)
        centre = 0.5 + rng.uniform(-0.05, 0.05)
        half = max(centre, 1 - centre)
        bump = np.clip(1 - np.abs(x - centre) / half, 0, 1) ** conditions.theta_power
        shape = 1 - (1 - edge) * (1 - bump) ** 1.0
        return shape / shape.max()
    width = conditions.phi_edge_width * rng.lognormal(0, 0.1)
    depth = conditions.phi_edge_depth * rng.lognormal(0, 0.1)
    distance = np.minimum(np.arange(n), np.arange(n)[::-1])
    shape = (1 - depth * np.exp(-distance / width)) * (1 + conditions.phi_tilt * (x - 0.5))
    return shape / shape.max()


def expected_hits(
    chamber: Chamber, conditions: RunConditions, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(expected hits (12, max_wires) with 0 outside, existing-cell mask) of a normal chamber."""
    mask = existing_cells(chamber, first_wire_two=bool(rng.random() < 0.3))
    wheel, station, sector = chamber
    level = (
        conditions.level
        * conditions.station_factor[station]
        * conditions.wheel_factor[wheel]
        * conditions.sector_factor[(station, sector)]
        * rng.lognormal(0, conditions.chamber_spread)
    )
    expected = np.zeros(mask.shape)
    superlayer_factor = {1: 1.0, 2: conditions.theta_factor, 3: rng.uniform(0.85, 1.15)}
    for layer in chamber.layers:
        row = mask[layer - 1]
        sl = superlayer(layer)
        shape = layer_profile(int(row.sum()), sl == THETA_SUPERLAYER, conditions, rng)
        efficiency = rng.lognormal(0, conditions.layer_spread)
        expected[layer - 1, row] = level * superlayer_factor[sl] * efficiency * shape
    return expected, mask


def _layer_wires(mask: np.ndarray, layer: int) -> np.ndarray:
    """0-based x bins of a layer's existing cells."""
    return np.flatnonzero(mask[layer - 1])


def _fault(type_: str, layers: list[int], magnitude: float, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "layers": layers, "magnitude": round(float(magnitude), 4), **extra}


def inject_fault(
    type_: str,
    chamber: Chamber,
    expected: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Apply one fault to ``expected`` in place; return its truth (wires are 1-based x bins)."""
    layers = list(chamber.layers)
    if type_ in ("inefficient_layer", "dead_layer", "noisy_layer"):
        layer = int(rng.choice(layers))
        row = expected[layer - 1]
        if type_ == "noisy_layer":
            excess = rng.uniform(0.3, 3.0) * np.median(row[mask[layer - 1]])
            before = row[mask[layer - 1]].sum()
            row[mask[layer - 1]] += excess
            return _fault(type_, [layer], row[mask[layer - 1]].sum() / before)
        factor = rng.uniform(0.3, 0.9) if type_ == "inefficient_layer" else rng.uniform(0, 0.05)
        row *= factor
        return _fault(type_, [layer], factor)
    if type_ == "dead_superlayer":
        sl = int(rng.choice(sorted({superlayer(layer) for layer in layers})))
        chosen = [layer for layer in layers if superlayer(layer) == sl]
        factor = rng.uniform(0, 0.05)
        expected[[layer - 1 for layer in chosen]] *= factor
        return _fault(type_, chosen, factor)
    if type_ == "dead_chamber":
        factor = rng.uniform(0, 0.02)
        expected *= factor
        return _fault(type_, layers, factor)
    if type_ == "synchronous_noise":
        before = expected[mask].sum()
        expected[mask] += rng.uniform(0.3, 3.0) * np.median(expected[mask])
        return _fault(type_, layers, expected[mask].sum() / before)
    if type_ == "hot_cell":
        layer = int(rng.choice(layers))
        cells = rng.choice(_layer_wires(mask, layer), size=int(rng.integers(1, 4)), replace=False)
        factor = float(np.exp(rng.uniform(np.log(5), np.log(100))))
        expected[layer - 1, cells] *= factor
        return _fault(type_, [layer], factor, wires=sorted(int(c) + 1 for c in cells))
    if type_ == "dead_block":
        layer = int(rng.choice(layers))
        whole_superlayer = rng.random() < 0.3
        chosen = (
            [x for x in layers if superlayer(x) == superlayer(layer)]
            if whole_superlayer
            else [layer]
        )
        cells = _layer_wires(mask, layer)
        width = min(len(cells) // 2, int(np.round(np.exp(rng.uniform(np.log(2), np.log(32))))))
        start = int(rng.integers(cells[0], cells[-1] - width + 2))
        factor = rng.uniform(0, 0.02)
        expected[[x - 1 for x in chosen], start : start + width] *= factor
        return _fault(type_, chosen, factor, first_wire=start + 1, last_wire=start + width)
    raise ValueError(f"unknown fault type {type_!r}")


def _benign(
    chamber: Chamber, expected: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Isolated zero cells and benign hot cells (2-3x), in place; their truth."""
    features: list[dict[str, Any]] = []
    if rng.random() < 0.3:
        layer = int(rng.choice(chamber.layers))
        cells = _layer_wires(mask, layer)
        count = int(rng.integers(1, 4))
        picked = rng.choice(cells[1:-1:3], size=min(count, len(cells[1:-1:3])), replace=False)
        expected[layer - 1, picked] = 0.0
        zero_wires = sorted(int(c) + 1 for c in picked)
        features.append({"type": "isolated_zero", "layers": [layer], "wires": zero_wires})
    if rng.random() < 0.3:
        layer = int(rng.choice(chamber.layers))
        cells = rng.choice(_layer_wires(mask, layer), size=int(rng.integers(1, 3)), replace=False)
        factor = rng.uniform(2.0, 3.0)
        expected[layer - 1, cells] *= factor
        features.append(
            {
                "type": "benign_hot_cell",
                "layers": [layer],
                "wires": sorted(int(c) + 1 for c in cells),
                "magnitude": round(float(factor), 3),
            }
        )
    return features


def _sample(expected: np.ndarray, cell_spread: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson hits around ``expected`` with a gamma cell-to-cell spread."""
    if cell_spread > 0:
        shape = 1 / cell_spread**2
        expected = expected * rng.gamma(shape, 1 / shape, size=expected.shape)
    return rng.poisson(expected).astype(float)


def generate_run(
    run: int, seed: int, *, fault_rate: float | None = None, clean: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One run: chamber key -> hits (12, max_wires) with -1 for cells that do not exist, and
    its truth (conditions, per chamber expected entries, faults and benign features).

    The same (run, seed) always gives the same run; ``clean`` injects no fault."""
    rng = np.random.default_rng([seed, run])
    conditions = draw_conditions(rng, fault_rate=fault_rate)
    chambers: dict[str, np.ndarray] = {}
    truth_chambers: dict[str, Any] = {}
    for chamber in CHAMBERS:
        expected, mask = expected_hits(chamber, conditions, rng)
        normal_entries = float(expected[mask].sum())
        faults: list[dict[str, Any]] = []
        if not clean and rng.random() < conditions.fault_rate:
            count = 2 if rng.random() < 0.1 else 1
            for type_ in rng.choice(FAULT_TYPES, size=count, replace=False, p=FAULT_WEIGHTS):
                faults.append(inject_fault(str(type_), chamber, expected, mask, rng))
        benign = _benign(chamber, expected, mask, rng)
        hits = _sample(expected, conditions.cell_spread, rng)
        hits[~mask] = -1.0
        chambers[chamber.key] = hits
        truth_chambers[chamber.key] = {
            "expected_entries": round(normal_entries, 2),
            "expected_per_cell": round(normal_entries / int(mask.sum()), 4),
            "faults": faults,
            "benign": benign,
        }
    truth = {
        "run": run,
        "seed": seed,
        "conditions": {
            k: v
            for k, v in conditions.__dict__.items()
            if k not in ("station_factor", "wheel_factor", "sector_factor")
        },
        "chambers": truth_chambers,
    }
    return chambers, truth


def layer_truth(chamber_truth: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Per layer of a chamber's truth: its faults (with the layer's event type) and benign
    features; layers absent from the dict are normal."""
    layers: dict[int, dict[str, Any]] = {}
    for fault in chamber_truth["faults"]:
        for layer in fault["layers"]:
            entry = layers.setdefault(layer, {"faults": [], "benign": []})
            entry["faults"].append(fault | {"event": LAYER_EVENT.get(fault["type"], fault["type"])})
    for feature in chamber_truth["benign"]:
        for layer in feature["layers"]:
            layers.setdefault(layer, {"faults": [], "benign": []})["benign"].append(feature)
    return layers


def gui_json(run: int, chamber: Chamber, hits: np.ndarray) -> dict[str, Any]:
    """The DQM GUI's jsonfairy answer for a chamber's occupancy (content[layer][wire]).

    As in the GUI, ``stats.entries`` counts the -1 cells too (each was one SetBinContent), and a
    non-finite cell is spelled ``"nan"``, ``"inf"`` or ``"-inf"`` and left out of the figures."""
    n_layers, n_wires = hits.shape
    finite = hits[np.isfinite(hits)]
    missing = int((finite < 0).sum())
    total = float(finite.sum())
    name = f"OccupancyAllHits_perCh_W{chamber.wheel}_St{chamber.station}_Sec{chamber.sector}"
    weights = np.where(np.isfinite(hits), np.clip(hits, 0, None), 0)
    hits_sum = float(weights.sum())
    mean_x, rms_x = _moments(weights.sum(0))
    mean_y, rms_y = _moments(weights.sum(1))
    return {
        "hist": {
            "type": "TH2F",
            "title": f"Occupancy W{chamber.wheel} St{chamber.station} Sec{chamber.sector}",
            "stats": {
                "name": name,
                "entries": round(hits_sum) + missing,
                "mean": {"X": {"value": mean_x, "error": 0}, "Y": {"value": mean_y, "error": 0}},
                "rms": {"X": {"value": rms_x, "error": 0}, "Y": {"value": rms_y, "error": 0}},
                "underflow": 0,
                "overflow": 0,
            },
            "xaxis": {
                "title": "wire number",
                "first": {"id": 1, "value": 1},
                "last": {"id": n_wires, "value": n_wires + 1},
                "labels": [],
            },
            "yaxis": {
                "title": "",
                "first": {"id": 1, "value": 1},
                "last": {"id": n_layers, "value": n_layers + 1},
                "labels": [{"center": j + 1, "value": LAYER_LABELS[j]} for j in range(n_layers)],
            },
            "values": {"min": float(finite.min()), "max": float(finite.max())},
            "bins": {
                "integral": [[0, 0, 0], [0, total, 0], [0, 0, 0]],
                "content": [[_number(v) for v in row] for row in hits],
            },
        }
    }


def _moments(projection: np.ndarray) -> tuple[float, float]:
    """Mean and RMS of a projection over bin centres 1.5, 2.5, ... (ROOT's axis values)."""
    total = float(projection.sum())
    if total <= 0:
        return 0.0, 0.0
    centres = np.arange(1, len(projection) + 1) + 0.5
    mean = float((projection * centres).sum() / total)
    return mean, float(np.sqrt((projection * (centres - mean) ** 2).sum() / total))


def _number(value: float) -> int | float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else float(value)


def write_runs(
    out: Path, runs: list[int], seed: int, *, fault_rate: float | None = None, clean: bool = False
) -> Path:
    """Write each run's chambers as the GUI serves them, one JSON file per chamber at
    ``{out}{dqm_path(run, chamber)}`` (no suffix), and the runs' truth to ``{out}/truth.json``
    ({"seed", "runs": {run: truth}}); return the truth file."""
    truths: dict[str, Any] = {}
    by_key = {chamber.key: chamber for chamber in CHAMBERS}
    for run in runs:
        chambers, truth = generate_run(run, seed, fault_rate=fault_rate, clean=clean)
        for key, hits in chambers.items():
            path = out / dqm_path(run, by_key[key]).lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(gui_json(run, by_key[key], hits)))
        truths[str(run)] = truth
    truth_path = out / "truth.json"
    write_json_atomic(truth_path, {"seed": seed, "runs": truths})
    return truth_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dt-generate", help="write synthetic DT occupancy runs as the DQM GUI serves them"
    )
    parser.add_argument("out", type=Path, help="folder to write dqm/online/jsonfairy/... into")
    parser.add_argument("--runs", type=int, default=3, help="number of runs")
    parser.add_argument("--first-run", type=int, default=355100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-rate", type=float, default=None, help="default: drawn per run")
    parser.add_argument("--clean", action="store_true", help="inject no fault")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    runs = list(range(args.first_run, args.first_run + args.runs))
    truth = write_runs(args.out, runs, args.seed, fault_rate=args.fault_rate, clean=args.clean)
    print(f"wrote {len(runs)} runs of {len(CHAMBERS)} chambers; truth in {truth}")
    return 0
