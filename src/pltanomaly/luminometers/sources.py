"""The luminometer part of the workflow configuration: each year's brilcalc CSV files, the
fills they hold, and the cross-check settings.

A year names its brilcalc ``--byls`` files instead of or beside a fill source::

    years: {2018: {brilcalc: [plt.csv.gz, hfoc.csv.gz], luminometers: {false_alarm_per_ls: 1e-7}}}

The global ``luminometers`` settings are overlaid with the year's. Listing the fills of a
file reads only its ``run:fill`` column; the listing is kept per file fingerprint in a small
cache, so a parse of the workflow reads a file again only when it changed.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.config import ConfigError

FILLS_CACHE_VERSION = 1


def _year_entry(config: Mapping[str, Any], year: int) -> Mapping[str, Any]:
    years = config.get("years") or {}
    entry = years.get(year, years.get(str(year)))
    return entry if isinstance(entry, Mapping) else {}


def brilcalc_years(config: Mapping[str, Any]) -> dict[int, tuple[Path, ...]]:
    """``{year: brilcalc files}`` of the years that name some, sorted by year."""
    years = config.get("years") or {}
    found = {}
    for key in sorted(years, key=int):
        files = _year_entry(config, int(key)).get("brilcalc") or ()
        if files:
            found[int(key)] = tuple(Path(os.path.expanduser(str(f))) for f in files)
    return found


def crosscheck_settings(config: Mapping[str, Any], year: int) -> dict[str, Any]:
    """The cross-check settings of ``year`` (global ``luminometers`` overlaid with the
    year's), checked against :class:`~pltanomaly.luminometers.crosscheck.CrosscheckConfig`;
    :class:`ConfigError` names the year and the bad setting."""
    from pltanomaly.luminometers.crosscheck import CrosscheckConfig

    own = _year_entry(config, year).get("luminometers") or {}
    merged = {**(config.get("luminometers") or {}), **own}
    known = {f.name for f in dataclasses.fields(CrosscheckConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(
            f"config years.{year} luminometers: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    try:
        CrosscheckConfig(**merged)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config years.{year} luminometers: {exc}") from None
    return dict(sorted(merged.items()))


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _scan_fills(path: Path) -> list[int]:
    """The fills of a brilcalc file, from its ``run:fill`` column (bad rows are skipped: the
    reader reports them)."""
    with path.open("rb") as probe:
        opener = gzip.open if probe.read(2) == b"\x1f\x8b" else open
    fills: set[int] = set()
    try:
        with opener(path, "rb") as handle:
            for raw in handle:
                if raw.startswith(b"#"):
                    continue
                head = raw.split(b",", 1)[0]
                _, _, fill = head.partition(b":")
                if fill.strip().isdigit():
                    fills.add(int(fill))
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
    return sorted(fills)


def brilcalc_fills(paths: Iterable[Path], cache: str | os.PathLike[str] | None) -> list[int]:
    """The fills the brilcalc ``paths`` hold, read through the per-file ``cache`` (rewritten
    when a file changed; None: no cache); :class:`ConfigError` names a file that cannot be
    read."""
    try:
        if cache is None:
            raise FileNotFoundError
        known = json.loads(Path(cache).read_text())
        if known.get("version") != FILLS_CACHE_VERSION:
            known = {}
    except (OSError, ValueError):
        known = {}
    files = dict(known.get("files") or {})
    fresh: dict[str, Any] = {}
    fills: set[int] = set()
    for path in paths:
        try:
            stamp = _fingerprint(path)
            entry = files.get(str(path))
            if not entry or entry.get("fingerprint") != stamp:
                entry = {"fingerprint": stamp, "fills": _scan_fills(path)}
        except OSError as exc:
            raise ConfigError(f"brilcalc file {path}: {exc.strerror or exc}") from None
        fresh[str(path)] = entry
        fills.update(entry["fills"])
    if cache is not None and fresh != files:
        write_json_atomic(cache, {"version": FILLS_CACHE_VERSION, "files": fresh})
    return sorted(fills)
