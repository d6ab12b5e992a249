"""Per-layer measurements of one chamber, before any threshold: occupancy against the
sibling layers of its superlayer, the largest dead block against an expected profile, and
hot cells against a local median. Only existing cells (not -1) are ever used."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from pltanomaly.chambers.geometry import LAYERS_PER_SUPERLAYER, THETA_SUPERLAYER, Chamber
from pltanomaly.chambers.kernels import deficit_scan, local_median

MEDIAN_OF_THREE_VARIANCE = 0.45
"""Variance of the median of three siblings' ratios, relative to one sibling's."""
OUTLIER_Z = 4.0
OUTLIER_FACTOR = 1.5


@dataclass(frozen=True)
class FeatureSettings:
    dead_cell_ratio: float = 0.1
    """A cell of a dead block holds at most this fraction of its expected hits."""
    min_block_wires: int = 2
    """Narrower deficits are isolated zero cells, which are normal."""
    hot_half_width: int = 3
    hot_ratio: float = 4.0
    """Candidates for hot cells; benign hot cells reach 3x the layer's median."""
    benign_hot_ratio: float = 3.0
    """A hot cell must be significantly above this multiple of its local median."""


@dataclass
class LayerMeasure:
    """What the detector knows of one layer (wires are 0-based x bins)."""

    layer: int
    cells: np.ndarray
    hits: float
    ratio: float = float("nan")
    """Hits against the sibling layers (median of the three ratios), over the cells outside
    the layer's block and hot cells."""
    ratio_variance: float = float("nan")
    """Poisson variance of log(ratio)."""
    expected: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Expected hits per wire of the whole row (0 where the cell does not exist)."""
    block: tuple[int, int, float, float] | None = None
    block_z: float = 0.0
    hot: list[tuple[int, float, float]] = field(default_factory=list)
    """(wire, hits / local median, z) of each hot cell."""
    hot_z: float = 0.0
    """The largest hot-cell z among the candidates (0 if none)."""
    level: float = 0.0
    """Hits per cell outside the block and hot cells."""
    uniform: float = float("nan")
    """The part of its hits spread uniformly over the layer: the intercept of hits against
    the expected profile, relative to the hits per cell (0 for a normal layer)."""


def superlayer_rows(chamber: Chamber) -> list[list[int]]:
    """The existing layers of a chamber grouped by superlayer."""
    groups: dict[int, list[int]] = {}
    for layer in chamber.layers:
        groups.setdefault((layer - 1) // LAYERS_PER_SUPERLAYER, []).append(layer)
    return list(groups.values())


def template_key(chamber: Chamber, layer: int, row: np.ndarray) -> tuple[int, bool, bytes]:
    """Layers sharing a normal profile: same station, phi or theta, same existing cells."""
    theta = (layer - 1) // LAYERS_PER_SUPERLAYER + 1 == THETA_SUPERLAYER
    return chamber.station, theta, np.packbits(row >= 0).tobytes()


def hot_cells(
    row: np.ndarray, median: np.ndarray, settings: FeatureSettings
) -> tuple[list[tuple[int, float, float]], float]:
    """Hot cells of a layer: at least ``hot_ratio`` times the local ``median`` and
    significantly above ``benign_hot_ratio`` times it (Poisson); their (wire, magnitude, z)
    and the largest z among the candidates."""
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(
            (row >= 0) & (median > 0) & (row >= settings.hot_ratio * median)
        )
    if not len(candidates):
        return [], 0.0
    tail = stats.poisson.sf(row[candidates] - 1, settings.benign_hot_ratio * median[candidates])
    z = np.minimum(stats.norm.isf(np.maximum(tail, 1e-300)), 40.0)
    found = [
        (int(wire), float(row[wire] / median[wire]), float(score))
        for wire, score in zip(candidates, z, strict=True)
    ]
    return found, float(z.max())


def dead_block(
    row: np.ndarray, expected: np.ndarray, settings: FeatureSettings
) -> tuple[tuple[int, int, float, float] | None, float]:
    """The contiguous run of cells most likely dead (at most ``dead_cell_ratio`` of their
    expected hits), at least ``min_block_wires`` wide, and its z from the Poisson
    likelihood ratio against the expectation."""
    first, last, observed, wanted, llr = deficit_scan(row, expected, settings.dead_cell_ratio)
    if first < 0 or last - first + 1 < settings.min_block_wires:
        return None, 0.0
    return (int(first), int(last), float(observed), float(wanted)), float(np.sqrt(2 * llr))


def expected_profile(
    row: np.ndarray, template: np.ndarray, excluded: np.ndarray | None = None
) -> np.ndarray:
    """The template scaled to the layer's hits over its cells outside ``excluded``."""
    use = (row >= 0) & (template > 0)
    if excluded is not None:
        use &= ~excluded
    wanted = float(template[use].sum())
    if wanted <= 0:
        return np.zeros_like(template)
    return np.where(row >= 0, template * float(row[use].sum()) / wanted, 0.0)


