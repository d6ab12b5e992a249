"""Reading BRIL HDF5 files: the PLT zero-counting table ``/pltaggzero`` and the ``/beam`` table.

Files are written by PyTables with blosc compression; ``hdf5plugin`` registers the blosc
filter so plain h5py can read them. ``/pltaggzero`` is streamed in row chunks so memory
stays bounded whatever the file size. Every failure to read a file is raised as one error
type, :class:`BrilFileError`, naming the file and what is wrong.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the blosc filter with HDF5)
import numpy as np

from pltanomaly.channels.layout import N_BX as N_BX  # the shared facts, re-exported
from pltanomaly.channels.layout import N_CHANNELS as N_CHANNELS
from pltanomaly.channels.layout import NB4_SECONDS as NB4_SECONDS
from pltanomaly.channels.layout import ORBITS_PER_NB4 as ORBITS_PER_NB4
from pltanomaly.channels.years import fill_files
from pltanomaly.core.bril import BEAM_TABLE as BEAM_TABLE
from pltanomaly.core.bril import PLT_TABLE as PLT_TABLE
from pltanomaly.core.bril import BrilFileError as BrilFileError

log = logging.getLogger(__name__)

__all__ = [  # re-exported from layout and core.bril
    "BEAM_TABLE",
    "NB4_SECONDS",
    "N_BX",
    "N_CHANNELS",
    "ORBITS_PER_NB4",
    "PLT_TABLE",
    "BrilFileError",
]

HEADER_FIELDS = (
    "fillnum",
    "runnum",
    "lsnum",
    "nbnum",
    "timestampsec",
    "timestampmsec",
    "channelid",
)
DATA_KINDS = frozenset("uif")
DEFAULT_CHUNK_ROWS = 2000

FILE_NAME_RE = re.compile(
    r"^(?P<fill>\d+)_(?:(?P<run>\d+)_)?(?P<start>\d{10}|\d{12})_(?P<end>\d{10}|\d{12})\.hd5$"
)


@dataclass(frozen=True)
class RowChunk:
    """A block of consecutive ``/pltaggzero`` rows of one file.

    ``data`` has shape ``(n, 3564)`` and the file's dtype; it may be a strided view into
    the record array (each row contiguous).
    """

    path: Path
    start: int
    fill: np.ndarray
    run: np.ndarray
    ls: np.ndarray
    nb: np.ndarray
    timestamp: np.ndarray
    channel: np.ndarray
    data: np.ndarray

    def __len__(self) -> int:
        return int(self.data.shape[0])


class RowBuffers:
    """A fixed set of reusable record arrays that :func:`iter_plt_chunks` reads into.

    Reading a long fill into fresh arrays costs a page fault per 4 KiB of every block (the
    allocator hands large blocks back to the system, most of all from a reading thread's
    arena): about 0.2 s per GB. With a pool the same memory is reused, and the pool's size
    also bounds how far a reading thread runs ahead: :meth:`take` waits until a block is
    given back with :meth:`release`. After :meth:`close` it no longer waits (it allocates),
    so a reader left behind by a stopped consumer can finish.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._free: list[np.ndarray] = []
        self._allocated = 0
        self._closed = False
        self._ready = threading.Condition()

    def take(self, dtype: np.dtype, rows: int) -> np.ndarray:
        """A contiguous record array of ``dtype`` with at least ``rows`` rows."""
        with self._ready:
            while True:
                for i, block in enumerate(self._free):
                    if block.dtype == dtype and len(block) >= rows:
                        return self._free.pop(i)
                if self._free:  # a block of another layout: replaced by one of this
                    self._free.pop()
                    self._allocated -= 1
                if self._allocated < self.count or self._closed:
                    self._allocated += 1
                    return np.empty(rows, dtype=dtype)
                self._ready.wait()

    def release(self, block: np.ndarray) -> None:
        """Give back a block taken with :meth:`take` (a view of it is enough)."""
        while block.base is not None and isinstance(block.base, np.ndarray):
            block = block.base
        with self._ready:
            self._free.append(block)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


