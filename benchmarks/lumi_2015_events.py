"""The 2015 real set (no expert log): every event of the luminometer cross-check, drawn so that a
reader can judge whether the luminometer really is off, and a classification of the events.

* ``docs/figures/2015-dt-events.png``: the DT events aligned on the flagged LS, and where in
  their run they start;
* ``docs/figures/2015-other-events.png``: one panel per event of another luminometer, and per
  DT event left in class (c) below: the flagged luminometer's ratio to each other luminometer
  over +-25 LS (each pair normalised to its median outside the event), the flagged LS shaded;
* printed: a Markdown table of the events by class - (y) a whole fill off against the
  luminometer's calibration over the year (``year_scale``), (a) start of run (the event
  starts at LS 1-3 of its run, what the 2017 experts invalidate as "Glitch at start of run"),
  (b) off against every other luminometer (>= 2 % the same way against each), (c) the rest - with
  events per 100 fill-hours, and the class (c) events one per line.

    python benchmarks/lumi_2015_events.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from pltanomaly.core.figures import save_png
from pltanomaly.luminometers.brilcalc import luminometer_columns, read_fills, stable_values
from pltanomaly.luminometers.crosscheck import crosscheck_fills
from pltanomaly.luminometers.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "real-data" / "lumi" / "2015"
DT_FIGURE = ROOT / "docs" / "figures" / "2015-dt-events.png"
OTHER_FIGURE = ROOT / "docs" / "figures" / "2015-other-events.png"
WINDOW = 25
"""LS either side of an event drawn, and over which each pair's reference median is taken."""
START_OF_RUN = 3
"""An event starting at LS 1 to this LS of its run (BRIL's LS number, as the validation log
counts) is a start-of-run glitch."""
MIN_MOVE = 0.02
"""The least relative move of the pair ratio, against every other luminometer, for class (b)."""
CLASSES = {
    "y": "whole fill off against the year",
    "a": "start of run",
    "b": "off against every other",
    "c": "rest",
}


@dataclass
class Event:
    """One cross-check event with the pair ratios around it."""

    fill: int
    luminometer: str
    kind: str
    magnitude: float
    first: str
    last: str
    offset: np.ndarray
    """LS index from the event's first LS, over the window."""
    flagged: np.ndarray
    """The event's LS within the window."""
    pairs: dict[str, np.ndarray]
    """Other luminometer -> flagged / other over the window, over its median outside the event
    (a whole-fill event, which leaves no LS outside it: over its median in the year)."""
    normalised: bool
    """Whether ``pairs`` are normalised (the window has LS outside the event)."""
    against_year: bool = False
    """A whole fill off against the year (:mod:`pltanomaly.luminometers.year_scale`)."""

    @property
    def moves(self) -> dict[str, float]:
        """Per other luminometer: the pair ratio's median in the event, relative to around it."""
        return {
            other: float(np.nanmedian(ratio[self.flagged])) - 1
            for other, ratio in self.pairs.items()
        }

    @property
    def label(self) -> str:
        """``y``, ``a``, ``b`` or ``c``: off against the year, start of run, off against every
        other, the rest."""
        if self.against_year:
            return "y"
        if int(self.first.split(":")[1]) <= START_OF_RUN:
            return "a"
        moves = list(self.moves.values())
        if len(moves) >= 2 and (
            all(m >= MIN_MOVE for m in moves) or all(m <= -MIN_MOVE for m in moves)
        ):
            return "b"
        return "c"

    def __str__(self) -> str:
        moves = " ".join(f"{other} {100 * m:+.1f}%" for other, m in self.moves.items())
        return (
            f"{self.fill} {self.luminometer} {self.kind} {100 * self.magnitude:+.1f}% "
            f"{self.first}..{self.last} (vs {moves})"
        )


def _row(stable: pd.DataFrame, bound: str) -> int:
    """Index of the STABLE BEAMS row of LS ``run:ls``."""
    run, ls = (int(part) for part in bound.split(":"))
    at = (stable["run"].to_numpy() == run) & (stable["ls"].to_numpy() == ls)
    return int(np.flatnonzero(at)[0])


