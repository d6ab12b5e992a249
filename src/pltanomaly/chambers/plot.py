"""A DT run's plots: what an expert needs to judge a run and its bad chambers at a glance.

- ``plots/{run}.png``: one panel per station, wheel (rows) x sector (columns), each chamber
  coloured by its status (good, bad, not judged, missing: not fetched), a bad chamber marked
  with its count of flagged layers;
- ``plots/{run}/{chamber}.png``: a bad chamber's layers x wires occupancy (cells that do not
  exist blank), each flagged layer outlined (red: bad, black: dead) and each event's wires
  boxed in the colour of its type.

Drawn with the Agg backend, margins fixed in inches, written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from pltanomaly.chambers.geometry import (
    CHAMBERS,
    LAYER_LABELS,
    N_LAYERS,
    STATIONS,
    WHEELS,
    chamber_from_key,
    sectors,
)
from pltanomaly.core.figures import fixed_margins, save_png

STATES = ("good", "bad", "not_judged", "missing")
STATE_COLOURS = {
    "good": "#a1d99b",
    "bad": "#d62728",
    "not_judged": "#bdbdbd",
    "missing": "#fdae6b",
}
TYPE_COLOURS = {
    "dead_layer": "#000000",
    "inefficient_layer": "#ff7f0e",
    "dead_block": "#ffffff",
    "hot_cell": "#ff00ff",
    "noisy_layer": "#9467bd",
    "synchronous_noise": "#8c564b",
}
MAP_MARGINS = {"left": 0.6, "right": 0.15, "top": 0.95, "bottom": 0.9}
CHAMBER_MARGINS = {"left": 1.25, "right": 1.1, "top": 1.1, "bottom": 0.55}
MAX_SECTORS = 14


def chamber_states(result: Mapping[str, Any]) -> dict[str, str]:
    """Every chamber's state on the run map: its status, or ``missing`` when the fetch did
    not get it (or the run has no detection at all)."""
    judged = result.get("chambers") or {}
    states = {}
    for chamber in CHAMBERS:
        entry = judged.get(chamber.key)
        if entry is None or entry.get("missing"):
            states[chamber.key] = "missing"
        else:
            states[chamber.key] = entry.get("status", "missing")
    return states


def bad_layers(chamber_result: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """The flagged layers (status ``bad`` or ``dead``) of a chamber's result, by layer."""
    return {
        int(layer): entry
        for layer, entry in (chamber_result.get("layers") or {}).items()
        if entry.get("status") in ("bad", "dead")
    }


def plot_run_map(result: Mapping[str, Any], out: str | os.PathLike[str]) -> Path:
    """The run's wheel x sector map per station, chambers coloured by state."""
    run = int(result["run"])
    states = chamber_states(result)
    colour_index = {state: i for i, state in enumerate(STATES)}
    cmap = ListedColormap([STATE_COLOURS[s] for s in STATES])
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.4), gridspec_kw={"hspace": 0.35})
    fixed_margins(fig, MAP_MARGINS)
    for ax, station in zip(axes.flat, STATIONS, strict=True):
        n_sectors = len(sectors(station))
        grid = np.array(
            [
                [colour_index[states[f"W{wheel}_St{station}_Sec{s}"]] for s in sectors(station)]
                for wheel in WHEELS
            ]
        )
        ax.pcolormesh(
            np.arange(0.5, n_sectors + 1),
            np.arange(len(WHEELS) + 1) - 2.5,
            grid,
            cmap=cmap,
            vmin=-0.5,
            vmax=len(STATES) - 0.5,
            edgecolors="#808080",
            linewidth=0.5,
        )
        for wheel in WHEELS:
            for sector in sectors(station):
                entry = (result.get("chambers") or {}).get(f"W{wheel}_St{station}_Sec{sector}")
                if entry and entry.get("status") == "bad":
                    ax.text(
                        sector,
                        wheel,
                        str(len(bad_layers(entry))),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white",
                        fontweight="bold",
                    )
        ax.set_title(f"MB{station}", fontsize=10)
        ax.set_xticks(range(1, n_sectors + 1))
        ax.set_xlim(0.5, MAX_SECTORS + 0.5)
        ax.set_yticks(WHEELS)
        ax.set_xlabel("sector", fontsize=9)
        ax.set_ylabel("wheel", fontsize=9)
        ax.tick_params(labelsize=8)
    counts = {s: list(states.values()).count(s) for s in STATES}
    handles = [
        Patch(facecolor=STATE_COLOURS[s], edgecolor="#808080", label=f"{s} ({counts[s]})")
        for s in STATES
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(STATES), fontsize=9, frameon=False)
    bad = sorted(k for k, s in states.items() if s == "bad")
    title = f"DT run {run}: " + (
        f"{len(bad)} bad chamber(s): {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}"
        if bad
        else "no bad chamber"
    )
    fetch = result.get("fetch") or {}
    subtitle = f"status {result.get('status')}"
    if result.get("reason") or fetch.get("reason"):
        subtitle += f": {result.get('reason') or fetch.get('reason')}"
    subtitle += "; numbers: flagged layers"
    fig.suptitle(f"{title}\n{subtitle[:160]}", fontsize=11, x=0.01, ha="left")
    return save_png(fig, out)