@dataclass(frozen=True)
class PltTableInfo:
    """What a file's ``/pltaggzero`` table holds, before its rows are read."""

    path: Path
    n_rows: int
    data_dtype: np.dtype
    chunk_rows: int | None


def list_fill_files(fill_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``.hd5`` files of one fill folder, sorted by name (not a time order), as
    discovery lists them (:func:`pltanomaly.channels.years.fill_files`)."""
    return fill_files(fill_dir)


def open_bril_file(path: str | os.PathLike[str]) -> h5py.File:
    """Open a BRIL HDF5 file read-only, turning every failure into :class:`BrilFileError`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        what = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror
        raise BrilFileError(path, f"cannot stat file ({what})") from exc
    if size == 0:
        raise BrilFileError(path, "file is empty (0 bytes)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise BrilFileError(path, "permission denied (the file is not readable)") from exc
        raise BrilFileError(
            path, f"not a readable HDF5 file, corrupt or truncated ({exc})"
        ) from exc


def table_info(handle: h5py.File, path: Path) -> PltTableInfo | None:
    """Layout of the ``/pltaggzero`` table of an open file (``path`` names it in errors),
    or ``None`` when the file has none."""
    if PLT_TABLE not in handle:
        return None
    table = handle[PLT_TABLE]
    if not isinstance(table, h5py.Dataset):
        raise BrilFileError(path, f"/{PLT_TABLE} is a {type(table).__name__}, not a table")
    fields = table.dtype.fields
    if fields is None:
        raise BrilFileError(path, f"/{PLT_TABLE} is not a compound table (dtype {table.dtype})")
    missing = [name for name in (*HEADER_FIELDS, "data") if name not in fields]
    if missing:
        raise BrilFileError(path, f"/{PLT_TABLE} lacks columns {', '.join(missing)}")
    data_dtype = fields["data"][0]
    if data_dtype.shape != (N_BX,):
        raise BrilFileError(
            path, f"/{PLT_TABLE} column data has shape {data_dtype.shape}, expected ({N_BX},)"
        )
    base = data_dtype.base
    if base.kind not in DATA_KINDS:
        raise BrilFileError(
            path, f"/{PLT_TABLE} column data has dtype {base}, expected integers or floats"
        )
    for name in HEADER_FIELDS:
        if fields[name][0].kind not in "ui":
            raise BrilFileError(
                path, f"/{PLT_TABLE} column {name} has dtype {fields[name][0]}, expected integers"
            )
    if table.ndim != 1:
        raise BrilFileError(path, f"/{PLT_TABLE} has {table.ndim} dimensions, expected 1")
    chunk_rows = table.chunks[0] if table.chunks else None
    return PltTableInfo(
        path=path, n_rows=int(table.shape[0]), data_dtype=base, chunk_rows=chunk_rows
    )


def plt_table_info(path: str | os.PathLike[str]) -> PltTableInfo | None:
    """Layout of a file's ``/pltaggzero`` table, or ``None`` when the file has none."""
    path = Path(path)
    with open_bril_file(path) as handle:
        return table_info(handle, path)


def iter_plt_chunks(
    path: str | os.PathLike[str],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    buffers: RowBuffers | None = None,
) -> Iterator[RowChunk]:
    """Stream the rows of a file's ``/pltaggzero`` table in blocks of about ``chunk_rows``.

    With ``buffers``, each block is read into one of the pool's arrays, which the consumer
    gives back (``buffers.release(chunk.data)``) once done with the chunk; without, each
    block is a new array. Yields nothing (and logs a warning) when the file has no such
    table. Raises :class:`BrilFileError` when the table is there but unreadable.
    """
    path = Path(path)
    with open_bril_file(path) as handle:
        info = table_info(handle, path)
        if info is None:
            log.warning("%s: no /%s table (detector off or short run); skipped", path, PLT_TABLE)
            return
        yield from iter_table_chunks(handle, info, chunk_rows, buffers)


def iter_table_chunks(
    handle: h5py.File,
    info: PltTableInfo,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    buffers: RowBuffers | None = None,
) -> Iterator[RowChunk]:
    """:func:`iter_plt_chunks` on an open file whose table is described by ``info``
    (from :func:`table_info`), so that one opening of a file serves every table read."""
    path = info.path
    table = handle[PLT_TABLE]
    step = chunk_rows
    if info.chunk_rows:  # read whole storage chunks: each is decompressed once
        step = max(info.chunk_rows, (chunk_rows // info.chunk_rows) * info.chunk_rows)
    for start in range(0, info.n_rows, step):
        stop = min(start + step, info.n_rows)
        block = None if buffers is None else buffers.take(table.dtype, step)
        try:
            if block is None:
                records = table[start:stop]
            else:
                records = block[: stop - start]
                table.read_direct(records, np.s_[start:stop])
        except (OSError, ValueError, RuntimeError) as exc:
            if buffers is not None and block is not None:
                buffers.release(block)
            raise BrilFileError(
                path, f"cannot read /{PLT_TABLE} rows {start}-{stop} ({exc})"
            ) from exc
        yield RowChunk(
            path=path,
            start=start,
            fill=records["fillnum"],
            run=records["runnum"],
            ls=records["lsnum"],
            nb=records["nbnum"],
            timestamp=records["timestampsec"].astype(np.float64)
            + records["timestampmsec"].astype(np.float64) / 1000.0,
            channel=records["channelid"],
            data=records["data"],
        )


@dataclass(frozen=True)
class FillingScheme:
    """Colliding, filled and empty bunch masks (length 3564) from a ``/beam`` table."""

    colliding: np.ndarray
    filled: np.ndarray
    varies: bool
    """True when the scheme was not the same in every sampled row (the majority is used)."""


def read_filling_scheme(path: str | os.PathLike[str], max_rows: int = 8) -> FillingScheme | None:
    """The filling scheme of a file from ``/beam``, or ``None`` when there is no usable table.

    Colliding bunches are ``collidable`` where present, else ``bxconfig1 & bxconfig2``. The
    scheme is sampled at up to ``max_rows`` rows spread over the table; each bunch takes
    its majority value.
    """
    path = Path(path)
    with open_bril_file(path) as handle:
        return filling_scheme(handle, path, max_rows)


def filling_scheme(handle: h5py.File, path: Path, max_rows: int = 8) -> FillingScheme | None:
    """:func:`read_filling_scheme` on an open file (``path`` names it in errors)."""
    if BEAM_TABLE not in handle or not isinstance(handle[BEAM_TABLE], h5py.Dataset):
        return None
    table = handle[BEAM_TABLE]
    fields = table.dtype.fields or {}
    if not {"bxconfig1", "bxconfig2"} <= set(fields) or table.shape[0] == 0:
        return None
    index = np.unique(np.linspace(0, table.shape[0] - 1, min(max_rows, table.shape[0])).astype(int))
    names = [n for n in ("bxconfig1", "bxconfig2", "collidable") if n in fields]
    try:  # all columns of a sampled row at once: each storage chunk is decompressed once
        records = table[index]
    except (OSError, ValueError, RuntimeError) as exc:
        raise BrilFileError(path, f"cannot read /{BEAM_TABLE} ({exc})") from exc
    rows = {name: np.asarray(records[name]) for name in names}
    for name, values in rows.items():
        if values.ndim != 2 or values.shape[1] != N_BX:
            raise BrilFileError(
                path,
                f"/{BEAM_TABLE} column {name} has shape {values.shape[1:]}, expected ({N_BX},)",
            )
    beam1 = rows["bxconfig1"] != 0
    beam2 = rows["bxconfig2"] != 0
    colliding_rows = rows["collidable"] != 0 if "collidable" in rows else beam1 & beam2
    filled_rows = beam1 | beam2
    colliding = colliding_rows.mean(axis=0) > 0.5
    filled = filled_rows.mean(axis=0) > 0.5
    varies = bool((colliding_rows != colliding).any())
    return FillingScheme(colliding=colliding, filled=filled, varies=varies)