def usual_ratios(tables: dict[int, pd.DataFrame]) -> dict[tuple[str, str], float]:
    """Per pair of luminometers, the median over the year's fills of their fill median ratio
    (what a whole-fill event is drawn against)."""
    medians: dict[tuple[str, str], list[float]] = {}
    for table in tables.values():
        _, values = stable_values(table)
        names = luminometer_columns(table)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                ratio = values[:, i] / values[:, j]
                if i != j and np.isfinite(ratio).any():
                    medians.setdefault((a, b), []).append(float(np.nanmedian(ratio)))
    return {pair: float(np.median(v)) for pair, v in medians.items()}


def event_around(
    table: pd.DataFrame,
    fill: int,
    luminometer: str,
    event: dict,
    usual: dict[tuple[str, str], float] | None = None,
) -> Event:
    """The event with the flagged luminometer's ratio to each other one over +-``WINDOW`` LS;
    a whole-fill event's ratios over their ``usual`` value in the year."""
    stable, values = stable_values(table)
    names = luminometer_columns(table)
    first, last = _row(stable, event["first"]), _row(stable, event["last"])
    lo, hi = max(0, first - WINDOW), min(len(stable), last + WINDOW + 1)
    offset = np.arange(lo, hi) - first
    flagged = (offset >= 0) & (offset <= last - first)
    own = values[lo:hi, names.index(luminometer)]
    normalised = bool((~flagged).any())
    pairs = {}
    for column, other in enumerate(names):
        ratio = own / values[lo:hi, column]
        if other == luminometer or not np.isfinite(ratio[flagged]).any():
            continue
        if not normalised:
            pairs[other] = ratio / (usual or {}).get((luminometer, other), 1.0)
        elif np.isfinite(ratio[~flagged]).any():
            pairs[other] = ratio / np.nanmedian(ratio[~flagged])
    return Event(
        fill=fill,
        luminometer=luminometer,
        kind=event["type"],
        magnitude=event["magnitude"],
        first=event["first"],
        last=event["last"],
        offset=offset,
        flagged=flagged,
        pairs=pairs,
        normalised=normalised,
        against_year=event.get("against") == "year",
    )


