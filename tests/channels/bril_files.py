"""Small BRIL files written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from pltanomaly.channels.generate import BEAM_DTYPE, plt_record_dtype
from pltanomaly.channels.io import N_BX

COLLIDING = np.zeros(N_BX, dtype=bool)
COLLIDING[100:1300] = True


def make_records(
    n_nb4: int,
    *,
    channels: range | list[int] = range(16),
    dtype: str = "uint32",
    fill: int = 8000,
    run: int = 356000,
    t0: float = 1.66e9,
    mu: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """``n_nb4`` NB4 of rows with binomial zero counts, ``mu`` per colliding bunch."""
    rng = np.random.default_rng(seed)
    channels = list(channels)
    n = n_nb4 * len(channels)
    records = np.zeros(n, dtype=plt_record_dtype(dtype))
    slot = np.repeat(np.arange(n_nb4), len(channels))
    t = t0 + slot * 1.4576
    records["fillnum"] = fill
    records["runnum"] = run
    records["lsnum"] = slot // 16 + 1
    records["nbnum"] = (slot % 16 + 1) * 4
    records["timestampsec"] = np.floor(t)
    records["timestampmsec"] = np.round((t % 1) * 1000) % 1000
    records["channelid"] = np.tile(channels, n_nb4)
    p = np.where(COLLIDING, np.exp(-mu), np.exp(-1e-4))
    records["data"] = rng.binomial(16384, p, size=(n, N_BX)).astype(dtype)
    return records


def write_bril(
    path: Path,
    records: np.ndarray | None,
    *,
    beam: bool = True,
    collidable: bool = True,
    compress: bool = True,
) -> Path:
    """Write a BRIL-like file: ``/pltaggzero`` from ``records`` (none when None) and ``/beam``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = (
        hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.SHUFFLE)
        if compress
        else {}
    )
    with h5py.File(path, "w") as handle:
        if records is not None:
            handle.create_dataset(
                "pltaggzero",
                data=records,
                chunks=(100,) if len(records) else None,
                maxshape=(None,),
                **options,
            )
        if beam:
            dtype = (
                BEAM_DTYPE
                if collidable
                else np.dtype([d for d in BEAM_DTYPE.descr if d[0] != "collidable"])
            )
            rows = np.zeros(4, dtype=dtype)
            rows["bxconfig1"] = COLLIDING
            rows["bxconfig2"] = COLLIDING
            if collidable:
                rows["collidable"] = COLLIDING
            handle.create_dataset("beam", data=rows)
    return path
