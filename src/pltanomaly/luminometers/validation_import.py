"""Import the experts' fill-validation log into the review app's label store as luminometer
verdicts (``pltanomaly import-validation``).

Per fill of the log (:func:`~pltanomaly.luminometers.validation_log.read_validation_log`):

* an invalidated range whose reason is **truth** -> ``bad`` over that range, with the reason and
  the reason's class as type when it is a cross-check type (dip, spike, step, drift, wave,
  noise; a whole-fill invalidation is ``scale``);
* an invalidated range whose reason is an **ignore zone** (absent, missing, no data, not valid
  for 5 TeV, previously invalidated, scans) and every ``missing_lumisections`` range ->
  ``ignore``;
* a luminometer with data in the fill's result and no truth range -> ``good`` over the whole fill.

Bounds ``-1`` stay open (start / end of the fill); ranges may cross runs. The log's names apply
to every luminometer of the result the log judges under that name (``bcm1f`` entries judge
``bcm1fsi``, :func:`~pltanomaly.luminometers.names.log_name`). The year of a fill is the year
folder holding its ``lumi/{fill}.json`` (or ``--year``); fills of no year are skipped.
Re-importing replaces the verdicts the log gave before (source ``validation-log``), never the
experts' own.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pltanomaly.luminometers.labels import LUMI_TYPES, LumiLabels, NewVerdict
from pltanomaly.luminometers.names import log_name
from pltanomaly.luminometers.results import LumiResults, present
from pltanomaly.luminometers.validation_log import FillEntry, LogRange, read_validation_log

log = logging.getLogger(__name__)


@dataclass
class ImportSummary:
    fills: int = 0
    removed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"good": 0, "bad": 0, "ignore": 0})
    skipped_fills: list[int] = field(default_factory=list)


def entry_verdicts(
    entry: FillEntry, luminometers: list[str], with_data: list[str]
) -> list[NewVerdict]:
    """The verdicts one fill's log entry gives; ``luminometers``: the result's names (all),
    ``with_data``: those with data in the fill (they get ``good`` when the log has no truth)."""

    def targets(logged: str) -> list[str]:
        return [n for n in luminometers if log_name(n) == logged] or [logged]

    def verdict(r: LogRange, kind: str) -> list[NewVerdict]:
        type_ = r.category if kind == "bad" and r.category in LUMI_TYPES else None
        return [
            NewVerdict(name, r.begin, r.end, kind, type_, r.reason, entry.validated_by)
            for name in targets(r.luminometer)
        ]

    out: list[NewVerdict] = []
    for r in entry.truth:
        out += verdict(r, "bad")
    for r in entry.ignore:
        out += verdict(r, "ignore")
    judged_bad = {r.luminometer for r in entry.truth}
    for name in with_data:
        if log_name(name) not in judged_bad:
            reason = "validated, no invalidation"
            out.append(NewVerdict(name, None, None, "good", None, reason, entry.validated_by))
    return out


def import_validation_log(
    entries: Mapping[int, FillEntry],
    labels: LumiLabels,
    results: LumiResults,
    year: int | None = None,
) -> ImportSummary:
    """Store the verdicts of ``entries`` (see the module doc); one transaction."""
    years = results.years_of()
    summary = ImportSummary()
    items: list[tuple[int, int, NewVerdict]] = []
    for fill, entry in sorted(entries.items()):
        fill_year = year if year is not None else years.get(fill)
        if fill_year is None:
            summary.skipped_fills.append(fill)
            continue
        result = results.load(fill_year, fill) or {"luminometers": {}}
        verdicts = entry_verdicts(entry, list(result["luminometers"]), present(result))
        items += [(fill_year, fill, v) for v in verdicts]
        summary.fills += 1
        for v in verdicts:
            summary.counts[v.verdict] += 1
    summary.removed, _ = labels.replace_log(items)
    return summary


def register(subparsers: argparse._SubParsersAction) -> None:
    from pltanomaly.review.labels import add_labels_option

    parser = subparsers.add_parser(
        "import-validation",
        help="import the experts' fill-validation log as luminometer verdicts",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("log", type=Path, help="fillValidationLog.json")
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    add_labels_option(parser)
    parser.add_argument(
        "--year", type=int, default=None, help="year of every fill (default: from the results)"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from pltanomaly.review.labels import LabelStore, default_labels_path

    entries = read_validation_log(args.log)
    store = LabelStore(args.labels or default_labels_path(args.results))
    summary = import_validation_log(
        entries, LumiLabels(store), LumiResults(args.results), args.year
    )
    c = summary.counts
    print(
        f"{summary.fills} fills imported into {store.path}: {c['bad']} bad, {c['good']} good, "
        f"{c['ignore']} ignore ({summary.removed} earlier imported verdicts replaced)"
    )
    if summary.skipped_fills:
        print(
            f"{len(summary.skipped_fills)} fills skipped (no lumi result in {args.results}, "
            "give --year): " + ", ".join(map(str, summary.skipped_fills[:20]))
        )
    return 0
