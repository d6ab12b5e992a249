"""Convert one fill folder of BRIL HDF5 files to the fill series Parquet file.

Every ``.hd5`` of the fill is streamed through the zero-counting kernel; the result has one
row per (NB4, channel), sorted by time, with the columns of ``docs/DESIGN.md``. Rows that
cannot be trusted are dropped and counted, each under its reason (counts outside [0, orbits],
such as the garbage first NB4 of a file; channel ids above 15; zero timestamps; timestamps
before the LHC or in the future; repeated run/LS/NB/channel).
The output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pltanomaly import __version__
from pltanomaly.channels.io import (
    DEFAULT_CHUNK_ROWS,
    N_CHANNELS,
    ORBITS_PER_NB4,
    BrilFileError,
    FillingScheme,
    PltTableInfo,
    RowBuffers,
    RowChunk,
    filling_scheme,
    iter_table_chunks,
    list_fill_files,
    open_bril_file,
    table_info,
)
from pltanomaly.core.atomic import atomic_path
from pltanomaly.core.errors import InputError

if TYPE_CHECKING:
    from pltanomaly.channels.zerocount import CountsMode

# pltanomaly.channels.zerocount (numba, ~0.3 s to import and ~0.5 s to load its first cached kernel)
# is imported once the files are being read, so that both overlap the reading

log = logging.getLogger(__name__)

METADATA_KEY = b"pltanomaly"
EARLIEST_TIMESTAMP = 1199145600.0
"""2008-01-01 UTC: no PLT data is older."""
FUTURE_SLACK_SECONDS = 86400.0
SAMPLE_ROWS = 512
PREFETCH_CHUNKS = 16
"""Row blocks read ahead of the kernel (~30 MB each): reading goes on while numba is
imported and loads its cached kernel, and across file boundaries. The blocks are reused
(:class:`~pltanomaly.channels.io.RowBuffers`), so the reading costs no page faults."""
T = TypeVar("T")


class EmptyFillError(InputError):
    """A fill with no usable row (no file, no ``/pltaggzero`` table, or only garbage)."""

    def __init__(self, fill_dir: str | os.PathLike[str], reason: str) -> None:
        self.fill_dir = Path(fill_dir)
        self.reason = reason
        super().__init__(f"{self.fill_dir}: {reason}")


@dataclass
class ConvertSummary:
    """What a conversion read, kept and dropped (also stored in the Parquet metadata)."""

    fill: int
    output: str
    files: list[dict[str, Any]] = field(default_factory=list)
    counts_mode: str = ""
    orbits: int = 0
    colliding_source: str = ""
    n_colliding: list[int] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_garbage: int = 0
    garbage: dict[str, int] = field(default_factory=dict)
    """garbage rows by reason (each row under the first reason that applies)"""
    rows_duplicate: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    version: str = __version__
    lumi_output: str = ""
    """the luminometer series written beside the fill series (empty: not asked for)"""
    luminometers: dict[str, int] = field(default_factory=dict)
    """rows per luminometer in the luminometer series"""


@dataclass
class _FileRows:
    timestamp: list[np.ndarray] = field(default_factory=list)
    run: list[np.ndarray] = field(default_factory=list)
    ls: list[np.ndarray] = field(default_factory=list)
    nb: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)
    fillnum: list[np.ndarray] = field(default_factory=list)
    rate: list[np.ndarray] = field(default_factory=list)
    empty_mu: list[np.ndarray] = field(default_factory=list)
    checksum: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    n_bx: list[np.ndarray] = field(default_factory=list)

    def joined(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in asdict(self).items()}


def prefetch(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Produce ``items`` in a background thread, ``depth`` ahead of the consumer, so file
    reading and decompression overlap the (GIL-free) kernel. The thread starts at once."""
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(("item", item))
            buffer.put(("done", None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            buffer.put(("error", exc))

    worker = threading.Thread(target=produce, name="pltanomaly-prefetch", daemon=True)
    worker.start()
    return _consume(buffer, stop, worker)


def _consume(
    buffer: queue.Queue[tuple[str, Any]], stop: threading.Event, worker: threading.Thread
) -> Generator[Any, None, None]:
    try:
        while True:
            kind, payload = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop.set()
        while worker.is_alive():
            try:
                buffer.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def _native(data: np.ndarray) -> np.ndarray:
    return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))