def dt_ratio(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The STABLE BEAMS rows and DT over the median of the others, each fill-normalised."""
    stable, values = stable_values(table)
    column = luminometer_columns(table).index("dt")
    others = np.delete(values, column, axis=1)
    reference = np.nanmedian(others / np.nanmedian(others, axis=0), axis=1)
    ratio = values[:, column] / np.nanmedian(values[:, column]) / reference
    return stable, ratio / np.nanmedian(ratio)


def draw_dt(tables: dict[int, pd.DataFrame], dt: list[Event], n_events: int) -> None:
    """The DT events aligned on their first LS, and the LS of the run where they start."""
    figure, (aligned, where) = plt.subplots(1, 2, figsize=(12, 4.2))
    starts = []
    for event in dt:
        stable, ratio = dt_ratio(tables[event.fill])
        at = _row(stable, event.first)
        starts.append(int(event.first.split(":")[1]))
        lo, hi = max(0, at - 10), min(len(ratio), at + 11)
        aligned.plot(np.arange(lo, hi) - at, ratio[lo:hi], lw=0.6, alpha=0.6)
    aligned.set_xlabel("LS from the flagged DT LS")
    aligned.set_ylabel("DT / median of the others (fill-normalised)")
    aligned.set_title(f"2015: the {len(dt)} DT events of {n_events}, aligned")
    aligned.set_ylim(0.9, 1.05)
    where.hist(starts, bins=np.arange(0, max(starts, default=0) + 30, 10), color="C3")
    where.set_xlabel("LS of the run where the DT event starts")
    where.set_ylabel("DT events")
    where.set_title("where in the run they start")
    figure.tight_layout()
    save_png(figure, DT_FIGURE, dpi=90)


def _limits(event: Event) -> tuple[float, float]:
    """y range: 1, every flagged LS, and the outside LS but their 10 % most extreme either way
    (another luminometer's own glitches near the event would hide it)."""
    ratios = np.array([*event.pairs.values(), np.ones(event.offset.size)])
    inside, outside = ratios[:, event.flagged], ratios[:, ~event.flagged]
    lo, hi = float(np.nanmin(inside)), float(np.nanmax(inside))
    if not outside.size:  # a whole fill: its own glitches would hide the offset
        lo, hi = (float(np.nanpercentile(inside, q)) for q in (2, 98))
        lo, hi = min(lo, 1.0), max(hi, 1.0)
    if outside.size:
        lo = min(lo, float(np.nanpercentile(outside, 10)))
        hi = max(hi, float(np.nanpercentile(outside, 90)))
    pad = 0.08 * (hi - lo) or 0.01
    return lo - pad, hi + pad


def draw_others(events: list[Event], names: list[str]) -> None:
    """One panel per event: the flagged luminometer over each other one, the event shaded."""
    columns = 6
    rows = math.ceil(len(events) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.1 * columns, 2.5 * rows), squeeze=False)
    colour = {name: f"C{i}" for i, name in enumerate(names)}
    for axis, event in zip(axes.flat, events, strict=False):
        axis.axvspan(-0.5, event.flagged.sum() - 0.5, color="0.85", lw=0)
        axis.axhline(1, color="0.5", lw=0.5)
        for other, ratio in event.pairs.items():
            axis.plot(event.offset, ratio, lw=0.8, color=colour[other], marker=".", ms=2)
        axis.set_ylim(*_limits(event))
        axis.set_title(
            f"{event.fill} {event.luminometer} {event.kind} {100 * event.magnitude:+.1f}%\n"
            f"{event.first}..{event.last}  class ({event.label})"
            + ("" if event.normalised else "\nwhole fill: ratio over its median in the year"),
            fontsize=7,
        )
        axis.tick_params(labelsize=6)
    for axis in axes.flat[len(events) :]:
        axis.axis("off")
    handles = [plt.Line2D([], [], color=colour[name], lw=1.5) for name in names]
    labels = [f"flagged / {name}" for name in names]
    figure.legend(handles, labels, loc="upper center", fontsize=8, ncol=len(names), frameon=False)
    figure.supxlabel("LS from the event's first LS (shaded: flagged LS)", fontsize=8)
    figure.supylabel("flagged / other, over its median outside the event", fontsize=8)
    figure.tight_layout(rect=(0.012, 0.02, 1, 0.96))
    save_png(figure, OTHER_FIGURE, dpi=80)


def class_table(events: list[Event], fill_hours: float) -> str:
    """Markdown: per class, the events, those of DT, and events per 100 fill-hours."""
    lines = [
        "| class | events | of which DT | per 100 fill-hours |",
        "|---|---|---|---|",
    ]
    for label, name in CLASSES.items():
        members = [e for e in events if e.label == label]
        dt = sum(e.luminometer == "dt" for e in members)
        lines.append(
            f"| ({label}) {name} | {len(members)} | {dt} | {100 * len(members) / fill_hours:.2f} |"
        )
    lines.append(
        f"| all | {len(events)} | {sum(e.luminometer == 'dt' for e in events)} | "
        f"{100 * len(events) / fill_hours:.2f} |"
    )
    return "\n".join(lines)


def main() -> None:
    tables = read_fills(sorted(DATA.glob("*.csv*"))).tables
    results = crosscheck_fills(tables, 2015)
    fill_hours = evaluate(tables, results, None).fill_hours
    usual = usual_ratios(tables)
    events = [
        event_around(tables[fill], fill, name, event, usual)
        for fill, result in sorted(results.items())
        for name, entry in result["luminometers"].items()
        for event in entry.get("events", [])
    ]
    dt = [e for e in events if e.luminometer == "dt"]
    panelled = [e for e in events if e.luminometer != "dt" or e.label == "c"]
    names = sorted({n for table in tables.values() for n in luminometer_columns(table)})
    draw_dt(tables, dt, len(events))
    draw_others(panelled, names)
    print(f"2015: {len(events)} events, {len(dt)} of DT, {fill_hours:.1f} fill-hours")
    print(f"wrote {DT_FIGURE.relative_to(ROOT)} and {OTHER_FIGURE.relative_to(ROOT)}\n")
    print(class_table(events, fill_hours))
    print("\nclass (c) events:")
    for event in events:
        if event.label == "c":
            print(f"  {event}")


if __name__ == "__main__":
    main()
