"""Luminometer results for the review app tests: the real 2016 slice, and a hand-made fill
whose events and verdicts give known agreement figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pltanomaly.luminometers.brilcalc import read_fills
from pltanomaly.luminometers.crosscheck import crosscheck_fills, write_result

DATA = Path(__file__).parents[1] / "luminometers" / "data"
HAND_YEAR, HAND_FILL = 2018, 7000


def add_real_2016(results: Path) -> Path:
    """The cross-check of the real 2016 slice (fills 4947, 4958) with its tables, and a plot
    of fill 4947; returns the validation-log slice of those fills."""
    folder = results / "2016" / "lumi"
    tables = read_fills(sorted(DATA.glob("2016-*.csv.gz"))).tables
    for fill, result in crosscheck_fills(tables, 2016).items():
        write_result(result, folder)
        (folder / "tables").mkdir(exist_ok=True)
        tables[fill].to_parquet(folder / "tables" / f"{fill}.parquet")
    (folder / "plots").mkdir(exist_ok=True)
    (folder / "plots" / "4947.png").write_bytes(b"\x89PNG\r\n\x1a\n lumi plot")
    return DATA / "2016-validation-log.json"


def event(kind: str, first: str, last: str, score: float) -> dict:
    return {"type": kind, "first": first, "last": last, "magnitude": -0.03, "score": score}


def add_hand_made(results: Path, *, with_table: bool = True) -> None:
    """Fill 7000 of 2018: runs 320000 (LS 1-100) and 320001 (LS 1-50), three luminometers.
    pltzero: dip 320000:10..19 (score 0.9), spike 320000:60..61 (0.8); hfoc: step
    320001:5..9 (0.7); ramses: none."""
    run = np.r_[np.full(100, 320000), np.full(50, 320001)]
    ls = np.r_[np.arange(1, 101), np.arange(1, 51)]
    table = pd.DataFrame(
        {"fill": HAND_FILL, "run": run, "ls": ls, "time": 1.53e9 + 23.31 * np.arange(150)}
    )
    table["stable"] = True
    table["beamstatus"] = "STABLE BEAMS"
    for name in ("pltzero", "hfoc", "ramses"):
        table[name] = 5000.0
    result = {
        "fill": HAND_FILL,
        "year": HAND_YEAR,
        "start": 1.53e9,
        "end": 1.53e9 + 150 * 23.31,
        "source": "brilcalc",
        "anomalous": True,
        "luminometers": {
            "pltzero": {
                "status": "anomalous",
                "score": 0.9,
                "median_ratio": 1.004,
                "events": [
                    event("dip", "320000:10", "320000:19", 0.9),
                    event("spike", "320000:60", "320000:61", 0.8),
                ],
            },
            "hfoc": {
                "status": "anomalous",
                "score": 0.7,
                "median_ratio": 0.998,
                "events": [event("step", "320001:5", "320001:9", 0.7)],
            },
            "ramses": {"status": "normal", "score": 0.0, "median_ratio": 1.0, "events": []},
            "bcm1fsi": {"status": "absent", "score": 0.0, "events": []},
        },
    }
    folder = results / str(HAND_YEAR) / "lumi"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{HAND_FILL}.json").write_text(json.dumps(result))
    if with_table:
        (folder / "tables").mkdir(exist_ok=True)
        table.to_parquet(folder / "tables" / f"{HAND_FILL}.parquet")
