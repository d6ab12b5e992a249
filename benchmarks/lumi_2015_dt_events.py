"""The 2015 real set (no expert log): the DT events of the luminometer cross-check, aligned on
the flagged LS, and where in their run they start (``docs/figures/2015-dt-events.png``).

    python benchmarks/lumi_2015_dt_events.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from pltanomaly.luminometers.brilcalc import (
    luminometer_columns,
    read_fills,
    stable_values,
)
from pltanomaly.luminometers.crosscheck import crosscheck_fills

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "real-data" / "lumi" / "2015"
FIGURE = ROOT / "docs" / "figures" / "2015-dt-events.png"


def dt_ratio(table) -> tuple[object, np.ndarray]:
    """The STABLE BEAMS rows and DT over the median of the others, each fill-normalised."""
    stable, values = stable_values(table)
    column = luminometer_columns(table).index("dt")
    others = np.delete(values, column, axis=1)
    reference = np.nanmedian(others / np.nanmedian(others, axis=0), axis=1)
    ratio = values[:, column] / np.nanmedian(values[:, column]) / reference
    return stable, ratio / np.nanmedian(ratio)


def main() -> None:
    tables = read_fills(sorted(DATA.glob("*.csv*"))).tables
    results = crosscheck_fills(tables, 2015)
    events = [
        (fill, name, event)
        for fill, result in results.items()
        for name, entry in result["luminometers"].items()
        for event in entry.get("events", [])
    ]
    dt = [(fill, event) for fill, name, event in events if name == "dt"]
    figure, (aligned, where) = plt.subplots(1, 2, figsize=(12, 4.2))
    starts = []
    for fill, event in dt:
        run, ls = (int(part) for part in event["first"].split(":"))
        starts.append(ls)
        stable, ratio = dt_ratio(tables[fill])
        at = np.flatnonzero((stable["run"].to_numpy() == run) & (stable["ls"].to_numpy() == ls))
        if at.size:
            lo, hi = max(0, at[0] - 10), min(len(ratio), at[0] + 11)
            aligned.plot(np.arange(lo, hi) - at[0], ratio[lo:hi], lw=0.6, alpha=0.6)
    aligned.set_xlabel("LS from the flagged DT LS")
    aligned.set_ylabel("DT / median of the others (fill-normalised)")
    aligned.set_title(f"2015: the {len(dt)} DT events of {len(events)}, aligned")
    aligned.set_ylim(0.9, 1.05)
    where.hist(starts, bins=np.arange(0, max(starts, default=0) + 30, 10), color="C3")
    where.set_xlabel("LS of the run where the DT event starts")
    where.set_ylabel("DT events")
    where.set_title("where in the run they start")
    figure.tight_layout()
    figure.savefig(FIGURE, dpi=90)
    magnitudes = [event["magnitude"] for _, event in dt]
    print(f"{len(events)} events, {len(dt)} of DT; wrote {FIGURE}")
    if magnitudes:
        print(
            f"DT magnitude median {np.median(magnitudes):+.3f}, "
            f"first 30 LS of a run: {sum(s <= 30 for s in starts)} of {len(starts)}"
        )


if __name__ == "__main__":
    main()
