"""How far a luminometer departs from the others two and three LS away from a beam step, on
every real set of ``../shared/real-data/lumi`` (beside the checkout) (or the folder given): the
measurement behind the cross-check's ``scan_pad`` of 3 LS.

An LS counts when the luminosity (the median of the other luminometers) steps by under
``CALM`` into and out of it, but by over ``STEP`` two or three LS before or after it (a scan
step, levelling, a dump nearby). Its departure is the luminometer's ratio to the others there,
less the fill's median ratio. Printed per set: the quantiles of the departure, and of the
departure over the nearby step. A luminometer integrating an LS a little apart from the
others departs by a fraction of the adjacent step only; more, at two or three LS, means that
luminometers' LS boundaries differ by more than an LS in that data.

    PYTHONPATH=src python benchmarks/lumi_scan_departures.py [FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pltanomaly.luminometers.brilcalc import read_fills, stable_values
from pltanomaly.luminometers.crosscheck import nanmedian_all, nanmedian_rows

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "real-data" / "lumi"
"""The real sets, in ``shared/`` beside the checkout (as CI lays it out)."""
CALM = 0.02
"""Largest relative step into and out of the LS itself."""
STEP = 0.10
"""Smallest relative step two or three LS away."""
MIN_LS = 30
"""Fewest LS with data for a luminometer (and each of the others) to count in a fill."""
QUANTILES = (0.5, 0.9, 0.99, 1.0)
LABELS = {0.5: "median", 0.9: "90 %", 0.99: "99 %", 1.0: "max"}


def departures(logs: np.ndarray) -> tuple[list[float], list[float]]:
    """Per luminometer (column of ``logs``, log luminosity per LS), the departures of the
    counted LS and the nearby step each sits beside."""
    sizes: list[float] = []
    steps: list[float] = []
    present = [j for j in range(logs.shape[1]) if np.isfinite(logs[:, j]).sum() >= MIN_LS]
    for j in present:
        others = [k for k in present if k != j]
        if len(others) < 2:
            continue
        offsets = np.array([nanmedian_all(logs[:, k]) for k in others])
        reference = nanmedian_rows(logs[:, others] - offsets)
        ratio = logs[:, j] - reference
        ratio -= nanmedian_all(ratio)
        step = np.abs(np.diff(reference))
        for i in range(3, logs.shape[0] - 3):
            if not np.isfinite(ratio[i]) or not max(step[i - 1], step[i]) < CALM:
                continue
            nearby = float(np.nanmax(step[[i - 3, i - 2, i + 1, i + 2]]))
            if nearby > STEP:
                sizes.append(abs(float(ratio[i])))
                steps.append(nearby)
    return sizes, steps


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or [DEFAULT]
    labels = " ".join(f"{LABELS[q]:>6s}" for q in QUANTILES)
    print(f"{'':20s} {'':4s}   {'departure':^27s}   {'departure / nearby step':^23s}")
    print(f"{'set':20s} {'LS':>4s}   {labels}   {labels}")
    for folder in folders:
        for data_set in sorted(p for p in folder.iterdir() if p.is_dir()):
            sizes: list[float] = []
            steps: list[float] = []
            for table in read_fills(sorted(data_set.glob("*.csv*"))).tables.values():
                _, values = stable_values(table)
                with np.errstate(divide="ignore"):
                    found = departures(np.log(values))
                sizes += found[0]
                steps += found[1]
            if not sizes:
                print(f"{data_set.name:20s} {0:4d}")
                continue
            size = np.quantile(sizes, QUANTILES)
            relative = np.quantile(np.divide(sizes, steps), QUANTILES)
            print(
                f"{data_set.name:20s} {len(sizes):4d}   "
                + " ".join(f"{100 * v:5.1f}%" for v in size)
                + "   "
                + " ".join(f"{v:6.2f}" for v in relative)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
