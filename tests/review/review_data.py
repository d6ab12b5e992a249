"""A small results folder that follows shared/docs/results-contract.md, built once per session.

2022: 8001 anomalous (ch 3 +10 % step, score 0.97; ch 5 normal at 0.52, nearest the 0.5 threshold,
      with a drift near miss; dead 6, 8, 9), 8002 normal, 8003 anomalous (ch 11 spike,
      ch 12 dropout, promoted by a calibration), 8004 failed (logs.json only),
      8005 skipped (logs.json only).
2023: 8501 anomalous (ch 7 drift), 8502 normal (no plot).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NB4 = 1.4576
STEP_SIZE = 0.10

# fill -> (year, start, {channel: (status, score, [events])})
EventSpec = tuple[str, float, float, float]  # type, start offset h, end offset h, score


def _channels(
    dead: tuple[int, ...],
    scores: dict[int, float],
    anomalous: dict[int, list[EventSpec]],
    start: float,
    near: dict[int, list[tuple[str, float, float, float, float]]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ch in range(16):
        if ch in dead:
            out[str(ch)] = {"status": "dead", "score": 0.0, "events": []}
            continue
        events = [
            {"type": t, "start": start + a * 3600, "end": start + b * 3600, "score": s}
            for t, a, b, s in anomalous.get(ch, [])
        ]
        for ev in events:  # the detector's extension fields, on some events
            if ev["type"] == "step":
                ev.update(magnitude=STEP_SIZE, unit="relative")
            if ev["type"] == "dropout":  # raised from a near miss by the experts' calibration
                ev.update(promoted=True, below_threshold=True)
        out[str(ch)] = {
            "status": "anomalous" if events else "normal",
            "score": scores.get(ch, round(0.01 + 0.005 * ch, 3)),
            "events": events,
        }
        if ch in near:  # the detector's sub-threshold candidates (not events)
            out[str(ch)]["near_misses"] = [
                {"type": t, "start": start + a * 3600, "end": start + b * 3600, "score": s}
                | {"evidence": x, "below_threshold": True}
                for t, a, b, s, x in near[ch]
            ]
    return out


HOURS = 1.0
FILLS: dict[int, dict[str, Any]] = {
    8001: {
        "year": 2022,
        "start": 1_657_000_000.0,
        "dead": (6, 8, 9),
        "scores": {3: 0.97, 5: 0.52},
        "anomalous": {3: [("step", 0.5, 1.0, 0.97)]},
        "near": {5: [("drift", 0.1, 0.4, 0.35, 0.73)]},
        "plot": True,
    },
    8002: {
        "year": 2022,
        "start": 1_657_100_000.0,
        "dead": (6, 8, 9),
        "scores": {2: 0.44, 10: 0.2},
        "anomalous": {},
        "plot": True,
    },
    8003: {
        "year": 2022,
        "start": 1_657_300_000.0,
        "dead": (6, 8, 9),
        "scores": {11: 0.81, 12: 0.66, 1: 0.3},
        "anomalous": {11: [("spike", 0.2, 0.21, 0.81)], 12: [("dropout", 0.6, 0.65, 0.66)]},
        "plot": True,
    },
    8501: {
        "year": 2023,
        "start": 1_690_000_000.0,
        "dead": (6, 8, 9, 13),
        "scores": {7: 0.9, 4: 0.35},
        "anomalous": {7: [("drift", 0.3, 1.0, 0.9)]},
        "plot": True,
    },
    8502: {
        "year": 2023,
        "start": 1_690_200_000.0,
        "dead": (6, 8, 9, 13),
        "scores": {},
        "anomalous": {},
        "plot": False,
    },
}
LOGGED = {
    2022: {
        8004: {"status": "failed", "reason": "BrilFileError: 8004_355000.hd5: truncated file"},
        8005: {"status": "skipped", "reason": "fill shorter than 20 minutes"},
    },
    2023: {},
}


def make_series(fill: int, spec: dict[str, Any], seed: int = 0) -> pd.DataFrame:
    """Per-NB4, per-channel rows as DESIGN.md describes, with the spec's anomalies injected."""
    rng = np.random.default_rng(seed + fill)
    n = int(HOURS * 3600 / NB4)
    t = spec["start"] + np.arange(n) * NB4
    hours = (t - spec["start"]) / 3600
    base = 300.0 * np.exp(-hours / 12.0)
    frames = []
    for ch in range(16):
        eff = 1.0 + 0.03 * (ch % 5)
        if ch in spec["dead"]:
            eff = 0.0 if ch != 9 else 0.2
        rate = base * eff * (1 + rng.normal(0, 0.004, n))
        for etype, a, b, _ in spec["anomalous"].get(ch, []):
            inside = (hours >= a) & (hours <= b)
            if etype == "step":
                rate[inside] *= 1 + STEP_SIZE
            elif etype == "drift":
                rate[inside] *= 1 + 0.05 * (hours[inside] - a)
            elif etype == "spike":
                rate[inside] *= 4
            elif etype == "dropout":
                rate[inside] = 0.01
        nb = (np.arange(n) % 16 + 1) * 4
        ls = np.arange(n) // 16 + 1
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": t,
                    "run": np.full(n, 355000, dtype=np.uint32),
                    "ls": ls.astype(np.uint32),
                    "nb": nb.astype(np.uint32),
                    "channel": np.full(n, ch, dtype=np.uint8),
                    "rate": rate.astype(np.float64),
                    "empty_mu": np.full(n, 1e-4, dtype=np.float32),
                    "n_bx": np.full(n, 2400, dtype=np.uint16),
                    "checksum": rng.integers(0, 2**63, n).astype(np.uint64),
                    "stuck": np.zeros(n, dtype=bool),
                }
            )
        )
    return (
        pd.concat(frames)
        .sort_values(["timestamp", "channel"], kind="stable")
        .reset_index(drop=True)
    )


