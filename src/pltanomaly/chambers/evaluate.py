"""Score the DT detector beside the production check and a zero-fraction rule on generated
runs with truth: layer precision/recall/F1, sensitivity at specificity 0.99, recall per
fault type and size, dead-block wire overlap, false bad layers per 1000 good by benign
feature, and low-statistics chambers called bad.

As for PLT (:mod:`pltanomaly.channels.regimes`), the *tuning* seed is the only one ever looked at
while changing the detector; the *evaluation* seed is scored only for the record.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pltanomaly.chambers.detect import Settings, detect_run
from pltanomaly.chambers.generate import generate_run, layer_truth
from pltanomaly.chambers.geometry import CHAMBERS
from pltanomaly.chambers.production import production_layers, zero_fraction_layers

SEEDS = {"tuning": 7100, "evaluation": 20261205}
FIRST_RUN = 355100
LOW_STATISTICS_PER_CELL = 2.0
"""A chamber expected to hold fewer hits per cell has low statistics (never to be bad)."""
ENOUGH_PER_CELL = 20.0
"""The goals hold on chambers expected to hold at least this many hits per cell."""
METHODS = ("ours", "production", "zero_fraction")
SPECIFICITY = 0.99
SIZE_BINS: dict[str, tuple[str, tuple[float, ...]]] = {
    "inefficient_layer": ("efficiency", (0.5, 0.7, 0.8, 0.9)),
    "dead_layer": ("efficiency", (0.05,)),
    "dead_superlayer": ("efficiency", (0.05,)),
    "dead_chamber": ("efficiency", (0.02,)),
    "dead_block": ("wires", (3.5, 7.5, 15.5, 99)),
    "hot_cell": ("factor", (10, 30, 100)),
    "noisy_layer": ("factor", (1.5, 2, 3, 5)),
    "synchronous_noise": ("factor", (1.5, 2, 3, 5)),
}
"""Per fault type, the size reported and the upper edges of its bins."""


@dataclass
class LayerRecord:
    """One layer of one run: truth and each method's verdict and score."""

    chamber: str
    layer: int
    per_cell: float
    faults: list[dict[str, Any]]
    benign: list[str]
    verdicts: dict[str, tuple[bool, float]] = field(default_factory=dict)
    block_overlap: float | None = None


def fault_size(fault: dict[str, Any]) -> float:
    """The size a fault is binned by: wires of a block, else its magnitude."""
    if fault["type"] == "dead_block":
        return float(fault["last_wire"] - fault["first_wire"] + 1)
    return float(fault["magnitude"])


def size_bin(fault: dict[str, Any]) -> str:
    unit, edges = SIZE_BINS[fault["type"]]
    size = fault_size(fault)
    low = 0.0
    for edge in edges:
        if size <= edge:
            return f"{unit} {low:g}-{edge:g}"
        low = edge
    return f"{unit} >{low:g}"


def _overlap(first: int, last: int, events: list[dict[str, Any]]) -> float:
    """The best wire-range intersection over union of a true block with a found one."""
    best = 0.0
    for event in events:
        if event["type"] != "dead_block":
            continue
        inter = min(last, event["last_wire"]) - max(first, event["first_wire"]) + 1
        union = max(last, event["last_wire"]) - min(first, event["first_wire"]) + 1
        best = max(best, max(inter, 0) / union)
    return best


