"""The PLT years of the workflow configuration: each year's source, dead channels, fill
selection and detector settings, and the discovery of its fills.

A year's source is a folder holding one folder per fill (``/brildata/22``, an EOS folder,
or a local copy), or an sshfs mount of such a folder (:mod:`pltanomaly.core.config`).
:func:`load_years` is the one check the Snakefile and ``pltanomaly config`` share, so the
package and the workflow agree on what a valid configuration is. :func:`fill_files` is the
one listing of a fill's files. Nothing here imports numpy or pandas at import time.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pltanomaly.channels.detect.settings import DetectorSettings
from pltanomaly.core.config import (
    ConfigError,
    SshfsSource,
    _sshfs_source,
    validate_config,
)
from pltanomaly.core.errors import InputError


class FillFolderError(InputError):
    """A fill folder that cannot be listed: missing, a symbolic link loop, unreadable."""

    def __init__(self, folder: str | os.PathLike[str], reason: str) -> None:
        self.folder = Path(folder)
        self.reason = reason
        super().__init__(f"{self.folder}: {reason}")


def load_years(
    config: dict[str, Any], schema_path: str | os.PathLike[str] | None = None
) -> dict[int, YearConfig]:
    """Validate ``config`` (in place, defaults filled) and build its years, each with its
    complete detector settings: the one check the workflow and ``pltanomaly config`` share.

    Raises :class:`ConfigError` for anything the schema or the detector refuses.
    """
    validate_config(config, schema_path)
    return year_configs(config)


@dataclass(frozen=True)
class YearConfig:
    """One configured year, with defaults filled and detector settings merged."""

    year: int
    source: Path
    """the folder holding the fill folders (the mountpoint for an sshfs source)"""
    sshfs: SshfsSource | None = None
    dead_channels: tuple[int, ...] = ()
    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
    min_fill_hours: float = 0.0
    counts: str = "auto"
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    """the global settings overlaid with the year's, validated once here"""


def calibration_digest(settings: DetectorSettings) -> str:
    """sha256 of the settings' calibration file ("" when uncalibrated): a new calibration, or
    new content under the same name, changes it (and so reruns the detection that uses it)."""
    if not settings.calibration:
        return ""
    path = Path(os.path.expanduser(settings.calibration))
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"detector calibration {settings.calibration}: {exc.strerror}") from None


def year_detector(config: Mapping[str, Any], year: int) -> DetectorSettings:
    """The detector settings of ``year``: the global ``detector`` overlaid with
    ``years.{year}.detector``, validated (:class:`ConfigError` naming the year). The one
    place the two are merged: the workflow and the review app's re-evaluation call it."""
    global_detector = config.get("detector") or {}
    years = config.get("years") or {}
    entry = years.get(year, years.get(str(year))) if isinstance(years, Mapping) else None
    own = (entry or {}).get("detector") or {} if isinstance(entry, Mapping) else {}
    if not isinstance(global_detector, Mapping) or not isinstance(own, Mapping):
        raise ConfigError(f"config years.{year} detector settings must be a mapping")
    try:
        return DetectorSettings.from_mapping({**global_detector, **own})
    except ValueError as exc:
        raise ConfigError(f"config years.{year} detector settings: {exc}") from None


def year_configs(config: Mapping[str, Any]) -> dict[int, YearConfig]:
    """The configured years with a fill source (a year may name brilcalc files only), sorted
    by year; invalid detector settings raise :class:`ConfigError` naming the year."""
    years: dict[int, YearConfig] = {}
    for key in sorted(config.get("years") or {}, key=int):
        entry = config["years"][key]
        year = int(key)
        source = entry.get("source")
        if source is None:
            continue
        sshfs = _sshfs_source(year, source["sshfs"]) if isinstance(source, dict) else None
        fills = entry.get("fills") or {}
        years[year] = YearConfig(
            year=year,
            source=sshfs.mountpoint if sshfs else Path(os.path.expanduser(source)),
            sshfs=sshfs,
            dead_channels=tuple(sorted(entry.get("dead_channels") or ())),
            include=tuple(sorted(fills.get("include") or ())),
            exclude=tuple(sorted(fills.get("exclude") or ())),
            min_fill_hours=float(entry.get("min_fill_hours") or 0.0),
            counts=entry.get("counts", "auto"),
            detector=year_detector(config, year),
        )
    return years


def _loops(error: OSError) -> bool:
    return error.errno == errno.ELOOP