def _file_setup(
    path: Path,
    first: RowChunk,
    counts: str,
    orbits: int | None,
    hits_orbits: int,
    summary: ConvertSummary,
    scheme: FillingScheme | None,
) -> tuple[CountsMode, int, np.ndarray, np.ndarray]:
    """Counts mode, orbits, colliding and empty bunch indices for one file."""
    from pltanomaly.channels.zerocount import (
        detect_counts_mode,
        empty_bunches,
        infer_colliding,
        mu_table,
    )

    sample = _native(np.asarray(first.data[:SAMPLE_ROWS]))
    if counts == "auto":
        try:
            mode, found_orbits = detect_counts_mode(sample, hits_orbits=hits_orbits)
        except ValueError as exc:
            raise BrilFileError(path, f"cannot tell zeros from hits: {exc}") from exc
    else:
        mode, found_orbits = counts, (ORBITS_PER_NB4 if counts == "zeros" else hits_orbits)  # type: ignore[assignment]
    orbits = orbits or found_orbits
    if scheme is not None:
        colliding, filled, source = scheme.colliding, scheme.filled, "beam"
        if scheme.varies:
            summary.warnings.append(
                f"{path.name}: filling scheme changes within the file; majority used"
            )
    else:
        values = sample.astype(np.float64)
        ok = np.all((values >= 0) & (values <= orbits), axis=1)
        if not ok.any():
            raise BrilFileError(
                path, "no valid row in the first block to infer colliding bunches from"
            )
        table = mu_table(orbits, mode)
        mean_mu = table[values[ok].astype(np.int64)].mean(axis=0)
        colliding, filled, source = infer_colliding(mean_mu), None, "inferred"
        if not colliding.any():
            summary.warnings.append(f"{path.name}: no colliding bunch found (no beam?)")
    if summary.counts_mode and (summary.counts_mode, summary.orbits) != (mode, orbits):
        summary.warnings.append(
            f"{path.name}: counts mode {mode}/{orbits} differs from other files"
        )
    summary.counts_mode, summary.orbits = mode, orbits
    summary.colliding_source = ",".join(
        sorted({*summary.colliding_source.split(","), source} - {""})
    )
    summary.n_colliding.append(int(colliding.sum()))
    empty = empty_bunches(colliding, filled)
    return mode, orbits, np.flatnonzero(colliding), np.flatnonzero(empty)


@dataclass(frozen=True)
class _FileStart:
    """A new file of the stream: its ``/pltaggzero`` layout and filling scheme."""

    path: Path
    info: PltTableInfo | None
    scheme: FillingScheme | None


@dataclass(frozen=True)
class _FileLumi:
    """The luminometer tables of a file (read after its ``/pltaggzero`` rows)."""

    path: Path
    tables: dict[str, Any]
    beam: Any = None
    """the beam mode per row of ``/beam`` (:class:`~pltanomaly.luminometers.hd5.BeamStatus`)"""


_StreamItem = _FileStart | RowChunk | _FileLumi


def _fill_chunks(
    files: list[Path], chunk_rows: int, buffers: RowBuffers, luminometers: bool = False
) -> Iterator[_StreamItem]:
    """Each file as a :class:`_FileStart`, then its row blocks, then (``luminometers``) its
    luminometer tables as a :class:`_FileLumi`: one stream over the whole fill, so reading
    runs ahead across file boundaries. Each file is opened once for all of it."""
    read_lumi: Callable[[Any, Path], dict[str, Any]] | None = None
    read_beam: Callable[[Any, Path], Any] | None = None
    if luminometers:
        from pltanomaly.luminometers.hd5 import read_beam_status, read_lumi_tables

        read_lumi, read_beam = read_lumi_tables, read_beam_status
    for path in files:
        with open_bril_file(path) as handle:  # a file it cannot open fails naming the file
            info = table_info(handle, path)
            scheme = filling_scheme(handle, path) if info is not None and info.n_rows else None
            yield _FileStart(path, info, scheme)
            if info is not None:
                yield from iter_table_chunks(handle, info, chunk_rows, buffers)
            if read_lumi is not None and read_beam is not None:
                yield _FileLumi(path, read_lumi(handle, path), read_beam(handle, path))


