"""Hand-made DT runs for the detector tests, independent of the generator's choices: every
chamber has the same smooth profile (flat phi layers, peaked theta layers) and Poisson hits;
and the fetcher's long-format rows of a run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pltanomaly.chambers.generate import existing_cells
from pltanomaly.chambers.geometry import CHAMBERS, THETA_SUPERLAYER, superlayer


def expected_run(level: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Chamber key -> expected hits (-1 outside) at ``level`` hits per cell, with a 10 %
    spread of chamber levels and 2 % of layer levels."""
    rng = np.random.default_rng(seed)
    run = {}
    for chamber in CHAMBERS:
        mask = existing_cells(chamber)
        expected = np.full(mask.shape, -1.0)
        chamber_level = level * rng.lognormal(0, 0.1)
        for layer in chamber.layers:
            row = mask[layer - 1]
            x = (np.arange(row.sum()) + 0.5) / row.sum()
            if superlayer(layer) == THETA_SUPERLAYER:
                shape = 0.45 + 0.55 * np.sin(np.pi * x)
            else:
                shape = 1 - 0.3 * np.exp(-np.minimum(x, 1 - x) * row.sum() / 2)
            expected[layer - 1, row] = chamber_level * rng.lognormal(0, 0.02) * shape
        run[chamber.key] = expected
    return run


def sample(expected: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    """Poisson hits of an expected run (cells of -1 stay -1)."""
    rng = np.random.default_rng(seed)
    return {
        key: np.where(mean >= 0, rng.poisson(np.clip(mean, 0, None)), -1.0).astype(float)
        for key, mean in expected.items()
    }


def long_rows(chambers: dict[str, np.ndarray]) -> pd.DataFrame:
    """The fetcher's long-format rows: existing cells only, zeros included."""
    frames = []
    for key, hits in chambers.items():
        layer, wire = np.nonzero(hits >= 0)
        frames.append(
            pd.DataFrame(
                {"chamber": key, "layer": layer + 1, "wire": wire + 1, "count": hits[layer, wire]}
            )
        )
    return pd.concat(frames, ignore_index=True)
