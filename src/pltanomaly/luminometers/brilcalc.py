"""Read brilcalc ``lumi --byls`` CSV files into one per-LS table per fill.

A file holds one luminometer (its ``source`` column) for one or many fills; plain or gzipped.
Lines starting with ``#`` are comments (data tag, header, summary footer). ``ls`` is written
``a:b``: ``a`` (the LS number the validation log uses) is kept. Rows outside STABLE BEAMS are
kept and marked; zero and negative values are kept as read (the cross-check treats them as no
data). Bad input never spoils other fills: a garbage row is dropped and counted, and a file
that cannot be read to its end (truncated gzip) fails only the fills it holds.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pltanomaly.core.errors import InputError
from pltanomaly.luminometers.names import LUMINOMETERS, luminometer_of_source

STABLE = "STABLE BEAMS"
DEFAULT_HEADER = (
    "run:fill",
    "ls",
    "time",
    "beamstatus",
    "E(GeV)",
    "delivered(hz/ub)",
    "recorded(hz/ub)",
    "avgpu",
    "source",
)
"""The columns of ``brilcalc lumi --byls`` (used when a file has no header line)."""

ROW_COLUMNS = ("fill", "run", "ls", "time", "stable", "beamstatus", "delivered")


class BrilcalcError(InputError):
    """A brilcalc CSV file, or one line of it, that cannot be read."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


@dataclass
class BrilcalcFile:
    """What one file gave: its rows per luminometer, the dropped rows and the failed fills."""

    path: Path
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    dropped: list[BrilcalcError] = field(default_factory=list)
    failed_fills: dict[int, BrilcalcError] = field(default_factory=dict)
    error: BrilcalcError | None = None


@dataclass
class LumiFills:
    """Per-fill tables from many files, and what could not be read."""

    tables: dict[int, pd.DataFrame]
    failed: dict[int, list[BrilcalcError]]
    dropped: list[BrilcalcError]


def _lines(path: Path) -> Iterator[str]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as handle:
        for raw in handle:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def _header_columns(line: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in line.lstrip("#").split(","))


def _column_index(columns: tuple[str, ...], path: Path, line_no: int) -> dict[str, int]:
    index: dict[str, int] = {}
    for name, wanted in (
        ("runfill", "run:fill"),
        ("ls", "ls"),
        ("time", "time"),
        ("beamstatus", "beamstatus"),
        ("source", "source"),
    ):
        if wanted not in columns:
            raise BrilcalcError(path, line_no, f"header lacks column {wanted!r}: {columns}")
        index[name] = columns.index(wanted)
    delivered = [i for i, c in enumerate(columns) if c.startswith("delivered")]
    if not delivered:
        raise BrilcalcError(path, line_no, f"header lacks a delivered column: {columns}")
    index["delivered"] = delivered[0]
    return index


def parse_time(text: str) -> float:
    """An LS time as unix seconds: brilcalc writes them with ``--tssec``, else as UTC
    ``mm/dd/yy hh:mm:ss``."""
    try:
        return float(text)
    except ValueError:
        stamp = datetime.strptime(text.strip(), "%m/%d/%y %H:%M:%S")
        return stamp.replace(tzinfo=timezone.utc).timestamp()


def _parse_row(fields: list[str], index: dict[str, int], n_columns: int) -> tuple:
    """One data row as (fill, run, ls, time, stable, beamstatus, delivered, source); ValueError
    when it is garbage."""
    if len(fields) != n_columns:
        raise ValueError(f"{len(fields)} fields, expected {n_columns}")
    run_text, _, fill_text = fields[index["runfill"]].partition(":")
    run, fill = int(run_text), int(fill_text)
    ls = int(fields[index["ls"]].split(":")[0])
    time = parse_time(fields[index["time"]])
    delivered = float(fields[index["delivered"]])
    if run <= 0 or fill <= 0 or ls <= 0 or not (math.isfinite(time) and math.isfinite(delivered)):
        raise ValueError("run, fill and LS must be positive, time and delivered finite")
    beamstatus = fields[index["beamstatus"]].strip().upper()
    source = fields[index["source"]].strip()
    return fill, run, ls, time, beamstatus == STABLE, beamstatus, delivered, source


