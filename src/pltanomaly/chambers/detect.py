"""Judge every layer of a run's DT chambers: the results contract's ``results/dt/{run}.json``.

Thresholds come from the run itself: the robust spread of each measurement across the run's
layers of the same station and superlayer type (or across its chambers), combined with the
Poisson spread of the layer's own hits, and a number of such spreads fixed by the accepted
false-alarm rate. Nothing is fitted to the generator.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pltanomaly.chambers.features import (
    FeatureSettings,
    LayerMeasure,
    measure_chamber,
    superlayer_rows,
    template_key,
)
from pltanomaly.chambers.geometry import CHAMBERS, THETA_SUPERLAYER, Chamber, superlayer
from pltanomaly.chambers.production import layer_statistics, production_code
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.robust import MAD_TO_SIGMA

DEAD_CHAMBER_MARGIN = 2.0
"""A chamber too poor to judge is dead only if the run's model expects this many times the
minimum entries and hits per cell..."""
DEAD_CHAMBER_RATIO = 0.05
"""... and it holds less than this fraction of them."""


@dataclass(frozen=True)
class Settings:
    """The detector's settings; the spreads set the false-alarm rate."""

    min_entries: float = 2200
    """Production's minimum entries for a chamber to be judged."""
    min_hits_per_cell: float = 3.0
    """A chamber with fewer hits per existing cell is not judged."""
    spreads: float = 4.5
    """Robust spreads (with Poisson) for a layer's or chamber's occupancy to be abnormal."""
    block_z: float = 5.0
    """Poisson z of a dead block (likelihood ratio against the expected profile)."""
    hot_z: float = 5.0
    """Poisson z of a hot cell above the benign multiple of its local median."""
    dead_ratio: float = 0.2
    """Below this fraction of its expectation a layer is dead, not inefficient."""
    confirm_spreads: float = 2.0
    """Robust spreads a noisy layer must also stand above its chamber's other layers."""
    min_spread: float = 0.01
    """The least intrinsic spread of log occupancy assumed (1 %)."""
    min_template_layers: int = 3
    features: FeatureSettings = field(default_factory=FeatureSettings)