def plot_chamber(
    run: int,
    key: str,
    hits: np.ndarray,
    chamber_result: Mapping[str, Any],
    out: str | os.PathLike[str],
) -> Path:
    """A chamber's layers x wires occupancy with its flagged layers and events outlined."""
    chamber = chamber_from_key(key)
    n_wires = hits.shape[1]
    shown = np.ma.masked_less(hits, 0)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.4 + 0.07 * n_wires), 4.6))
    fixed_margins(fig, CHAMBER_MARGINS)
    existing = hits[hits >= 0]
    top = float(np.percentile(existing, 99.5)) * 1.2 if existing.size else 1.0
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    image = ax.imshow(
        shown,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=0,
        vmax=max(top, 1.0),
        extent=(0.5, n_wires + 0.5, 0.5, N_LAYERS + 0.5),
    )
    colorbar = fig.colorbar(image, ax=ax, extend="max", pad=0.02, fraction=0.05)
    colorbar.set_label("hits", fontsize=9)
    flagged = bad_layers(chamber_result)
    types: set[str] = set()
    for layer, entry in flagged.items():
        colour = "#000000" if entry.get("status") == "dead" else "#d62728"
        cells = np.flatnonzero(hits[layer - 1] >= 0)
        first, last = (cells[0] + 1, cells[-1] + 1) if cells.size else (1, n_wires)
        ax.add_patch(
            Rectangle(
                (first - 0.5, layer - 0.5),
                last - first + 1,
                1,
                fill=False,
                edgecolor=colour,
                lw=2.0,
            )
        )
        for event in entry.get("events") or []:
            types.add(event["type"])
            ax.add_patch(
                Rectangle(
                    (event["first_wire"] - 0.5, layer - 0.4),
                    event["last_wire"] - event["first_wire"] + 1,
                    0.8,
                    fill=False,
                    edgecolor=TYPE_COLOURS.get(event["type"], "#7f7f7f"),
                    lw=1.2,
                    ls="--",
                )
            )
    labels = []
    for layer in range(1, N_LAYERS + 1):
        label = LAYER_LABELS[layer - 1]
        if layer in flagged:
            label += f" {flagged[layer]['status']} {float(flagged[layer].get('score', 0)):.2f}"
        elif layer not in chamber.layers:
            label += " (none)"
        labels.append(label)
    ax.set_yticks(range(1, N_LAYERS + 1), labels, fontsize=8)
    for tick, layer in zip(ax.get_yticklabels(), range(1, N_LAYERS + 1), strict=True):
        if layer in flagged:
            tick.set_color("#d62728")
    ax.set_xlabel("wire", fontsize=9)
    if types:
        ax.legend(
            handles=[
                Patch(fill=False, edgecolor=TYPE_COLOURS.get(t, "#7f7f7f"), ls="--", label=t)
                for t in sorted(types)
            ],
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=min(len(types), 3),
            fontsize=8,
            frameon=False,
        )
    code = chamber_result.get("code")
    fig.suptitle(
        f"DT run {run}, chamber {key}: {len(flagged)} flagged layer(s)\n"
        f"entries {chamber_result.get('entries', '?')}"
        + (f", production code {code}" if code is not None else ""),
        fontsize=11,
        x=0.01,
        ha="left",
    )
    return save_png(fig, out)


def plot_run_files(
    result: Mapping[str, Any],
    parquet: str | os.PathLike[str],
    map_out: str | os.PathLike[str],
    chamber_dir: str | os.PathLike[str],
) -> list[Path]:
    """Draw the run's map to ``map_out`` and each bad chamber to ``chamber_dir`` (emptied
    of earlier chamber plots first); return the chamber plots."""
    run = int(result["run"])
    folder = Path(chamber_dir)
    if folder.is_dir():
        for old in folder.glob("*.png"):
            old.unlink()
    plot_run_map(result, map_out)
    bad = [k for k, v in (result.get("chambers") or {}).items() if v.get("status") == "bad"]
    if not bad:
        return []
    from pltanomaly.chambers.load import load_parquet

    chambers = load_parquet(Path(parquet))
    return [
        plot_chamber(run, key, chambers[key], result["chambers"][key], folder / f"{key}.png")
        for key in bad
        if key in chambers
    ]


def draw_failure(run: int, reason: str, out: str | os.PathLike[str]) -> Path:
    """A placeholder map saying why the run's plot could not be drawn."""
    fig = plt.figure(figsize=(8, 2))
    fig.text(0.02, 0.6, f"DT run {run}: no plot", fontsize=12)
    fig.text(0.02, 0.3, reason[:150], fontsize=9)
    return save_png(fig, out)