def read_brilcalc_file(path: str | Path, *, strict: bool = False) -> BrilcalcFile:
    """Read one brilcalc ``--byls`` CSV (plain or gzipped).

    ``strict``: raise :class:`BrilcalcError` at the first bad line instead of dropping it.
    A file whose header lacks needed columns or that cannot be opened always raises.
    A file that breaks off (truncated gzip) keeps nothing: every fill it gave is failed.
    """
    path = Path(path)
    result = BrilcalcFile(path)
    index: dict[str, int] | None = None
    n_columns = len(DEFAULT_HEADER)
    parsed: dict[str, list[tuple]] = {}
    seen: set[tuple[str, int, int]] = set()
    fills: set[int] = set()
    line_no = 0
    try:
        for line_no, line in enumerate(_lines(path), start=1):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                columns = _header_columns(stripped)
                if "run:fill" in columns and index is None:
                    index = _column_index(columns, path, line_no)
                    n_columns = len(columns)
                continue
            if index is None:
                index = _column_index(DEFAULT_HEADER, path, line_no)
            try:
                row = _parse_row(stripped.split(","), index, n_columns)
                luminometer = luminometer_of_source(row[-1])
                if luminometer is None:
                    raise ValueError(f"unknown source {row[-1]!r}")
            except (ValueError, IndexError) as exc:
                error = BrilcalcError(path, line_no, f"bad row ({exc}): {stripped[:80]!r}")
                if strict:
                    raise error from None
                result.dropped.append(error)
                continue
            fills.add(row[0])
            key = (luminometer, row[1], row[2])
            if key in seen:
                error = BrilcalcError(path, line_no, f"duplicated LS {row[1]}:{row[2]}")
                if strict:
                    raise error
                result.dropped.append(error)
                continue
            seen.add(key)
            parsed.setdefault(luminometer, []).append(row[:-1])
    except (EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        error = BrilcalcError(path, line_no + 1, f"file breaks off ({exc})")
        if strict:
            raise error from None
        result.error = error
        result.failed_fills = {fill: error for fill in sorted(fills)}
        return result
    for luminometer, rows in parsed.items():
        frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
        result.rows[luminometer] = frame.astype(
            {"fill": "int64", "run": "int64", "ls": "int64", "time": "float64"}
        )
    return result


def fill_table(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One fill's per-LS table from its rows per luminometer, aligned on run + LS.

    Columns ``run, ls, time, stable`` and one ``delivered`` column per luminometer (NaN where
    that luminometer has no row), sorted by run and LS. ``time`` is the earliest time any
    luminometer gives for the LS; ``stable`` is true when any of them says STABLE BEAMS.
    """
    parts = []
    for luminometer, frame in rows.items():
        part = frame[["run", "ls", "time", "stable", "delivered"]].copy()
        part["luminometer"] = luminometer
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["run", "ls", "time", "stable"])
    long = pd.concat(parts, ignore_index=True)
    keys = long.groupby(["run", "ls"], sort=True).agg(
        time=("time", "min"), stable=("stable", "any")
    )
    wide = long.pivot_table(
        index=["run", "ls"], columns="luminometer", values="delivered", aggfunc="first"
    )
    order = [name for name in LUMINOMETERS if name in wide.columns]
    table = keys.join(wide[order]).reset_index()
    table.columns.name = None
    return table.astype({"run": "int64", "ls": "int64", "time": "float64", "stable": "bool"})


def read_fills(paths: Iterable[str | Path], *, strict: bool = False) -> LumiFills:
    """Read brilcalc files (one per luminometer or one per fill) into per-fill tables.

    A fill a broken file would have given is left out and listed in ``failed``; dropped rows
    are listed in ``dropped``. When two files give the same luminometer for a fill, the first
    file's row wins for each LS.
    """
    by_fill: dict[int, dict[str, list[pd.DataFrame]]] = {}
    failed: dict[int, list[BrilcalcError]] = {}
    dropped: list[BrilcalcError] = []
    for path in paths:
        read = read_brilcalc_file(path, strict=strict)
        dropped.extend(read.dropped)
        for fill, error in read.failed_fills.items():
            failed.setdefault(fill, []).append(error)
        for luminometer, frame in read.rows.items():
            for fill, part in frame.groupby("fill", sort=False):
                by_fill.setdefault(int(fill), {}).setdefault(luminometer, []).append(part)
    tables = {}
    for fill in sorted(set(by_fill) - set(failed)):
        rows = {
            name: pd.concat(parts).drop_duplicates(["run", "ls"], keep="first")
            for name, parts in by_fill[fill].items()
        }
        tables[fill] = fill_table(rows)
    return LumiFills(tables, failed, dropped)


def luminometer_columns(table: pd.DataFrame) -> list[str]:
    """The luminometers a fill table holds, in the canonical order."""
    return [name for name in LUMINOMETERS if name in table.columns]


def stable_values(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The STABLE BEAMS rows of a fill table and their luminosity matrix (LS x luminometer),
    NaN where a luminometer has no row or a value <= 0."""
    stable = table[table["stable"]].reset_index(drop=True)
    values = stable[luminometer_columns(table)].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        values = np.where(values > 0, values, np.nan)
    return stable, values