def score_run(
    run: int, seed: int, settings: Settings | None = None
) -> tuple[list[LayerRecord], float]:
    """Every layer of one generated run with its truth and the three methods' verdicts, and
    the detector's time on it (s)."""
    chambers, truth = generate_run(run, seed)
    started = time.perf_counter()
    result = detect_run(run, chambers, settings)
    elapsed = time.perf_counter() - started
    records: list[LayerRecord] = []
    for chamber in CHAMBERS:
        hits = chambers[chamber.key]
        chamber_truth = truth["chambers"][chamber.key]
        layers = layer_truth(chamber_truth)
        found = result["chambers"][chamber.key]
        production = production_layers(hits, chamber.layers)
        zero = zero_fraction_layers(hits, chamber.layers)
        for layer in chamber.layers:
            entry = layers.get(layer, {"faults": [], "benign": []})
            ours = found["layers"].get(str(layer))
            record = LayerRecord(
                chamber.key,
                layer,
                chamber_truth["expected_per_cell"],
                entry["faults"],
                sorted({b["type"] for b in entry["benign"]}),
            )
            record.verdicts["ours"] = (
                (ours["status"] != "good", ours["score"]) if ours else (False, 0.0)
            )
            record.verdicts["production"] = production[layer]
            record.verdicts["zero_fraction"] = zero[layer]
            blocks = [f for f in entry["faults"] if f["type"] == "dead_block"]
            if blocks and ours:
                record.block_overlap = _overlap(
                    blocks[0]["first_wire"], blocks[0]["last_wire"], ours["events"]
                )
            records.append(record)
    return records, elapsed


def _precision_recall_f1(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    hits = float((truth & predicted).sum())
    precision = hits / predicted.sum() if predicted.sum() else 1.0
    recall = hits / truth.sum() if truth.sum() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def sensitivity_at(truth: np.ndarray, scores: np.ndarray, specificity: float) -> float:
    """The fraction of bad layers scored above the good layers' ``specificity`` quantile."""
    if not truth.any() or truth.all():
        return float("nan")
    threshold = np.quantile(scores[~truth], specificity, method="higher")
    return float((scores[truth] > threshold).mean())


def summarise(records: list[LayerRecord]) -> dict[str, Any]:
    """The evaluation table's numbers per method."""
    enough = [r for r in records if r.per_cell >= ENOUGH_PER_CELL]
    truth = np.array([bool(r.faults) for r in enough], dtype=bool)
    summary: dict[str, Any] = {"layers": len(enough), "bad_layers": int(truth.sum())}
    for method in METHODS:
        predicted = np.array([r.verdicts[method][0] for r in enough], dtype=bool)
        scores = np.array([r.verdicts[method][1] for r in enough], dtype=float)
        precision, recall, f1 = _precision_recall_f1(truth, predicted)
        summary[method] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "sensitivity_at_specificity": sensitivity_at(truth, scores, SPECIFICITY),
            "recall_by_fault": _recall_by_fault(enough, method),
            "false_bad_per_1000": _false_bad(records, method),
            "low_statistics_chambers_bad": _low_statistics_bad(records, method),
        }
    overlaps = [r.block_overlap for r in enough if r.block_overlap is not None]
    summary["ours"]["block_overlap"] = {
        "mean_iou": float(np.mean(overlaps)) if overlaps else float("nan"),
        "iou_at_least_0.5": float(np.mean(np.array(overlaps) >= 0.5)) if overlaps else float("nan"),
        "blocks": len(overlaps),
    }
    return summary


def _recall_by_fault(records: Iterable[LayerRecord], method: str) -> dict[str, list[float]]:
    """(fault type, size bin) -> [found, layers]."""
    counts: dict[str, list[float]] = {}
    for record in records:
        for fault in record.faults:
            key = f"{fault['type']} | {size_bin(fault)}"
            entry = counts.setdefault(key, [0, 0])
            entry[0] += record.verdicts[method][0]
            entry[1] += 1
    return dict(sorted(counts.items()))


def _false_bad(records: list[LayerRecord], method: str) -> dict[str, list[float]]:
    """Per benign category of good layers: [called bad, good layers]; low statistics are the
    chambers below :data:`LOW_STATISTICS_PER_CELL`, the other categories those above it."""
    counts: dict[str, list[float]] = {
        name: [0, 0] for name in ("isolated_zero", "benign_hot_cell", "low_statistics", "none")
    }
    for record in records:
        if record.faults:
            continue
        if record.per_cell < LOW_STATISTICS_PER_CELL:
            categories = ["low_statistics"]
        else:
            categories = record.benign or ["none"]
        for category in categories:
            counts[category][0] += record.verdicts[method][0]
            counts[category][1] += 1
    return counts