def outliers(row: np.ndarray, median: np.ndarray, z: float = OUTLIER_Z) -> np.ndarray:
    """Cells significantly (Poisson z) above or below ``OUTLIER_FACTOR`` times their local
    median: kept out of a layer's occupancy (and its siblings' on the same cells), so benign
    hot and isolated zero cells do not move it."""
    m = np.where(np.isnan(median), 0.0, median)
    high = row > OUTLIER_FACTOR * m + z * np.sqrt(OUTLIER_FACTOR * m + 1)
    low = row < m / OUTLIER_FACTOR - z * np.sqrt(m / OUTLIER_FACTOR + 1)
    return (row >= 0) & (high | low)


def measure_chamber(
    chamber: Chamber,
    hits: np.ndarray,
    templates: dict[tuple[int, bool, bytes], np.ndarray],
    settings: FeatureSettings,
) -> dict[int, LayerMeasure]:
    """Every existing layer's measurements. ``templates`` maps :func:`template_key` to a
    normalised profile; a layer without one uses its superlayer's median profile."""
    measures: dict[int, LayerMeasure] = {}
    for layers in superlayer_rows(chamber):
        rows = hits[[layer - 1 for layer in layers]]
        use = rows >= 0
        own: np.ndarray | None = None
        for index, layer in enumerate(layers):
            row = rows[index]
            template = templates.get(template_key(chamber, layer, row))
            if template is None:
                own = _superlayer_profile(rows) if own is None else own
                template = own
            measure = LayerMeasure(layer, np.flatnonzero(use[index]), float(row[use[index]].sum()))
            median = local_median(row, settings.hot_half_width)
            measure.hot, measure.hot_z = hot_cells(row, median, settings)
            excluded = outliers(row, median)
            excluded[[wire for wire, _, _ in measure.hot]] = True
            for _ in range(2):
                measure.expected = expected_profile(row, template, excluded)
                measure.block, measure.block_z = dead_block(row, measure.expected, settings)
                if measure.block is None:
                    break
                excluded[measure.block[0] : measure.block[1] + 1] = True
            measure.uniform = _uniform_part(row, measure.expected, excluded)
            use[index] &= ~excluded
            measures[layer] = measure
        _sibling_ratios([measures[layer] for layer in layers], rows, use)
    return measures


def _uniform_part(row: np.ndarray, expected: np.ndarray, excluded: np.ndarray) -> float:
    """Intercept / mean of the least-squares line of hits against the expected profile."""
    use = (row >= 0) & ~excluded & (expected > 0)
    n = int(use.sum())
    if n < 3:
        return float("nan")
    x, y = expected[use], row[use]
    mean_x, mean_y = float(x.sum()) / n, float(y.sum()) / n
    spread = float(x @ x) - n * mean_x**2
    if spread <= 0 or mean_y <= 0:
        return float("nan")
    slope = (float(x @ y) - n * mean_x * mean_y) / spread
    return (mean_y - slope * mean_x) / mean_y


def _superlayer_profile(rows: np.ndarray) -> np.ndarray:
    """The median over a superlayer's layers of each layer's normalised profile."""
    totals = np.where(rows >= 0, rows, 0).sum(axis=1, keepdims=True)
    normalised = np.where(rows >= 0, rows / np.maximum(totals, 1), np.nan)
    normalised = np.where(totals > 0, normalised, np.nan)
    present = np.isfinite(normalised).any(axis=0)
    profile = np.zeros(rows.shape[1])
    profile[present] = np.nanmedian(normalised[:, present], axis=0)
    return profile


def _sibling_ratios(measures: list[LayerMeasure], rows: np.ndarray, use: np.ndarray) -> None:
    """Each layer's hits against each sibling's on the cells both use (outside blocks, hot
    and outlying cells), the median over its siblings (totals, so low counts are unbiased)."""
    # pair_hits[l, k]: layer l's hits on the cells layers l and k both use
    pair_hits = np.where(use, rows, 0.0) @ use.T.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = pair_hits / pair_hits.T
    ratios = np.where(np.isnan(ratios), np.inf, ratios).tolist()
    pairs = pair_hits.tolist()
    hits = np.where(use, rows, 0.0).sum(axis=1).tolist()
    cells = use.sum(axis=1).tolist()
    for index, measure in enumerate(measures):
        if cells[index]:
            measure.level = hits[index] / cells[index]
        others = [k for k in range(len(measures)) if k != index]
        if not others:
            continue
        ratio = _median([ratios[index][k] for k in others])
        if not np.isfinite(ratio):
            continue
        measure.ratio = ratio
        sibling_hits = _median([pairs[k][index] for k in others])
        measure.ratio_variance = 1 / max(hits[index], 1.0) + (
            MEDIAN_OF_THREE_VARIANCE / max(sibling_hits, 1.0)
        )


def _median(values: list[float]) -> float:
    """The median of a few numbers (cheaper than numpy's for three)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