def fill_folders(year_cfg: YearConfig) -> dict[int, Path]:
    """Every fill folder (an entry named by a number, without leading zeros, that is a
    folder or a symbolic link loop, which processing then reports) of the year's source."""
    source = year_cfg.source
    if not source.is_dir():
        where = f"the mount of {year_cfg.sshfs.target}" if year_cfg.sshfs else "the source"
        hint = "; 'make demo' generates the demo fills" if "demo-data" in str(source) else ""
        raise ConfigError(
            f"config years.{year_cfg.year}.source: {source} ({where}) is not a folder{hint}"
        )
    folders: dict[int, Path] = {}
    with os.scandir(source) as entries:
        for entry in entries:
            name = entry.name
            if not (name.isdigit() and name == str(int(name))):
                continue
            try:
                is_fill = entry.is_dir()
            except OSError as exc:
                is_fill = _loops(exc)
            if is_fill:
                folders[int(name)] = source / name
    return folders


def fill_files(fill_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``.hd5`` files of one fill folder, sorted by name: the one listing discovery, the
    rerun fingerprint and the reader use. Hidden files (``._x.hd5``) are not listed; a file
    that is a symbolic link loop is, so that reading it fails the fill naming it.

    Raises :class:`FillFolderError` when the folder is missing, loops or cannot be read.
    """
    folder = Path(fill_dir)
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if _is_fill_file(entry)]
    except FileNotFoundError:
        raise FillFolderError(folder, "fill folder does not exist") from None
    except NotADirectoryError:
        raise FillFolderError(folder, "not a folder") from None
    except OSError as exc:
        reason = "fill folder is a symbolic link loop" if _loops(exc) else exc.strerror
        raise FillFolderError(folder, f"cannot list the fill folder ({reason})") from None
    return [folder / name for name in sorted(names)]


def _is_fill_file(entry: os.DirEntry[str]) -> bool:
    if not entry.name.endswith(".hd5") or entry.name.startswith("."):
        return False
    try:
        return entry.is_file()
    except OSError as exc:
        return _loops(exc)


def select_fills(year_cfg: YearConfig, fills: Iterable[int]) -> tuple[list[int], list[int]]:
    """Split ``fills`` into (processed, excluded by the include/exclude lists)."""
    keep: list[int] = []
    dropped: list[int] = []
    for fill in sorted(fills):
        wanted = (not year_cfg.include or fill in year_cfg.include) and (
            fill not in year_cfg.exclude
        )
        (keep if wanted else dropped).append(fill)
    return keep, dropped


def discover(year_cfg: YearConfig) -> tuple[dict[int, list[str]], list[int]]:
    """``({fill: [its .hd5 files]}, [fills excluded by the config])`` for one year."""
    folders = fill_folders(year_cfg)
    keep, excluded = select_fills(year_cfg, folders)
    return {fill: _listed(folders[fill]) for fill in keep}, excluded


def _listed(folder: Path) -> list[str]:
    """The fill's files for discovery; none for a folder that cannot be listed (processing
    reports why, and the fill runs again once it can be listed)."""
    try:
        return [str(path) for path in fill_files(folder)]
    except FillFolderError:
        return []


def discover_fills(year_cfg: YearConfig) -> dict[int, list[str]]:
    """``{fill: [its .hd5 files]}`` for the year's fills to process (include/exclude
    applied). A fill folder with no file is kept with an empty list: processing reports it
    as failed, and the fill runs again once files appear."""
    return discover(year_cfg)[0]


def fill_fingerprint(files: Iterable[str | os.PathLike[str]]) -> str:
    """Names, sizes and modification times of a fill's files, hashed: changes whenever a
    file is added, removed, rewritten, or restored with an older time stamp."""
    parts = []
    for name in files:
        try:
            stat = os.stat(name)
        except OSError as exc:  # a link loop or a file gone since the listing
            parts.append(f"{Path(name).name}:error {exc.errno}")
            continue
        parts.append(f"{Path(name).name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def write_fill_manifest(path: str | os.PathLike[str], files: Iterable[str]) -> bool:
    """Write the manifest of a fill's files (names and fingerprint) to ``path`` unless it
    holds the same already; True when written. Its time stamp then changes exactly when the
    fill's files do: the workflow tracks it instead of the files, whose names may hold
    characters Snakemake reads as patterns (``{fill}``, ``<run>``)."""
    files = list(files)
    text = json.dumps(
        {"files": [Path(name).name for name in files], "fingerprint": fill_fingerprint(files)},
        indent=1,
    )
    target = Path(path)
    try:
        if target.read_text() == text:
            return False
    except OSError:
        pass
    from pltanomaly.core.atomic import atomic_path

    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return True
