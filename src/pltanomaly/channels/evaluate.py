"""Score detector results against generator truth (or, with ``--labels``, human verdicts).

Definitions (all over the fills present in both the truth and the results folder):

- **Channel classification**: over (fill, channel) pairs that are live in the truth
  (status not ``dead``), a pair is positive when its truth status is ``anomalous`` and
  predicted positive when its result status is ``anomalous``: precision, recall, F1.
- **Dead channels**: over all truth (fill, channel) pairs, the fraction where "dead in the
  truth" equals "dead in the result"; missed and false dead channels are listed.
- **Event recall**: a truth event is *found* when a predicted event (any type) on the same
  fill and channel overlaps ``[start - 60 s, end + 60 s]``; recall per type and per
  magnitude bin of that type (:data:`MAGNITUDE_BINS`). **Type accuracy**: among found
  events, the fraction whose best-overlapping predicted event has the truth's type.
- **False alarms**: predicted events on truth-live channels that overlap no truth event of
  their channel (same 60 s tolerance), per live channel-hour; those overlapping a common
  period of the truth (emittance scan, levelling step, beam dump, common gap) are also
  counted separately, and those overlapping a scan or levelling step once more.
- **Goal recall**: recall over the events :data:`GOAL_EVENTS` says every regime must find.
- **Drift recall by position**: drifts (all, and those of the goal) by where they sit in the
  fill (:func:`drift_position`): from its first minutes, in the middle, to its last minute,
  or the whole fill.
- **Drift recall by contrast**: drifts by their lasting change over the spread the channel's
  own wander gives a lasting change (:func:`drift_contrast`, the truth's stationary wander
  times sqrt 2): a drift of a few such spreads is what wander alone does now and then.
- **Fills called anomalous**: results whose fill is ``anomalous``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.metrics import confusion as binary_confusion
from pltanomaly.core.metrics import ratio

TOLERANCE_S = 60.0

MAGNITUDE_BINS: dict[str, list[float]] = {
    "step": [0.0, 0.03, 0.05, 0.1, 0.2, math.inf],
    "drift": [0.0, 0.03, 0.06, math.inf],
    "spike": [0.0, 2.0, 4.0, math.inf],
    "dropout": [0.0, 10.0, 60.0, math.inf],
    "stuck": [0.0, 120.0, math.inf],
    "noise": [0.0, 4.0, 16.0, math.inf],
    "gap": [0.0, 30.0, math.inf],
}
"""Per type, the edges of the magnitude bins (units of the truth: relative, relative per
hour, factor, seconds, variance factor)."""

GOAL_EVENTS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "step": lambda e: e["magnitude"] >= 0.03,
    "drift": lambda e: drift_change(e) >= 0.03 and e["end"] - e["start"] >= 1800.0,
    "spike": lambda e: e["magnitude"] >= 2.0,
    "dropout": lambda e: e["magnitude"] >= 10.0,
    "stuck": lambda e: e["magnitude"] >= 120.0,
    "noise": lambda e: e["magnitude"] >= 4.0,
}
"""The events every regime must find (recall >= 0.9): steps >= 3 %, drifts of a lasting
change >= 3 % over >= 30 min, spikes >= x2, dropouts >= 10 s, stuck >= 2 min, noise >= x4
variance."""

GOALS = {
    "f1": 0.95,
    "recall_goal": 0.9,
    "false_alarms_per_channel_hour": 0.02,
    "clean_fills_anomalous": 0.1,
}

SCAN_OR_LEVELLING = ("emittance_scan", "levelling_step")
DRIFT_EDGE_S = 600.0
"""A drift starting (ending) this close to the fill's start (end) sits at that edge."""
DRIFT_POSITIONS = ("start", "middle", "end", "whole")
DRIFT_CONTRASTS = ("<3", "3-5", "5-10", ">=10")
"""Bins of :func:`drift_contrast`."""


def drift_change(event: Mapping[str, Any]) -> float:
    """A drift's lasting relative change: its rate per hour times its duration."""
    return float(event["magnitude"]) * (float(event["end"]) - float(event["start"])) / 3600.0