def _reduce_chunk(
    chunk: RowChunk,
    colliding: np.ndarray,
    empty: np.ndarray,
    table: np.ndarray,
    rows: _FileRows,
    summary: ConvertSummary,
) -> None:
    from pltanomaly.channels.zerocount import reduce_rows

    n = len(chunk)
    rate = np.empty(n)
    empty_mu = np.empty(n, dtype=np.float32)
    checksum = np.empty(n, dtype=np.uint64)
    valid = np.empty(n, dtype=bool)
    reduce_rows(_native(chunk.data), colliding, empty, table, rate, empty_mu, checksum, valid)
    rows.timestamp.append(chunk.timestamp)
    rows.run.append(chunk.run.astype(np.uint32))
    rows.ls.append(chunk.ls.astype(np.uint32))
    rows.nb.append(chunk.nb.astype(np.uint32))
    rows.channel.append(chunk.channel.astype(np.int64))
    rows.fillnum.append(chunk.fill.astype(np.int64))
    rows.rate.append(rate)
    rows.empty_mu.append(empty_mu)
    rows.checksum.append(checksum)
    rows.valid.append(valid)
    rows.n_bx.append(np.full(n, len(colliding), dtype=np.uint16))
    summary.rows_read += n


def _to_nb4(columns: dict[str, np.ndarray], orbits: int) -> dict[str, np.ndarray]:
    """Average nibble rows (``orbits`` < 16384, as in 2016) into NB4 rows."""
    per_nb4 = ORBITS_PER_NB4 // orbits
    if per_nb4 <= 1:
        return columns
    nb4 = ((columns["nb"].astype(np.int64) - 1) // per_nb4 + 1) * per_nb4
    keys = np.stack([columns["run"], columns["ls"], nb4, columns["channel"]]).astype(np.int64)
    unique, inverse = np.unique(keys, axis=1, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=values.astype(np.float64)) / count

    first = np.full(unique.shape[1], len(inverse), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(inverse)))
    stuck_all = np.bincount(inverse, weights=columns["stuck"].astype(np.float64)) == count
    return {
        "timestamp": columns["timestamp"][first],
        "run": unique[0].astype(np.uint32),
        "ls": unique[1].astype(np.uint32),
        "nb": unique[2].astype(np.uint32),
        "channel": unique[3],
        "rate": mean(columns["rate"]),
        "empty_mu": mean(columns["empty_mu"]).astype(np.float32),
        "n_bx": columns["n_bx"][first],
        "checksum": columns["checksum"][first],
        "stuck": stuck_all,
    }


def _reduce_files(
    files: list[Path],
    rows: _FileRows,
    summary: ConvertSummary,
    *,
    counts: str,
    orbits: int | None,
    hits_orbits: int,
    chunk_rows: int,
    lumi: list[Any] | None = None,
) -> None:
    buffers = RowBuffers(PREFETCH_CHUNKS + 2)  # queued, in the kernel, being read
    stream = prefetch(  # reading starts
        _fill_chunks(files, chunk_rows, buffers, luminometers=lumi is not None), PREFETCH_CHUNKS
    )
    from pltanomaly.core.jit import available_cores, kernel_threads

    try:
        with kernel_threads(available_cores() - 1):  # the reading takes the other core
            _reduce_stream(stream, buffers, rows, summary, counts, orbits, hits_orbits, lumi)
    finally:
        buffers.close()  # a reader waiting for a block goes on to see the stop
        stream.close()