def robust_centre_spread(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based sigma of the finite values (NaN, NaN if there are none)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    centre = float(np.median(values))
    return centre, MAD_TO_SIGMA * float(np.median(np.abs(values - centre)))


def _judged(chambers: dict[str, np.ndarray], settings: Settings) -> dict[str, str | None]:
    """Chamber key -> None if judged, else the reason it is not."""
    reasons: dict[str, str | None] = {}
    for chamber in CHAMBERS:
        hits = chambers.get(chamber.key)
        if hits is None:
            reasons[chamber.key] = "no histogram"
            continue
        existing = hits[hits >= 0]
        if existing.sum() < settings.min_entries:
            reasons[chamber.key] = "too few entries"
        elif existing.mean() < settings.min_hits_per_cell:
            reasons[chamber.key] = "too few hits per cell"
        else:
            reasons[chamber.key] = None
    return reasons


def build_templates(
    chambers: dict[str, np.ndarray], judged: list[Chamber], settings: Settings
) -> dict[tuple[int, bool, bytes], np.ndarray]:
    """Per station, phi/theta and existing-cell pattern, the median normalised profile of
    the run's judged layers (at least ``min_template_layers`` of them)."""
    rows: dict[tuple[int, bool, bytes], list[np.ndarray]] = {}
    for chamber in judged:
        hits = chambers[chamber.key]
        for layer in chamber.layers:
            row = hits[layer - 1]
            total = row[row >= 0].sum()
            if total > 0:
                rows.setdefault(template_key(chamber, layer, row), []).append(
                    np.where(row >= 0, row / total, 0.0)
                )
    return {
        key: np.median(np.stack(found), axis=0)
        for key, found in rows.items()
        if len(found) >= settings.min_template_layers
    }


def chamber_level(hits: np.ndarray) -> float:
    """Hits per cell of a chamber: the median over its layers of their hits per cell, so a
    noisy layer or a hot cell does not move it."""
    existing = hits >= 0
    cells = existing.sum(axis=1)
    sums = np.where(existing, hits, 0.0).sum(axis=1)
    present = cells > 0
    return float(np.median(sums[present] / cells[present])) if present.any() else 0.0


def chamber_residuals(
    chambers: dict[str, np.ndarray], judged: list[Chamber]
) -> tuple[dict[str, float], dict[str, float], float]:
    """Median polish of log :func:`chamber_level` over wheel x (station, sector), fitted on the
    judged chambers: per chamber its predicted log hits per cell, from the other chambers of
    its column (left out, so the residuals' spread is honest), its residual (NaN without
    another judged chamber in the column), and the residuals' robust spread."""
    judged_keys = {chamber.key for chamber in judged}
    level: dict[Chamber, float] = {}
    for chamber in judged:
        level[chamber] = float(np.log(max(chamber_level(chambers[chamber.key]), 1e-3)))
    centre = float(np.median(list(level.values()))) if level else 0.0
    wheel_effect: dict[int, float] = {}
    column_effect: dict[tuple[int, int], float] = {}
    for _ in range(3):
        for column in {(c.station, c.sector) for c in level}:
            column_effect[column] = float(
                np.median(
                    [
                        y - centre - wheel_effect.get(c.wheel, 0.0)
                        for c, y in level.items()
                        if (c.station, c.sector) == column
                    ]
                )
            )
        for wheel in {c.wheel for c in level}:
            wheel_effect[wheel] = float(
                np.median(
                    [
                        y - centre - column_effect[(c.station, c.sector)]
                        for c, y in level.items()
                        if c.wheel == wheel
                    ]
                )
            )
    predicted: dict[str, float] = {}
    residual: dict[str, float] = {}
    for chamber in CHAMBERS:
        wheel_shift = wheel_effect.get(chamber.wheel)
        others = [
            y - centre - wheel_effect[c.wheel]
            for c, y in level.items()
            if (c.station, c.sector) == (chamber.station, chamber.sector) and c != chamber
        ]
        if wheel_shift is None or not others:
            predicted[chamber.key] = float("nan")
        else:
            predicted[chamber.key] = centre + wheel_shift + float(np.median(others))
        hits = chambers.get(chamber.key)
        observed = chamber_level(hits) if hits is not None else 0.0
        residual[chamber.key] = float(np.log(max(observed, 1e-3)) - predicted[chamber.key])
    _, spread = robust_centre_spread(np.array([residual[k] for k in judged_keys]))
    return predicted, residual, spread


def _score(excess: float) -> float:
    """A test's z above its threshold mapped to (0, 1): 0.5 at the threshold."""
    return float(1 / (1 + np.exp(-np.clip(excess, -50, 50))))


def _event(type_: str, first: int, last: int, magnitude: float, excess: float) -> dict[str, Any]:
    return {
        "type": type_,
        "first_wire": int(first) + 1,
        "last_wire": int(last) + 1,
        "magnitude": round(float(magnitude), 4),
        "score": round(_score(excess), 4),
    }


def _saliency(measure: LayerMeasure, hits_row: np.ndarray, top: int = 8) -> list[dict[str, Any]]:
    """The cells furthest from the layer's expected profile (Poisson z), strongest first."""
    cells = measure.cells
    if not len(cells):
        return []
    expected = measure.expected[cells]
    z = np.abs(hits_row[cells] - expected) / np.sqrt(expected + 1.0)
    order = np.argsort(-z)[:top]
    peak = float(z[order[0]]) or 1.0
    return [
        {"wire": int(cells[i]) + 1, "weight": round(float(z[i]) / peak, 3)}
        for i in order
        if z[i] > 0
    ]


@dataclass
class RunSpreads:
    """Per (station, theta) the centre and intrinsic spread of log sibling ratios, and per
    (station, superlayer) those of a superlayer's occupancy against its chamber's best."""

    ratio: dict[tuple[int, bool], tuple[float, float]]
    superlayer: dict[tuple[int, int], tuple[float, float]]
    layer: dict[tuple[int, int], tuple[float, float]]
    """Per (station, layer): log hits per cell against the chamber's median layer."""
    uniform: dict[int, tuple[float, float]]
    """Per station: a chamber's uniform part of its hits (:func:`chamber_uniform`)."""


def chamber_uniform(measures: dict[int, LayerMeasure]) -> float:
    """The median over a chamber's layers of their uniform part (synchronous noise)."""
    values = np.array([m.uniform for m in measures.values()])
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")


def layer_levels(measures: dict[int, LayerMeasure]) -> dict[int, float]:
    """Per layer, log of its hits per cell against the median layer of its chamber."""
    median = float(np.median([m.level for m in measures.values()]))
    return {
        layer: float(np.log((m.level + 0.01) / (median + 0.01))) for layer, m in measures.items()
    }


def run_spreads(
    measures: dict[str, dict[int, LayerMeasure]],
    superlayer_levels: dict[str, dict[int, float]],
    settings: Settings,
) -> RunSpreads:
    """The run's robust centres and spreads that set the thresholds."""
    ratios: dict[tuple[int, bool], list[tuple[float, float]]] = {}
    levels: dict[tuple[int, int], list[float]] = {}
    per_layer: dict[tuple[int, int], list[float]] = {}
    uniform: dict[int, list[float]] = {}
    for key, layers in measures.items():
        station = int(key.split("_St")[1].split("_")[0])
        uniform.setdefault(station, []).append(chamber_uniform(layers))
        for layer, value in layer_levels(layers).items():
            per_layer.setdefault((station, layer), []).append(value)
        for layer, measure in layers.items():
            if np.isfinite(measure.ratio) and measure.ratio > 0:
                theta = superlayer(layer) == THETA_SUPERLAYER
                ratios.setdefault((station, theta), []).append(
                    (np.log(measure.ratio), measure.ratio_variance)
                )
        for sl, level in superlayer_levels[key].items():
            levels.setdefault((station, sl), []).append(level)
    ratio_spreads = {}
    for group, found in ratios.items():
        logs, variances = np.array(found).T
        centre, spread = robust_centre_spread(logs)
        intrinsic = np.sqrt(max(spread**2 - float(np.median(variances)), settings.min_spread**2))
        ratio_spreads[group] = (centre, float(intrinsic))
    return RunSpreads(
        ratio_spreads,
        _spreads(levels, settings.min_spread),
        _spreads(per_layer, settings.min_spread),
        _spreads(uniform, settings.min_spread),
    )


def _spreads(groups: dict[Any, list[float]], least: float) -> dict[Any, tuple[float, float]]:
    out = {}
    for group, values in groups.items():
        centre, spread = robust_centre_spread(np.array(values))
        out[group] = (centre, max(spread, least))
    return out


def _superlayer_levels(chamber: Chamber, hits: np.ndarray) -> dict[int, float]:
    """Per superlayer, log of its hits per cell against the chamber's busiest superlayer."""
    means = {}
    for layers in superlayer_rows(chamber):
        rows = hits[[layer - 1 for layer in layers]]
        means[superlayer(layers[0])] = float(rows[rows >= 0].mean())
    best = max(means.values())
    return {sl: float(np.log((mean + 0.01) / (best + 0.01))) for sl, mean in means.items()}


def judge_layer(
    measure: LayerMeasure, level: float, station: int, spreads: RunSpreads, s: Settings
) -> dict[str, Any]:
    """A layer's events from its measurements and the run's spreads (no chamber-level ones).
    A layer above its siblings is noisy only if it is also above its chamber's other layers
    (``level``, see :func:`layer_levels`): two poor siblings would otherwise make it so."""
    events: list[dict[str, Any]] = []
    excesses = [-50.0]
    first, last = (int(measure.cells[0]), int(measure.cells[-1])) if len(measure.cells) else (0, 0)
    theta = superlayer(measure.layer) == THETA_SUPERLAYER
    centre, intrinsic = spreads.ratio.get((station, theta), (0.0, s.min_spread))
    if np.isfinite(measure.ratio):
        log_ratio = np.log(max(measure.ratio, 1e-3)) - centre
        z = log_ratio / np.sqrt(intrinsic**2 + measure.ratio_variance)
        excess = abs(z) - s.spreads
        if z > 0:
            level_centre, level_spread = spreads.layer.get(
                (station, measure.layer), (0.0, s.min_spread)
            )
            excess = min(excess, (level - level_centre) / level_spread - s.confirm_spreads)
        excesses.append(excess)
        if excess > 0:
            relative = float(np.exp(log_ratio))
            if z > 0:
                kind = "noisy_layer"
            else:
                kind = "dead_layer" if relative < s.dead_ratio else "inefficient_layer"
            events.append(_event(kind, first, last, relative, excess))
    if measure.block is not None:
        excess = measure.block_z - s.block_z
        excesses.append(excess)
        if excess > 0:
            block_first, block_last, observed, wanted = measure.block
            events.append(_event("dead_block", block_first, block_last, observed / wanted, excess))
    if measure.hot:
        excesses.append(measure.hot_z - s.hot_z)
        for wire, magnitude, z in measure.hot:
            if z > s.hot_z:
                events.append(_event("hot_cell", wire, wire, magnitude, z - s.hot_z))
    return {"events": events, "excess": max(excesses)}


def _layer_result(judged: dict[str, Any], measure: LayerMeasure, row: np.ndarray) -> dict[str, Any]:
    events = judged["events"]
    dead = any(e["type"] == "dead_layer" for e in events)
    status = "dead" if dead else ("bad" if events else "good")
    return {
        "status": status,
        "score": round(_score(judged["excess"]), 4),
        "events": events,
        "saliency": _saliency(measure, row),
        **layer_statistics(row),
    }


def _chamber_event(
    type_: str, measures: dict[int, LayerMeasure], magnitude: float, excess: float
) -> dict[int, dict[str, Any]]:
    """One chamber- or superlayer-level event copied to each of ``measures``' layers."""
    return {
        layer: _event(
            type_,
            int(m.cells[0]) if len(m.cells) else 0,
            int(m.cells[-1]) if len(m.cells) else 0,
            magnitude,
            excess,
        )
        for layer, m in measures.items()
    }


def detect_run(
    run: int, chambers: dict[str, np.ndarray], settings: Settings | None = None
) -> dict[str, Any]:
    """The results contract's dict for one run. ``chambers`` maps chamber keys to hits
    (12, wires) with -1 for cells that do not exist; missing chambers are not judged, and
    cells that are not finite (the GUI's "nan", "inf") count as cells that do not exist."""
    s = settings or Settings()
    chambers = {
        key: np.where(np.isfinite(hits), hits, -1.0).astype(float) for key, hits in chambers.items()
    }
    reasons = _judged(chambers, s)
    judged = [c for c in CHAMBERS if reasons[c.key] is None]
    templates = build_templates(chambers, judged, s)
    predicted, residual, chamber_spread = chamber_residuals(chambers, judged)
    measures = {c.key: measure_chamber(c, chambers[c.key], templates, s.features) for c in judged}
    levels = {c.key: _superlayer_levels(c, chambers[c.key]) for c in judged}
    spreads = run_spreads(measures, levels, s)
    results: dict[str, Any] = {}
    for chamber in CHAMBERS:
        hits = chambers.get(chamber.key)
        entries = float(hits[hits >= 0].sum()) if hits is not None else 0.0
        reason = reasons[chamber.key]
        if reason is not None:
            results[chamber.key] = _unjudged(chamber, hits, reason, predicted[chamber.key], s)
            continue
        assert hits is not None
        levels_here = layer_levels(measures[chamber.key])
        layer_results = {
            layer: _layer_result(
                judge_layer(m, levels_here[layer], chamber.station, spreads, s), m, hits[layer - 1]
            )
            for layer, m in measures[chamber.key].items()
        }
        extra = _chamber_level_events(
            chamber,
            measures[chamber.key],
            levels[chamber.key],
            spreads,
            residual,
            chamber_spread,
            s,
        )
        for layer, event in extra.items():
            result = layer_results[layer]
            result["events"].append(event)
            result["score"] = max(result["score"], event["score"])
            if event["type"] == "dead_layer":
                result["status"] = "dead"
            elif result["status"] == "good":
                result["status"] = "bad"
        bad = any(r["status"] != "good" for r in layer_results.values())
        results[chamber.key] = {
            "status": "bad" if bad else "good",
            "code": production_code(hits),
            "entries": round(entries),
            "layers": {str(layer): r for layer, r in layer_results.items()},
        }
    total = sum(float(h[h >= 0].sum()) for h in chambers.values())
    return {"run": run, "status": "finished", "entries": round(total), "chambers": results}


def _chamber_level_events(
    chamber: Chamber,
    measures: dict[int, LayerMeasure],
    levels: dict[int, float],
    spreads: RunSpreads,
    residual: dict[str, float],
    chamber_spread: float,
    s: Settings,
) -> dict[int, dict[str, Any]]:
    """A dead chamber that still holds enough hits to be judged, dead superlayers (against
    the run's same superlayers) and synchronous noise (the
    chamber's hits per cell against the wheel x sector model, the uniform part of its
    layers against the station's chambers, or both combined), as layer events."""
    events: dict[int, dict[str, Any]] = {}
    for sl, level in levels.items():
        centre, spread = spreads.superlayer.get((chamber.station, sl), (0.0, s.min_spread))
        relative = float(np.exp(level - centre))
        excess = (centre - level) / spread - s.spreads
        if excess > 0 and relative < s.dead_ratio:
            in_superlayer = {k: m for k, m in measures.items() if superlayer(k) == sl}
            events |= _chamber_event("dead_layer", in_superlayer, relative, excess)
    spread = max(chamber_spread, s.min_spread) if np.isfinite(chamber_spread) else np.inf
    z_total = residual[chamber.key] / spread
    relative = float(np.exp(residual[chamber.key]))
    if -z_total > s.spreads and relative < DEAD_CHAMBER_RATIO:
        return _chamber_event("dead_layer", measures, relative, -z_total - s.spreads)
    centre, uniform_spread = spreads.uniform.get(chamber.station, (0.0, np.inf))
    uniform = chamber_uniform(measures)
    z_uniform = (uniform - centre) / uniform_spread
    combined = (z_total + z_uniform) / np.sqrt(2)
    excess = float(np.nanmax([z_total, z_uniform, combined, -np.inf])) - s.spreads
    if excess > 0:
        magnitude = (
            np.exp(residual[chamber.key])
            if z_total >= z_uniform or not np.isfinite(z_uniform)
            else 1 / (1 - min(uniform, 0.95))
        )
        noise = _chamber_event("synchronous_noise", measures, magnitude, excess)
        for layer, event in noise.items():
            events.setdefault(layer, event)
    return events


def _unjudged(
    chamber: Chamber, hits: np.ndarray | None, reason: str, predicted: float, s: Settings
) -> dict[str, Any]:
    """A chamber too poor to judge, unless the run's model expects far more hits per cell
    than ``min_hits_per_cell`` and it holds almost none: then it is dead."""
    if hits is None:
        return {"status": "not_judged", "reason": reason, "layers": {}}
    existing = hits[hits >= 0]
    expected_per_cell = float(np.exp(predicted)) if np.isfinite(predicted) else 0.0
    observed = float(existing.mean()) if len(existing) else 0.0
    entries = round(float(existing.sum()))
    if (
        expected_per_cell * len(existing) >= DEAD_CHAMBER_MARGIN * s.min_entries
        and expected_per_cell >= DEAD_CHAMBER_MARGIN * s.min_hits_per_cell
        and observed < DEAD_CHAMBER_RATIO * expected_per_cell
    ):
        magnitude = round(observed / expected_per_cell, 4)
        layers = {}
        for layer in chamber.layers:
            row = hits[layer - 1]
            cells = np.flatnonzero(row >= 0)
            event = _event("dead_layer", cells[0], cells[-1], magnitude, s.spreads)
            layers[str(layer)] = {
                "status": "dead",
                "score": event["score"],
                "events": [event | {"chamber": "dead_chamber"}],
                "saliency": [],
                **layer_statistics(row),
            }
        return {
            "status": "bad",
            "code": production_code(hits),
            "entries": entries,
            "layers": layers,
        }
    return {
        "status": "not_judged",
        "reason": reason,
        "code": production_code(hits),
        "entries": entries,
        "layers": {},
    }


def error_result(run: int, reason: str) -> dict[str, Any]:
    """The results contract's dict for a run that could not be fetched or read."""
    return {"run": run, "status": "error", "reason": reason, "chambers": {}}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dt-detect", help="judge the DT chamber layers of one run")
    parser.add_argument("occupancy", type=Path, help="the run's long-format Parquet")
    parser.add_argument("out", type=Path, help="results/dt/{run}.json to write")
    parser.add_argument("--run", type=int, default=None, help="default: the Parquet's name")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from pltanomaly.chambers.load import load_parquet

    run = args.run if args.run is not None else int(args.occupancy.stem)
    result = detect_run(run, load_parquet(args.occupancy))
    write_json_atomic(args.out, result)
    bad = sum(c["status"] == "bad" for c in result["chambers"].values())
    print(f"run {run}: {bad} bad chambers of {len(result['chambers'])}; wrote {args.out}")
    return 0