def drift_position(event: Mapping[str, Any], fill: Mapping[str, Any]) -> str:
    """Where a drift sits in its fill: ``start`` (from the fill's first minutes), ``end``
    (to its last minutes), ``whole`` (both) or ``middle``."""
    at_start = float(event["start"]) - float(fill["start"]) <= DRIFT_EDGE_S
    at_end = float(fill["end"]) - float(event["end"]) <= DRIFT_EDGE_S
    if at_start and at_end:
        return "whole"
    return "start" if at_start else "end" if at_end else "middle"


def drift_contrast(event: Mapping[str, Any], channel: Mapping[str, Any]) -> str | None:
    """The bin (:data:`DRIFT_CONTRASTS`) of a drift's lasting change over the spread of the
    lasting change the channel's own wander gives (sqrt 2 times its stationary spread, the
    truth's ``wander``); None when the truth has no wander."""
    wander = float(channel.get("wander") or 0.0)
    if wander <= 0:
        return None
    contrast = drift_change(event) / (math.sqrt(2.0) * wander)
    edges = (3.0, 5.0, 10.0)
    return DRIFT_CONTRASTS[sum(contrast >= e for e in edges)]


def _drift_places(
    event: Mapping[str, Any], fill: Mapping[str, Any], channel: Mapping[str, Any]
) -> list[str]:
    """The position and (where the truth has a wander) contrast bin of a drift."""
    return [p for p in (drift_position(event, fill), drift_contrast(event, channel)) if p]