def _reduce_stream(
    stream: Iterator[_StreamItem],
    buffers: RowBuffers,
    rows: _FileRows,
    summary: ConvertSummary,
    counts: str,
    orbits: int | None,
    hits_orbits: int,
    lumi: list[Any] | None = None,
) -> None:
    from pltanomaly.channels.zerocount import mu_table

    setup: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    scheme: FillingScheme | None = None
    for item in stream:
        if isinstance(item, _FileLumi):
            summary.files[-1]["luminometers"] = {n: len(t) for n, t in item.tables.items()}
            if lumi is not None:
                lumi.extend(item.tables.values())
                if item.beam is not None:
                    lumi.append(item.beam)
            continue
        if isinstance(item, _FileStart):  # a new file
            path, info, scheme = item.path, item.info, item.scheme
            stat = path.stat()
            entry: dict[str, Any] = {"name": path.name, "size": stat.st_size}
            entry["mtime"] = stat.st_mtime
            summary.files.append(entry)
            setup = None
            if info is None:
                entry["pltaggzero"] = False
                summary.warnings.append(f"{path.name}: no /pltaggzero table; file skipped")
            else:
                entry.update(pltaggzero=True, rows=info.n_rows, dtype=str(info.data_dtype))
            continue
        chunk = item
        if setup is None:
            mode, file_orbits, colliding, empty = _file_setup(
                chunk.path, chunk, counts, orbits, hits_orbits, summary, scheme
            )
            setup = (colliding, empty, mu_table(file_orbits, mode))
        _reduce_chunk(chunk, *setup, rows, summary)
        buffers.release(chunk.data)


def _keep_rows(
    columns: dict[str, np.ndarray], valid: np.ndarray, summary: ConvertSummary
) -> np.ndarray:
    """The rows to keep; the others are counted in ``summary.garbage`` by reason."""
    timestamp = columns["timestamp"]
    latest = time.time() + FUTURE_SLACK_SECONDS
    checks = {
        f"channel id above {N_CHANNELS - 1}": columns["channel"] >= N_CHANNELS,
        "zero timestamp": timestamp == 0,
        "timestamp before 2008 or in the future": (timestamp < EARLIEST_TIMESTAMP)
        | (timestamp > latest),
        "counts outside [0, orbits]": ~valid,
    }
    keep = np.ones(len(valid), dtype=bool)
    for reason, bad in checks.items():
        n = int(np.count_nonzero(bad & keep))
        if n:
            summary.garbage[reason] = n
        keep &= ~bad
    summary.rows_garbage = len(keep) - int(np.count_nonzero(keep))
    return keep


SERIES_TYPES: dict[str, Any] = {
    "timestamp": pa.float64(),
    "run": pa.uint32(),
    "ls": pa.uint32(),
    "nb": pa.uint32(),
    "channel": pa.uint8(),
    "rate": pa.float64(),
    "empty_mu": pa.float32(),
    "n_bx": pa.uint16(),
    "checksum": pa.uint64(),
    "stuck": pa.bool_(),
}
"""The fill series' columns and their Arrow types (docs/DESIGN.md)."""


def arrow_column(values: np.ndarray, kind: Any) -> pa.Array:
    """A numpy column as an Arrow array of type ``kind``, without a copy where the types
    agree (``pa.array`` would import pandas, ~0.3 s of a fill job's start)."""
    if kind == pa.bool_():
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(bits)])
    native = np.ascontiguousarray(values, dtype=np.dtype(kind.to_pandas_dtype()).newbyteorder("="))
    return pa.Array.from_buffers(kind, len(native), [None, pa.py_buffer(native)])


def series_table(columns: dict[str, np.ndarray]) -> pa.Table:
    """The fill series as an Arrow table with the documented column types."""
    return pa.Table.from_arrays(
        [arrow_column(columns[name], kind) for name, kind in SERIES_TYPES.items()],
        names=list(SERIES_TYPES),
    )


