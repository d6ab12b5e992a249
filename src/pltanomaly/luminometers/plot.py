"""Plots of the luminometer family: a fill's ratios with the flagged LS ranges
(``lumi/plots/{fill}.png``), and a year's per-fill offsets of each luminometer
(``lumi/offsets.png``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pltanomaly.core.figures import save_png
from pltanomaly.luminometers.brilcalc import luminometer_columns, stable_values

RATIO_RANGE = (0.95, 1.05)
"""The experts' ratio plots span 0.75-1.25; the cross-check's events are mostly within a few
percent, so the panel shows +-5 % and clips beyond."""
HOUR = 3600.0


def ratios_to_others(values: np.ndarray) -> np.ndarray:
    """Per LS and luminometer, its value over the median of the others (each normalised to
    its fill median first); NaN where it or every other is missing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = values / np.nanmedian(values, axis=0)
        ratios = np.full_like(values, np.nan)
        for column in range(values.shape[1]):
            others = np.delete(normalised, column, axis=1)
            if others.shape[1] and np.isfinite(others).any():
                reference = np.nanmedian(np.where(np.isfinite(others), others, np.nan), axis=1)
                ratios[:, column] = normalised[:, column] / reference
    return ratios


def plot_fill(table: Any, result: Mapping[str, Any], out_png: str | os.PathLike[str]) -> None:
    """The fill's luminometer ratios (each to the median of the others) over time, the
    flagged ranges shaded in the luminometer's colour, and the luminosity below."""
    import warnings

    stable, values = stable_values(table)
    names = luminometer_columns(table)
    hours = (stable["time"].to_numpy(float) - float(result.get("start") or 0.0)) / HOUR
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratios = ratios_to_others(values)
        luminosity = np.nanmedian(values, axis=1) if values.size else np.array([])
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    figure.subplots_adjust(left=0.08, right=0.8, top=0.92, bottom=0.09, hspace=0.08)
    entries = result.get("luminometers") or {}
    for column, name in enumerate(names):
        entry = entries.get(name, {})
        status = entry.get("status", "absent")
        (line,) = top.plot(
            hours, np.clip(ratios[:, column], *RATIO_RANGE), lw=0.8, label=f"{name} ({status})"
        )
        for event in entry.get("events") or []:
            start = (event["start"] - float(result.get("start") or 0.0)) / HOUR
            end = (event["end"] - float(result.get("start") or 0.0)) / HOUR
            top.axvspan(start, end, color=line.get_color(), alpha=0.25, lw=0)
            top.annotate(event["type"], (start, RATIO_RANGE[1]), fontsize=7, va="top")
    top.axhline(1.0, color="0.5", lw=0.5)
    top.set_ylim(*RATIO_RANGE)
    top.set_ylabel("ratio to the others")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    top.set_title(
        f"Fill {result.get('fill')} ({result.get('year')}): luminometers"
        + (", anomalous" if result.get("anomalous") else "")
    )
    bottom.plot(hours, luminosity, color="0.2", lw=0.8)
    bottom.set_ylabel("lumi (Hz/µb)")
    bottom.set_xlabel("hours since the first STABLE BEAMS LS")
    save_png(figure, out_png, dpi=90)


def plot_offsets(results: Iterable[Mapping[str, Any]], out_png: str | os.PathLike[str]) -> None:
    """Each luminometer's per-fill offset to the others (``median_ratio``) over a year's
    fills: the slow calibration drifts between luminometers, at a glance."""
    results = sorted(results, key=lambda r: r["fill"])
    figure, axis = plt.subplots(figsize=(11, 4))
    figure.subplots_adjust(left=0.08, right=0.85, top=0.9, bottom=0.14)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for result in results:
        for name, entry in (result.get("luminometers") or {}).items():
            ratio = entry.get("median_ratio")
            if ratio is not None and entry.get("status") != "absent":
                series.setdefault(name, ([], []))[0].append(int(result["fill"]))
                series[name][1].append(float(ratio))
    for name, (fills, ratios) in sorted(series.items()):
        axis.plot(fills, ratios, marker="o", ms=3, lw=0.6, label=name)
    axis.axhline(1.0, color="0.5", lw=0.5)
    axis.set_xlabel("fill")
    axis.set_ylabel("median ratio to the others")
    year = results[0].get("year") if results else ""
    axis.set_title(f"{year}: per-fill offsets of the luminometers")
    if series:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    save_png(figure, out_png, dpi=90)
