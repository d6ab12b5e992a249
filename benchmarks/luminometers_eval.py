"""Score the luminometer cross-check and the public rule on every real set of
``../shared/real-data/lumi`` (beside the checkout) (or the folder given), one table per set.

    PYTHONPATH=src python benchmarks/luminometers_eval.py [FOLDER] [--fills]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from pltanomaly.luminometers.brilcalc import read_fills
from pltanomaly.luminometers.crosscheck import crosscheck_fills
from pltanomaly.luminometers.evaluate import (
    evaluate,
    format_table,
    public_rule_result,
    score_fill,
)
from pltanomaly.luminometers.validation_log import read_validation_log

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "real-data" / "lumi"
"""The real sets, in ``shared/`` beside the checkout (as CI lays it out)."""


def main(argv: list[str]) -> int:
    show_fills = "--fills" in argv
    folders = [Path(a) for a in argv if not a.startswith("--")] or [DEFAULT]
    for folder in folders:
        for data_set in sorted(p for p in folder.iterdir() if p.is_dir()):
            started = time.perf_counter()
            tables = read_fills(sorted(data_set.glob("*.csv*"))).tables
            results = crosscheck_fills(tables)
            rule = {fill: public_rule_result(table, fill) for fill, table in tables.items()}
            log_path = data_set / "validation-log.json"
            log = read_validation_log(log_path) if log_path.exists() else {}
            log = log or None
            ours, anchor = evaluate(tables, results, log), evaluate(tables, rule, log)
            elapsed = time.perf_counter() - started
            print(f"\n## {data_set.name} ({'log' if log else 'no log'}; {elapsed:.1f} s)")
            print(format_table({"ours": ours, "public rule": anchor}))
            for method, evaluation in (("ours", ours), ("public rule", anchor)):
                for missed in evaluation.total.missed:
                    print(f"  {method} missed: {missed}")
            if log is None:
                kinds = Counter(
                    (name, event["type"])
                    for result in results.values()
                    for name, found in result["luminometers"].items()
                    for event in found["events"]
                )
                print("  ours events by luminometer and type:", dict(sorted(kinds.items())))
            if log is None or show_fills:
                for name, score in ours.per_luminometer.items():
                    if score.flagged_fills:
                        print(f"  ours flags {name}: fills {sorted(set(score.flagged_fills))}")
            if show_fills:
                for fill, result in results.items():
                    entry = log.get(fill) if log else None
                    for name, found in result["luminometers"].items():
                        for e in found["events"]:
                            alone = {**result, "luminometers": {name: {**found, "events": [e]}}}
                            scored = score_fill(tables[fill], alone, entry).get(name)
                            verdict = "false" if scored and scored.false_events else "ok"
                            print(
                                f"    {fill} {name} {e['type']} {e['first']}..{e['last']} "
                                f"{e['magnitude']:+.4f} score {e['score']:.2f} {verdict}"
                            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
