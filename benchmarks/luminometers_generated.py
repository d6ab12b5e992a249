"""The luminometer cross-check on generated fills, through the hd5 path (the PLT fill job's
``lumi`` step on the tables its conversion read): recall of the injected luminometer
anomalies of at least 2 %, whether the right luminometer is named when three or more are
present, and false events per 100 fill-hours. The fills are one year: the fills off against
the year (:mod:`pltanomaly.luminometers.year_scale`) are added, as the year's aggregation
does. Nothing of the cross-check was tuned on the generator (it was developed on the real
sets), so any seed is an evaluation seed.

    python benchmarks/luminometers_generated.py [--fills 20] [--hours 1] [--seed 20261205]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import pandas as pd

from pltanomaly.channels.fill_job import FillJob, run_fill_job
from pltanomaly.channels.generate import generate_year
from pltanomaly.core.bril import LS_SECONDS
from pltanomaly.luminometers.generate import add_luminometers
from pltanomaly.luminometers.steps import table_path
from pltanomaly.luminometers.year_normals import with_year

MIN_MAGNITUDE = 0.02


def overlaps(event: dict, start: float, end: float) -> bool:
    return event["start"] <= end + LS_SECONDS and event["end"] >= start - LS_SECONDS


def score(fills: dict[int, tuple[dict, dict]]) -> dict:
    """Per type: injected (>= 2 %), found on the right luminometer, found on any, named right
    with >= 3 luminometers; false events, PLT events a PLT channel's own anomaly explains
    (the PLT total moves by that channel's share: "drop due to partial channel dropout"),
    and fill-hours."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    false_events, by_channels, hours = 0, 0, 0.0
    for truth, result in fills.values():
        hours += (result["end"] - result["start"]) / 3600.0
        entries = result["luminometers"]
        compared = [n for n, e in entries.items() if e["status"] != "absent"]
        injected = [e for e in truth["events"] if abs(e["magnitude"]) >= MIN_MAGNITUDE]
        for event in injected:
            row = table[event["type"]]
            row["injected"] += 1
            own = entries.get(event["luminometer"], {}).get("events", [])
            on_right = any(overlaps(e, event["start"], event["end"]) for e in own)
            on_any = any(
                overlaps(e, event["start"], event["end"])
                for entry in entries.values()
                for e in entry.get("events", [])
            )
            row["found"] += on_any
            row["right_luminometer"] += on_right
            if len(compared) >= 3:
                row["three_plus"] += 1
                status = entries.get(event["luminometer"], {}).get("status")
                row["named_right"] += bool(on_right and status == "anomalous")
        channel_events = truth.get("pltzero_channels_events", [])
        for name, entry in entries.items():
            for e in entry.get("events", []):
                if any(overlaps(e, t["start"], t["end"]) for t in truth["events"]):
                    continue
                if name == "pltzero" and any(
                    overlaps(e, t["start"], t["end"]) for t in channel_events
                ):
                    by_channels += 1
                else:
                    false_events += 1
    return {
        "types": {k: dict(v) for k, v in table.items()},
        "false": false_events,
        "by_channels": by_channels,
        "hours": hours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=int, default=20)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        year_dir = generate_year(root / "source", 2022, args.fills, args.hours, args.seed)
        truth = add_luminometers(year_dir, seed=args.seed)
        fills, tables = {}, {}
        for key, fill_truth in truth["fills"].items():
            fill = int(key)
            job = FillJob(2022, fill, root / "results" / "2022", year_dir / key)
            run_fill_job(job, redo=set())
            path = job.path("lumi_dir") / f"{fill}.json"
            if path.exists():
                fills[fill] = (fill_truth["luminometers"], json.loads(path.read_text()))
                tables[fill] = pd.read_parquet(table_path(job.path("lumi_dir"), fill))
    checked = with_year({fill: result for fill, (_, result) in fills.items()}, tables)
    fills = {fill: (injected, checked[fill]) for fill, (injected, _) in fills.items()}
    scores = score(fills)
    print(f"{len(fills)} fills x {args.hours:g} h, seed {args.seed}; anomalies >= 2 %")
    print(
        f"{'type':<8} {'injected':>8} {'found':>6} {'on its luminometer':>19} {'named (>=3)':>12}"
    )
    total = defaultdict(int)
    for kind, row in sorted(scores["types"].items()):
        for k, v in row.items():
            total[k] += v
        named = f"{row.get('named_right', 0)}/{row.get('three_plus', 0)}"
        print(
            f"{kind:<8} {row['injected']:>8} {row.get('found', 0):>6} "
            f"{row.get('right_luminometer', 0):>19} {named:>12}"
        )
    named = f"{total['named_right']}/{total['three_plus']}"
    print(
        f"{'all':<8} {total['injected']:>8} {total['found']:>6} "
        f"{total['right_luminometer']:>19} {named:>12}"
    )
    per_100h = 100 * scores["false"] / max(scores["hours"], 1e-9)
    print(
        f"false events: {scores['false']} ({per_100h:.1f} per 100 fill-hours); PLT events a PLT "
        f"channel's anomaly explains: {scores['by_channels']}"
    )


if __name__ == "__main__":
    main()