def fill_number(fill_dir: Path) -> int | None:
    """The fill number of a fill folder (its name), or None when the name is not a number."""
    return int(fill_dir.name) if fill_dir.name.isdigit() else None


def convert_fill(
    fill_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    counts: str = "auto",
    orbits: int | None = None,
    hits_orbits: int = 4096,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    lumi_out: str | os.PathLike[str] | None = None,
) -> ConvertSummary:
    """Read every ``.hd5`` of ``fill_dir`` and write the fill series to ``out_path``.

    ``counts`` is ``auto`` (told from the data, per file), ``zeros`` or ``hits``. With
    ``lumi_out`` (e.g. :func:`lumi_path` of ``out_path``), the luminometer tables of each
    file are read while it is open for ``/pltaggzero`` and written there as the luminometer
    series (:mod:`pltanomaly.luminometers.hd5`), with the PLT total of the live channels as
    luminometer ``pltzero_channels``; it is written even when the fill has no usable PLT
    row. Raises :class:`BrilFileError` for an unreadable file and :class:`EmptyFillError`
    when no row is usable.
    """
    started = time.perf_counter()
    fill_dir = Path(fill_dir)
    files = list_fill_files(fill_dir)
    summary = ConvertSummary(fill=fill_number(fill_dir) or 0, output=str(out_path))
    if not files:
        raise EmptyFillError(fill_dir, "no .hd5 file in the fill folder")
    rows = _FileRows()
    lumi: list[Any] | None = None if lumi_out is None else []
    # one core reads and decompresses (prefetch thread), the others run the kernel
    _reduce_files(
        files,
        rows,
        summary,
        counts=counts,
        orbits=orbits,
        hits_orbits=hits_orbits,
        chunk_rows=chunk_rows,
        lumi=lumi,
    )
    if not rows.rate:
        _lumi_without_plt(lumi_out, lumi, summary)
        raise EmptyFillError(fill_dir, f"none of {len(files)} file(s) has a /pltaggzero row")
    columns = rows.joined()
    keep = _keep_rows(columns, columns.pop("valid"), summary)
    fills_seen = np.unique(columns.pop("fillnum")[keep])
    if summary.fill == 0 and len(fills_seen):
        summary.fill = int(fills_seen[0])
    if len(fills_seen) > 1 or (len(fills_seen) == 1 and fills_seen[0] != summary.fill):
        summary.warnings.append(
            f"fill numbers in the data {fills_seen.tolist()} differ from {summary.fill}"
        )
    columns = {name: values[keep] for name, values in columns.items()}
    if not len(columns["rate"]):
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary.garbage.items())
        _lumi_without_plt(lumi_out, lumi, summary)
        raise EmptyFillError(fill_dir, f"all {summary.rows_read} rows are garbage ({reasons})")

    # repeated rows: the same run/LS/NB/channel written twice; keep the first
    keys = np.stack([columns["run"], columns["ls"], columns["nb"], columns["channel"]]).astype(
        np.int64
    )
    _, first_index = np.unique(keys, axis=1, return_index=True)
    summary.rows_duplicate = len(columns["rate"]) - len(first_index)
    order = first_index[
        np.lexsort((columns["channel"][first_index], columns["timestamp"][first_index]))
    ]
    columns = {name: values[order] for name, values in columns.items()}
    from pltanomaly.channels.zerocount import repeats_previous

    columns["stuck"] = repeats_previous(columns["channel"], columns["checksum"])
    if summary.orbits < ORBITS_PER_NB4:
        columns = _to_nb4(columns, summary.orbits)
        order = np.lexsort((columns["channel"], columns["timestamp"]))
        columns = {name: values[order] for name, values in columns.items()}
    summary.rows_kept = len(columns["rate"])
    if lumi_out is not None:
        _write_lumi(lumi_out, lumi or [], columns, summary)
    summary.seconds = round(time.perf_counter() - started, 3)

    table = series_table(columns)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(asdict(summary)).encode()})
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    for warning in summary.warnings:
        log.warning("fill %s: %s", summary.fill, warning)
    return summary