def _bin_label(kind: str, magnitude: float) -> str:
    edges = MAGNITUDE_BINS.get(kind, [0.0, math.inf])
    for lo, hi in itertools.pairwise(edges):
        if lo <= magnitude < hi:
            return f">={lo:g}" if math.isinf(hi) else f"[{lo:g},{hi:g})"
    return "other"


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Overlap length of [a0, a1] and [b0, b1] (negative when apart)."""
    return min(a1, b1) - max(a0, b0)


def evaluate(truth_path: str | Path, results_dir: str | Path) -> dict[str, Any]:
    """Compare ``{results_dir}/fills/*.json`` with the generator truth; see the module doc."""
    truth = json.loads(Path(truth_path).read_text())
    fills_dir = Path(results_dir) / "fills"
    if not fills_dir.is_dir():
        raise FileNotFoundError(f"no fills/ folder in {results_dir}")
    tp = fp = fn = tn = 0
    dead_ok = dead_total = 0
    dead_missed: list[str] = []
    dead_false: list[str] = []
    events_total: dict[str, int] = defaultdict(int)
    events_found: dict[str, int] = defaultdict(int)
    bins_total: dict[tuple[str, str], int] = defaultdict(int)
    bins_found: dict[tuple[str, str], int] = defaultdict(int)
    type_ok = type_total = 0
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    false_alarms: list[dict[str, Any]] = []
    false_in_common = 0
    false_in_scans = 0
    goal_total: dict[str, int] = defaultdict(int)
    goal_found: dict[str, int] = defaultdict(int)
    drift_at: dict[tuple[str, str], int] = defaultdict(int)
    """(position or contrast, "total" | "found" | "goal_total" | "goal_found") -> drifts"""
    fills_anomalous = 0
    channel_hours = 0.0
    missed: list[dict[str, Any]] = []
    missing_results: list[int] = []
    wrong_channels: list[dict[str, Any]] = []
    n_fills = 0
    for fill_key, fill_truth in sorted(truth.get("fills", {}).items(), key=lambda kv: int(kv[0])):
        path = fills_dir / f"{fill_key}.json"
        if not path.exists():
            missing_results.append(int(fill_key))
            continue
        result = json.loads(path.read_text())
        n_fills += 1
        fills_anomalous += bool(
            result.get("anomalous")
            or any(v.get("status") == "anomalous" for v in result.get("channels", {}).values())
        )
        hours = (float(fill_truth["end"]) - float(fill_truth["start"])) / 3600.0
        common = fill_truth.get("common", [])
        predicted_channels = result.get("channels", {})
        for ch, ch_truth in fill_truth["channels"].items():
            pred = predicted_channels.get(ch, {"status": "normal", "events": []})
            truth_dead = ch_truth["status"] == "dead"
            pred_dead = pred.get("status") == "dead"
            dead_total += 1
            if truth_dead == pred_dead:
                dead_ok += 1
            elif truth_dead:
                dead_missed.append(f"{fill_key}:{ch}")
            else:
                dead_false.append(f"{fill_key}:{ch}")
            if truth_dead:
                continue
            channel_hours += hours
            truth_bad = ch_truth["status"] == "anomalous"
            pred_bad = pred.get("status") == "anomalous"
            tp += truth_bad and pred_bad
            fp += (not truth_bad) and pred_bad
            fn += truth_bad and not pred_bad
            tn += (not truth_bad) and not pred_bad
            if truth_bad != pred_bad:
                wrong_channels.append(
                    {
                        "fill": int(fill_key),
                        "channel": int(ch),
                        "truth": ch_truth["status"],
                        "predicted": pred.get("status"),
                        "score": pred.get("score"),
                        "truth_events": [
                            (e["type"], round(e["magnitude"], 4)) for e in ch_truth["events"]
                        ],
                        "predicted_events": [e["type"] for e in pred.get("events", [])],
                    }
                )
            pred_events = pred.get("events", [])
            truth_events = ch_truth.get("events", [])
            for event in truth_events:
                kind = event["type"]
                label = _bin_label(kind, float(event["magnitude"]))
                events_total[kind] += 1
                bins_total[(kind, label)] += 1
                in_goal = kind in GOAL_EVENTS and GOAL_EVENTS[kind](event)
                goal_total[kind] += in_goal
                places = _drift_places(event, fill_truth, ch_truth) if kind == "drift" else []
                for place in places:
                    drift_at[(place, "total")] += 1
                    drift_at[(place, "goal_total")] += in_goal
                lo, hi = float(event["start"]) - TOLERANCE_S, float(event["end"]) + TOLERANCE_S
                hits = [
                    (_overlap(lo, hi, float(p["start"]), float(p["end"])), p)
                    for p in pred_events
                    if _overlap(lo, hi, float(p["start"]), float(p["end"])) >= 0
                ]
                if not hits:
                    missed.append(
                        {
                            "fill": int(fill_key),
                            "channel": int(ch),
                            "type": kind,
                            "magnitude": event["magnitude"],
                            "start": event["start"],
                        }
                    )
                    continue
                events_found[kind] += 1
                bins_found[(kind, label)] += 1
                goal_found[kind] += in_goal
                for place in places:
                    drift_at[(place, "found")] += 1
                    drift_at[(place, "goal_found")] += in_goal
                best = max(hits, key=lambda h: (h[0], h[1].get("score", 0.0)))[1]
                type_total += 1
                type_ok += best["type"] == kind
                confusion[kind][best["type"]] += 1
            for p in pred_events:
                p0, p1 = float(p["start"]), float(p["end"])
                matched = any(
                    _overlap(float(e["start"]) - TOLERANCE_S, float(e["end"]) + TOLERANCE_S, p0, p1)
                    >= 0
                    for e in truth_events
                )
                if matched:
                    continue
                inside = any(
                    _overlap(float(c["start"]), float(c["end"]), p0, p1) >= 0 for c in common
                )
                false_in_common += inside
                in_scan = any(
                    _overlap(float(c["start"]), float(c["end"]), p0, p1) >= 0
                    for c in common
                    if c["type"] in SCAN_OR_LEVELLING
                )
                false_in_scans += in_scan
                false_alarms.append(
                    {
                        "fill": int(fill_key),
                        "channel": int(ch),
                        "type": p["type"],
                        "start": p0,
                        "end": p1,
                        "score": p.get("score"),
                        "in_common_mode": inside,
                    }
                )
    by_type = {
        kind: {
            "total": events_total[kind],
            "found": events_found[kind],
            "recall": ratio(events_found[kind], events_total[kind]),
            "bins": {
                label: {
                    "total": bins_total[(k, label)],
                    "found": bins_found[(k, label)],
                    "recall": ratio(bins_found[(k, label)], bins_total[(k, label)]),
                }
                for (k, label) in sorted(bins_total, key=lambda kl: _bin_order(*kl))
                if k == kind
            },
        }
        for kind in sorted(events_total)
    }
    goal = {
        kind: {
            "total": goal_total[kind],
            "found": goal_found[kind],
            "recall": ratio(goal_found[kind], goal_total[kind]),
        }
        for kind in GOAL_EVENTS
    }
    return {
        "n_fills": n_fills,
        "fills_anomalous": fills_anomalous,
        "missing_results": missing_results,
        "channels": binary_confusion(tp, fp, fn, tn),
        "dead": {
            "accuracy": ratio(dead_ok, dead_total),
            "total": dead_total,
            "missed": dead_missed,
            "false": dead_false,
        },
        "events": {
            "total": sum(events_total.values()),
            "found": sum(events_found.values()),
            "recall": ratio(sum(events_found.values()), sum(events_total.values())),
            "by_type": by_type,
            "goal": goal,
            "drift_by_position": _drift_table(drift_at, DRIFT_POSITIONS),
            "drift_by_contrast": _drift_table(drift_at, DRIFT_CONTRASTS),
            "type_accuracy": ratio(type_ok, type_total),
            "confusion": {k: dict(v) for k, v in confusion.items()},
            "missed": missed,
        },
        "false_alarms": {
            "count": len(false_alarms),
            "live_channel_hours": channel_hours,
            "per_channel_hour": ratio(len(false_alarms), channel_hours),
            "in_common_mode": false_in_common,
            "in_scans_or_levelling": false_in_scans,
            "list": false_alarms,
        },
        "wrong_channels": wrong_channels,
    }


def _drift_table(
    drift_at: Mapping[tuple[str, str], int], places: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per position or contrast bin: drifts found and total, all and of the goal."""
    return {
        place: {
            "total": drift_at.get((place, "total"), 0),
            "found": drift_at.get((place, "found"), 0),
            "recall": ratio(drift_at.get((place, "found"), 0), drift_at.get((place, "total"), 0)),
            "goal_total": drift_at.get((place, "goal_total"), 0),
            "goal_found": drift_at.get((place, "goal_found"), 0),
        }
        for place in places
    }


def _bin_order(kind: str, label: str) -> float:
    if label.startswith(">="):
        return float(label[2:])
    if label.startswith("["):
        return float(label[1:].split(",")[0])
    return math.inf


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_evaluation(report: dict[str, Any], *, details: int = 10) -> str:
    """A human-readable summary of :func:`evaluate`'s result."""
    ch = report["channels"]
    lines = [
        f"fills evaluated: {report['n_fills']}"
        + (f" (no result for {report['missing_results']})" if report["missing_results"] else ""),
        f"anomalous channels: precision {_fmt(ch['precision'])}  recall {_fmt(ch['recall'])}  "
        f"F1 {_fmt(ch['f1'])}  (tp {ch['tp']}, fp {ch['fp']}, fn {ch['fn']}, tn {ch['tn']})",
    ]
    dead = report["dead"]
    lines.append(
        f"dead channels: accuracy {_fmt(dead['accuracy'])} over {dead['total']} "
        f"(missed {dead['missed'] or 'none'}, false {dead['false'] or 'none'})"
    )
    ev = report["events"]
    lines.append(
        f"events: {ev['found']}/{ev['total']} found (recall {_fmt(ev['recall'])}), "
        f"type accuracy {_fmt(ev['type_accuracy'])}"
    )
    for kind, info in ev["by_type"].items():
        bins = "  ".join(f"{label}: {b['found']}/{b['total']}" for label, b in info["bins"].items())
        lines.append(f"  {kind:8s} {info['found']:3d}/{info['total']:<3d} {bins}")
    if ev["confusion"]:
        lines.append(
            "  types (truth -> predicted): "
            + "; ".join(
                f"{k}: " + ", ".join(f"{p} {n}" for p, n in v.items())
                for k, v in sorted(ev["confusion"].items())
            )
        )
    fa = report["false_alarms"]
    lines.append(
        f"false alarms: {fa['count']} in {fa['live_channel_hours']:.1f} live channel-hours "
        f"= {_fmt(fa['per_channel_hour'], 4)} per channel-hour; "
        f"{fa['in_common_mode']} inside common-mode periods "
        f"({fa['in_scans_or_levelling']} inside scans or levelling steps)"
    )
    lines.append(f"fills called anomalous: {report['fills_anomalous']} of {report['n_fills']}")
    lines.append(
        "goal recall: "
        + "  ".join(
            f"{kind} {g['found']}/{g['total']}" for kind, g in ev["goal"].items() if g["total"]
        )
    )
    for axis, unit in (("position", ""), ("contrast", " x wander spread")):
        at = ev.get(f"drift_by_{axis}", {})
        if any(p["total"] for p in at.values()):
            lines.append(
                f"drift recall by {axis} (all; goal): "
                + "  ".join(
                    f"{name}{unit} {p['found']}/{p['total']}; {p['goal_found']}/{p['goal_total']}"
                    for name, p in at.items()
                    if p["total"]
                )
            )
    for item in fa["list"][:details]:
        lines.append(
            f"  fill {item['fill']} ch {item['channel']} {item['type']} "
            f"score {_fmt(item['score'], 2)}{' (common mode)' if item['in_common_mode'] else ''}"
        )
    for item in ev["missed"][:details]:
        lines.append(
            f"  missed: fill {item['fill']} ch {item['channel']} {item['type']} "
            f"magnitude {item['magnitude']:.4g}"
        )
    return "\n".join(lines) + "\n"


def results_root(folder: Path) -> Path:
    """The results folder (holding ``{year}/``) of ``folder``, which may be a year's folder."""
    return folder.parent if (folder / "fills").is_dir() else folder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score results against generator truth or human labels"
    )
    parser.add_argument("--truth", type=Path, help="generator truth.json")
    parser.add_argument(
        "--results",
        type=Path,
        required=True,
        help="results/{year} folder (with --labels alone, the results folder itself also works)",
    )
    parser.add_argument(
        "--labels",
        nargs="?",
        const="",
        default=None,
        help="score against the review app's labels (default: the database the review app "
        "keeps beside the results folder, results.labels.sqlite)",
    )
    parser.add_argument(
        "--validation-log",
        type=Path,
        default=None,
        help="score the luminometer cross-check of the results folder against the experts' "
        "fill validation log (fillValidationLog.json), beside the public rule",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.truth is None and args.labels is None and args.validation_log is None:
        print("pltanomaly evaluate: give --truth TRUTH.json, --labels [DB] or --validation-log LOG")
        return 2
    if args.validation_log is not None:
        from pltanomaly.luminometers.evaluate import print_against_log

        print_against_log(args.results, args.validation_log, json_out=args.json)
    if args.truth is not None:
        try:
            report = evaluate(args.truth, args.results)
        except (OSError, ValueError, KeyError) as exc:
            print(f"pltanomaly evaluate: {exc}")
            return 2
        sys.stdout.write(format_evaluation(report))
        if args.json:
            from pltanomaly.core.atomic import write_json_atomic

            write_json_atomic(args.json, report)
    if args.labels is not None:
        try:
            from pltanomaly.review import agreement
        except ImportError:
            print("pltanomaly evaluate --labels: the review app (pltanomaly.review) is missing")
            return 2
        try:
            result = agreement.score_against_labels(results_root(args.results), args.labels or None)
        except FileNotFoundError as exc:
            print(f"pltanomaly evaluate --labels: {exc}")
            return 2
        if hasattr(agreement, "print_agreement"):
            agreement.print_agreement(result)
        else:
            print(json.dumps(result, indent=1))
    return 0