def _low_statistics_bad(records: list[LayerRecord], method: str) -> dict[str, int]:
    """Low-statistics chambers with a layer called bad: all, and those without any fault."""
    chambers: dict[str, list[bool]] = {}
    for record in records:
        if record.per_cell < LOW_STATISTICS_PER_CELL:
            entry = chambers.setdefault(record.chamber, [False, False])
            entry[0] |= record.verdicts[method][0]
            entry[1] |= bool(record.faults)
    return {
        "chambers": len(chambers),
        "called_bad": sum(bad for bad, _ in chambers.values()),
        "called_bad_without_fault": sum(bad and not fault for bad, fault in chambers.values()),
    }


def evaluate(
    use: str = "evaluation",
    runs: int = 20,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score ``runs`` generated runs of the ``use`` seed set; the summary and run times."""
    seed = SEEDS[use]
    records: list[LayerRecord] = []
    times = []
    for run in range(FIRST_RUN, FIRST_RUN + runs):
        # run keys are unique per run and chamber
        found, elapsed = score_run(run, seed, settings)
        for record in found:
            record.chamber = f"{run}/{record.chamber}"
        records.extend(found)
        times.append(elapsed)
        if progress:
            progress(f"run {run}: {elapsed:.2f} s")
    summary = summarise(records)
    summary["seed"] = seed
    summary["runs"] = runs
    summary["detect_seconds"] = {
        "median": float(np.median(times)),
        "max": float(np.max(times)),
    }
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table, methods side by side."""
    lines = [
        f"seed {summary['seed']}, {summary['runs']} runs, {summary['layers']} layers with "
        f">= {ENOUGH_PER_CELL:g} expected hits per cell ({summary['bad_layers']} bad)",
        f"{'':48}" + "".join(f"{m:>18}" for m in METHODS),
    ]

    def row(name: str, values: list[str]) -> None:
        lines.append(f"{name:48}" + "".join(f"{v:>18}" for v in values))

    for metric in ("precision", "recall", "f1", "sensitivity_at_specificity"):
        row(metric, [f"{summary[m][metric]:.3f}" for m in METHODS])
    lines.append("recall per fault type and size (found/layers)")
    for key in summary["ours"]["recall_by_fault"]:
        values = []
        for method in METHODS:
            found, total = summary[method]["recall_by_fault"][key]
            values.append(f"{found / total:.3f} ({int(total)})")
        row(f"  {key}", values)
    lines.append("false bad layers per 1000 good (good layers)")
    for category in summary["ours"]["false_bad_per_1000"]:
        values = []
        for method in METHODS:
            bad, total = summary[method]["false_bad_per_1000"][category]
            values.append(f"{1000 * bad / total:.2f} ({int(total)})" if total else "-")
        row(f"  {category}", values)
    low = [summary[m]["low_statistics_chambers_bad"] for m in METHODS]
    row(
        "low-statistics chambers called bad (no fault)",
        [f"{x['called_bad']}/{x['chambers']} ({x['called_bad_without_fault']})" for x in low],
    )
    block = summary["ours"]["block_overlap"]
    lines.append(
        f"dead blocks: wire IoU mean {block['mean_iou']:.3f}, IoU >= 0.5 for "
        f"{block['iou_at_least_0.5']:.3f} of {block['blocks']} block layers (ours)"
    )
    seconds = summary["detect_seconds"]
    lines.append(
        f"detection per run (250 chambers): median {seconds['median']:.3f} s, "
        f"max {seconds['max']:.3f} s"
    )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dt-evaluate", help="score the DT detector and the production check on generated runs"
    )
    parser.add_argument("--use", choices=sorted(SEEDS), default="evaluation")
    parser.add_argument("--runs", type=int, default=20)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    print(format_table(evaluate(args.use, args.runs)))
    return 0