def lumi_path(series_path: str | os.PathLike[str]) -> Path:
    """Where the luminometer series of a fill series goes: ``fills/{fill}.lumi.parquet``
    beside ``fills/{fill}.parquet``."""
    series_path = Path(series_path)
    return series_path.with_name(f"{series_path.stem}.lumi.parquet")


def _lumi_without_plt(
    lumi_out: str | os.PathLike[str] | None, parts: list[Any] | None, summary: ConvertSummary
) -> None:
    """For a fill without a usable PLT row: write its luminometer series when a luminometer
    table has rows, else remove a stale one."""
    if lumi_out is None:
        return
    from pltanomaly.luminometers.hd5 import LumiRows

    if any(isinstance(part, LumiRows) and len(part) for part in parts or []):
        _write_lumi(lumi_out, parts or [], None, summary)
    else:
        Path(lumi_out).unlink(missing_ok=True)


def _write_lumi(
    lumi_out: str | os.PathLike[str],
    parts: list[Any],
    columns: dict[str, np.ndarray] | None,
    summary: ConvertSummary,
) -> None:
    """Write the luminometer series: the tables' rows, and the PLT channels' total."""
    import pandas as pd

    from pltanomaly.luminometers.hd5 import (
        BeamStatus,
        channel_total,
        lumi_frame,
        with_stable,
        write_lumi_series,
    )

    beam = [part for part in parts if isinstance(part, BeamStatus)]
    frame = lumi_frame([part for part in parts if not isinstance(part, BeamStatus)])
    if columns is not None:
        frame = pd.concat([frame, channel_total(columns)], ignore_index=True)
    frame, stable_source = with_stable(frame, beam)
    summary.lumi_output = str(lumi_out)
    summary.luminometers = {
        str(name): int(n) for name, n in frame["luminometer"].value_counts(sort=False).items()
    }
    metadata = {
        "fill": summary.fill,
        "files": [
            {"name": f["name"], "luminometers": f.get("luminometers", {})} for f in summary.files
        ],
        "rows": summary.luminometers,
        "stable_source": stable_source,
        "pltzero_channels": "per NB4, summed rate of the live channels (median >= 5 % of the "
        "largest), scaled by the shares of the channels present",
        "version": __version__,
    }
    write_lumi_series(frame, lumi_out, metadata)


def read_series_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The conversion summary stored in a fill series Parquet file."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata[METADATA_KEY]) if METADATA_KEY in metadata else {}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert one fill folder of .hd5 files to Parquet"
    )
    parser.add_argument("fill_dir", type=Path, help="folder holding the fill's .hd5 files")
    parser.add_argument("output", type=Path, help="Parquet file to write")
    parser.add_argument(
        "--counts",
        choices=["auto", "zeros", "hits"],
        default="auto",
        help="what the counts are: zeros (Run 3), hits (2016), or told from the data",
    )
    parser.add_argument("--hits-orbits", type=int, default=4096, help="orbits per row of hits data")
    parser.add_argument(
        "--summary", type=Path, default=None, help="also write the summary as JSON here"
    )
    parser.add_argument(
        "--lumi",
        type=Path,
        default=None,
        help="also write the luminometer tables' series (one row per NB4 and luminometer) here",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    summary = convert_fill(
        args.fill_dir,
        args.output,
        counts=args.counts,
        hits_orbits=args.hits_orbits,
        lumi_out=args.lumi,
    )
    if args.summary:
        from pltanomaly.core.atomic import write_json_atomic

        write_json_atomic(args.summary, asdict(summary))
    print(
        f"fill {summary.fill}: {summary.rows_kept} rows from {len(summary.files)} file(s) "
        f"({summary.counts_mode}, {summary.orbits} orbits, "
        f"colliding bunches from {summary.colliding_source}, {summary.rows_garbage} garbage, "
        f"{summary.rows_duplicate} duplicate rows dropped) in {summary.seconds:.2f} s"
    )
    return 0
