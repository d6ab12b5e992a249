"""``plots/{fill}.png``: what an expert needs to judge a fill at a glance.

Panels, sharing a UTC time axis:

1. the normalised rate of every live channel (normal channels grey, anomalous ones in
   colour), with the median channel: emittance scans, levelling, decay and the dump show
   here and are common to all channels;
2. every live channel's ratio to the reference of the other channels (1 = normal), with the
   same colours: what the detector judges;
3. one panel per anomalous channel (at most ``MAX_CHANNEL_PANELS``, highest scores first)
   with its ratio and its detected events shaded and labelled by type.

The title gives the fill, the year, the anomalous channels with their event types and the
dead channels. Drawn with the Agg backend and written atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pltanomaly.channels.detect import DetectorSettings, RatioView, ratio_view
from pltanomaly.channels.events import format_magnitude
from pltanomaly.core.figures import fixed_margins, save_png

MAX_CHANNEL_PANELS = 8
MARGIN_INCHES = {"left": 0.95, "right": 0.15, "top": 0.95, "bottom": 0.5}
"""Around the panels: the two-line title above, labels left and the time axis below."""
TYPE_COLOURS = {
    "step": "#d62728",
    "drift": "#ff7f0e",
    "spike": "#9467bd",
    "dropout": "#1f77b4",
    "stuck": "#8c564b",
    "noise": "#e377c2",
    "gap": "#7f7f7f",
}
CHANNEL_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#bcbd22"]
UTC = dt.timezone.utc


def _dates(times: np.ndarray) -> np.ndarray:
    return mdates.date2num(pd.to_datetime(times, unit="s", utc=True).to_pydatetime())


def _breaks(times: np.ndarray, period: float) -> np.ndarray:
    """Row positions after which a NaN row is inserted so that lines do not bridge gaps."""
    return np.flatnonzero(np.diff(times) > 3.0 * period) + 1


def _ratio_limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.9, 1.1
    lo, hi = np.percentile(finite, [0.2, 99.8])
    lo, hi = min(lo, 0.99), max(hi, 1.01)
    pad = 0.08 * (hi - lo)
    return max(lo - pad, -0.05), min(hi + pad, 3.0)


def _shade_events(ax: plt.Axes, events: list[dict[str, Any]], t0: float, t1: float) -> None:
    """Shade each event (at least 0.4 % of the time range wide) and label it by type."""
    min_width = 0.004 * max(t1 - t0, 1.0)
    top = ax.get_ylim()[1]
    for event in events:
        start, end = float(event["start"]), float(event["end"])
        if end - start < min_width:
            middle = 0.5 * (start + end)
            start, end = middle - min_width / 2, middle + min_width / 2
        colour = TYPE_COLOURS.get(event["type"], "#999999")
        a, b = _dates(np.array([start, end]))
        ax.axvspan(a, b, color=colour, alpha=0.25, lw=0)
        label = event["type"]
        if "magnitude" in event and event.get("unit"):
            label += f" {format_magnitude(event)}"
        ax.text(
            a,
            top,
            f" {label}",
            color=colour,
            fontsize=8,
            va="top",
            ha="left",
            clip_on=True,
            fontweight="bold",
        )


def plot_fill(
    series_df: pd.DataFrame | None,
    result_dict: Mapping[str, Any],
    out_png: str | Path,
    *,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    view: RatioView | None = None,
) -> Path:
    """Draw the fill's plot to ``out_png`` (atomically) and return its path. The ratios are
    ``view`` (what the detector saw, when it ran in this process) or are made from the
    series with the result's settings."""
    fill = int(result_dict["fill"])
    channels_result = result_dict.get("channels", {})
    dead = sorted(int(c) for c, v in channels_result.items() if v.get("status") == "dead")
    if view is None:
        if series_df is None:
            raise ValueError("plot_fill needs the series or the detector's view")
        if settings is None and isinstance(result_dict.get("settings"), Mapping):
            settings = dict(result_dict["settings"])
        view = ratio_view(series_df, fill=fill, year=year, settings=settings, dead_channels=dead)
    anomalous = sorted(
        (int(c) for c, v in channels_result.items() if v.get("status") == "anomalous"),
        key=lambda c: -float(channels_result[str(c)].get("score", 0.0)),
    )
    colour_of = {c: CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)] for i, c in enumerate(anomalous)}
    shown = anomalous[:MAX_CHANNEL_PANELS]
    n_panels = 2 + len(shown)
    heights = [2.2, 2.2] + [1.3] * len(shown)
    fig, axes = plt.subplots(
        n_panels,
        1,
        sharex=True,
        figsize=(12, sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights, "hspace": 0.12},
    )
    fixed_margins(fig, MARGIN_INCHES)
    t0, t1 = float(view.times[0]), float(view.times[-1])
    steps = np.diff(view.times)
    period = float(np.median(steps)) if len(steps) else 1.0
    cut = _breaks(view.times, period)
    x = _dates(np.insert(view.times, cut, view.times[np.maximum(cut - 1, 0)] + period))
    normalised = np.insert(view.normalised, cut, np.nan, axis=0)
    ratio = np.insert(view.ratio, cut, np.nan, axis=0)
    live_cols = [i for i, c in enumerate(view.channels) if view.live[i]]
    ax_rate, ax_ratio = axes[0], axes[1]
    for i in live_cols:
        ch = view.channels[i]
        bad = ch in colour_of
        kwargs = {
            "color": colour_of.get(ch, "#b0b0b0"),
            "lw": 0.9 if bad else 0.6,
            "zorder": 3 if bad else 2,
            "label": f"ch {ch}" if bad else None,
        }
        ax_rate.plot(x, normalised[:, i], **kwargs)
        ax_ratio.plot(x, ratio[:, i], **kwargs)
    if live_cols and np.isfinite(normalised[:, live_cols]).any():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(normalised[:, live_cols], axis=1)
        ax_rate.plot(x, median, color="k", lw=0.6, ls=":", label="median channel", zorder=4)
    ax_rate.set_ylabel("normalised rate\n(sum of mu)")
    if ax_rate.get_legend_handles_labels()[0]:
        ax_rate.legend(loc="upper right", fontsize=8, ncol=min(len(anomalous) + 1, 6))
    ax_ratio.axhline(1.0, color="k", lw=0.5)
    ax_ratio.set_ylim(*_ratio_limits(view.ratio[:, live_cols] if live_cols else np.array([])))
    ax_ratio.set_ylabel("ratio to the\nother channels")
    for ax, ch in zip(axes[2:], shown, strict=False):
        i = view.channels.index(ch)
        ax.plot(x, ratio[:, i], color=colour_of[ch], lw=0.8)
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_ylim(*_ratio_limits(view.ratio[:, i]))
        info = channels_result[str(ch)]
        ax.set_ylabel(f"ch {ch}\nscore {float(info.get('score', 0)):.2f}", fontsize=9)
        _shade_events(ax, info.get("events", []), t0, t1)
    for ax in axes:
        ax.grid(alpha=0.3, lw=0.5)
    locator = mdates.AutoDateLocator(tz=UTC)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
    day = dt.datetime.fromtimestamp(t0, tz=UTC).strftime("%Y-%m-%d")
    axes[-1].set_xlabel(f"time (UTC), fill start {day}")
    parts = []
    for ch in anomalous:
        kinds = sorted({e["type"] for e in channels_result[str(ch)].get("events", [])})
        parts.append(f"{ch} ({', '.join(kinds)})")
    title = f"Fill {fill} ({year}): " + (
        "anomalous channels " + "; ".join(parts) if parts else "no anomaly"
    )
    subtitle = f"dead channels: {', '.join(map(str, dead)) or 'none'}"
    if len(anomalous) > len(shown):
        subtitle += f"; {len(anomalous) - len(shown)} more anomalous channel(s) not drawn"
    fig.suptitle(f"{title}\n{subtitle}", fontsize=11, x=0.01, ha="left")
    return save_png(fig, out_png)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plot", help="draw a fill's plot from its series and result")
    parser.add_argument("series", type=Path, help="fill series Parquet file")
    parser.add_argument("result", type=Path, help="fill result JSON (from pltanomaly detect)")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--year", type=int, default=None, help="default: from the result")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        result = json.loads(args.result.read_text())
        series = pd.read_parquet(args.series)
        year = args.year if args.year is not None else int(result["year"])
        plot_fill(series, result, args.out, year=year)
    except (OSError, ValueError, KeyError) as exc:
        print(f"pltanomaly plot: {exc}")
        return 2
    print(f"wrote {args.out}")
    return 0