def fill_json(fill: int, spec: dict[str, Any]) -> dict[str, Any]:
    channels = _channels(
        spec["dead"], spec["scores"], spec["anomalous"], spec["start"], spec.get("near", {})
    )
    return {
        "fill": fill,
        "year": spec["year"],
        "start": spec["start"],
        "end": spec["start"] + HOURS * 3600,
        "anomalous": any(c["status"] == "anomalous" for c in channels.values()),
        "channels": channels,
    }


def write_plot(path: Path, series: pd.DataFrame, fill: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.5), dpi=60)
    for ch, grp in series.groupby("channel"):
        ax.plot(grp["timestamp"], grp["rate"], lw=0.6, label=str(ch))
    ax.set_title(f"fill {fill}")
    fig.savefig(path)
    plt.close(fig)


def build_results(root: Path) -> Path:
    for year in (2022, 2023):
        (root / str(year) / "fills").mkdir(parents=True)
        (root / str(year) / "plots").mkdir(parents=True)
    rows = []
    logs: dict[int, dict[str, Any]] = {2022: {}, 2023: {}}
    for fill, spec in FILLS.items():
        year = spec["year"]
        ydir = root / str(year)
        series = make_series(fill, spec)
        series.to_parquet(ydir / "fills" / f"{fill}.parquet", compression="zstd")
        result = fill_json(fill, spec)
        (ydir / "fills" / f"{fill}.json").write_text(json.dumps(result, indent=1))
        if spec["plot"]:
            write_plot(ydir / "plots" / f"{fill}.png", series, fill)
        chans = result["channels"]
        rows.append(
            {
                "fill": fill,
                "year": year,
                "start": result["start"],
                "end": result["end"],
                "duration_h": HOURS,
                "n_nb4": int(len(series) / 16),
                "anomalous": result["anomalous"],
                "anomalous_channels": [
                    int(c) for c, v in chans.items() if v["status"] == "anomalous"
                ],
                "normal_channels": [int(c) for c, v in chans.items() if v["status"] == "normal"],
                "dead_channels": [int(c) for c, v in chans.items() if v["status"] == "dead"],
                "n_events": sum(len(v["events"]) for v in chans.values()),
                "max_score": max(v["score"] for v in chans.values()),
            }
        )
        logs[year][fill] = {"status": "ok", "reason": None, "timings": {"detect_s": 0.1}}
    for year, entries in LOGGED.items():
        logs[year].update(entries)
    for year in (2022, 2023):
        ydir = root / str(year)
        pd.DataFrame([r for r in rows if r["year"] == year]).to_parquet(ydir / "report.parquet")
        payload = {
            "year": year,
            "fills": {str(f): e for f, e in sorted(logs[year].items())},
            "versions": {"pltanomaly": "0.1.0"},
        }
        (ydir / "logs.json").write_text(json.dumps(payload, indent=1))
    return root
