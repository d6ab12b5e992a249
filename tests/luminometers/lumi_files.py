"""Small BRIL files with luminometer tables, written by the luminometer tests themselves."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from pltanomaly.channels.generate import BEAM_DTYPE, plt_record_dtype
from pltanomaly.channels.io import N_BX
from pltanomaly.luminometers.generate import lumi_record_dtype

COLLIDING = np.zeros(N_BX, dtype=bool)
COLLIDING[100:1300] = True
T0 = 1.66e9


def _stamp(records: np.ndarray, slot: np.ndarray, run: int) -> None:
    """Fill 8000's time columns of rows in NB4 ``slot`` of ``run``."""
    t = T0 + slot * 1.4576
    records["fillnum"] = 8000
    records["runnum"] = run
    records["lsnum"] = slot // 16 + 1
    records["nbnum"] = (slot % 16 + 1) * 4
    records["timestampsec"] = np.floor(t)
    records["timestampmsec"] = np.round((t % 1) * 1000) % 1000


def plt_records(n_nb4: int, *, run: int = 356000, mu: float = 0.15, seed: int = 0) -> np.ndarray:
    """``n_nb4`` NB4 of ``/pltaggzero`` rows of 16 channels, binomial zero counts."""
    rng = np.random.default_rng(seed)
    n = n_nb4 * 16
    records = np.zeros(n, dtype=plt_record_dtype("uint32"))
    slot = np.repeat(np.arange(n_nb4), 16)
    _stamp(records, slot, run)
    records["channelid"] = np.tile(np.arange(16), n_nb4)
    p = np.where(COLLIDING, np.exp(-mu), np.exp(-1e-4))
    records["data"] = rng.binomial(16384, p, size=(n, N_BX))
    return records


def lumi_records(
    n_nb4: int, value: float | np.ndarray, *, run: int = 356000, per_bunch: bool = True
) -> np.ndarray:
    """``n_nb4`` NB4 rows of a luminometer table with ``avg = value`` and
    ``avgraw = 2 * value`` (``dtlumi``-like, ``avgraw = value`` only, without ``per_bunch``)."""
    records = np.zeros(n_nb4, dtype=lumi_record_dtype(per_bunch))
    slot = np.arange(n_nb4)
    _stamp(records, slot, run)
    records["calibtag"] = b"test"
    if per_bunch:
        records["avg"] = value
        records["avgraw"] = 2 * np.asarray(value)
        records["bx"] = 1.0
    else:
        records["avgraw"] = value
    return records


def write_file(
    path: Path,
    plt: np.ndarray | None,
    tables: dict[str, np.ndarray],
    *,
    beam_status: list[str] | None = None,
    run: int = 356000,
) -> Path:
    """A blosc-compressed BRIL-like file with ``/pltaggzero`` (none when None), ``/beam`` (with
    a ``status`` column, one row per LS 1, 2, ..., when ``beam_status`` is given) and the given
    tables (``{name: records}``; anything h5py can write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blosc = hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.SHUFFLE)
    with h5py.File(path, "w") as handle:
        if plt is not None:
            handle.create_dataset("pltaggzero", data=plt, chunks=(100,), maxshape=(None,), **blosc)
        dtype = BEAM_DTYPE
        if beam_status is not None:
            dtype = np.dtype([*BEAM_DTYPE.descr, ("status", "S28")])
        beam = np.zeros(4 if beam_status is None else len(beam_status), dtype=dtype)
        beam["bxconfig1"] = beam["bxconfig2"] = beam["collidable"] = COLLIDING
        if beam_status is not None:
            beam["runnum"] = run
            beam["lsnum"] = np.arange(1, len(beam_status) + 1)
            beam["status"] = [s.encode() for s in beam_status]
        handle.create_dataset("beam", data=beam)
        for name, records in tables.items():
            if isinstance(records, np.ndarray) and records.dtype.names and len(records):
                handle.create_dataset(
                    name, data=records, chunks=(min(100, len(records)),), maxshape=(None,), **blosc
                )
            else:
                handle.create_dataset(name, data=records)
    return path
