"""Read the luminometer cross-check's outputs in a results folder: ``{year}/lumi/{fill}.json``
(with the year's events of ``{year}/lumi/year-scale.json`` added),
``{year}/lumi/plots/{fill}.png`` and ``{year}/lumi/tables/{fill}.parquet``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pltanomaly.luminometers.year_scale import add_events

YEAR_RE = re.compile(r"^(19|20)\d\d$")
YEAR_SCALE_FILE = "year-scale.json"
"""A year's events against the year, in its ``lumi`` folder (written by the aggregation)."""
YEAR_PARTS = ("fills", "rejudged")
"""Its parts that hold events, fill -> luminometer -> events."""


class LumiResults:
    """Read-only view of the luminometer results under one results folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._year_scale: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        """Year -> (mtime of its ``year-scale.json``, its parts)."""

    def folder(self, year: int) -> Path:
        return self.root / f"{int(year):d}" / "lumi"

    def json_path(self, year: int, fill: int) -> Path:
        return self.folder(year) / f"{int(fill):d}.json"

    def plot_path(self, year: int, fill: int) -> Path:
        return self.folder(year) / "plots" / f"{int(fill):d}.png"

    def table_path(self, year: int, fill: int) -> Path:
        return self.folder(year) / "tables" / f"{int(fill):d}.parquet"

    def fills(self) -> list[tuple[int, int]]:
        """(year, fill) of every result, in order."""
        try:
            years = sorted(int(n) for n in os.listdir(self.root) if YEAR_RE.match(n))
        except OSError:
            return []
        out = []
        for year in years:
            folder = self.folder(year)
            if folder.is_dir():
                out += [(year, int(p.stem)) for p in folder.glob("*.json") if p.stem.isdigit()]
        return sorted(out)

    def years_of(self) -> dict[int, int]:
        """Fill -> year, over every result (a fill number belongs to one year)."""
        return {fill: year for year, fill in self.fills()}

    def load(self, year: int, fill: int) -> dict[str, Any] | None:
        """The fill's result, or None when there is none or it cannot be read."""
        try:
            data = json.loads(self.json_path(year, fill).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("luminometers"), dict):
            return None
        return with_year_events(data, fill, *self.year_parts(year))

    def year_parts(self, year: int) -> list[dict[str, Any]]:
        """The year's events in its ``year-scale.json`` (:func:`read_year_parts`), read once
        per change of the file, not once per fill loaded; none when the year was not
        aggregated yet or the file cannot be read."""
        path = self.folder(year) / YEAR_SCALE_FILE
        try:
            stamp = path.stat().st_mtime_ns
            cached = self._year_scale.get(year)
            if cached is None or cached[0] != stamp:
                cached = (stamp, read_year_parts(path) or [])
                self._year_scale[year] = cached
        except (OSError, ValueError):
            return []
        return cached[1]

    def table(self, year: int, fill: int) -> pd.DataFrame | None:
        """The per-LS table the cross-check saw, or None when it was not kept."""
        return kept_table(self.table_path(year, fill))


def read_year_parts(path: str | os.PathLike[str]) -> list[dict[str, Any]] | None:
    """The parts of a ``year-scale.json`` that hold events, in :data:`YEAR_PARTS` order:
    ``fills`` (fill -> luminometer -> the event of a fill off against the year) and
    ``rejudged`` (fill -> luminometer -> the events of the fill judged again with the year's
    usual measures); None when the file holds no object. Raises ``OSError`` or
    ``ValueError`` when it cannot be read."""
    data = json.loads(Path(path).read_text("utf-8"))
    if not isinstance(data, dict):
        return None
    return [data[part] for part in YEAR_PARTS if isinstance(data.get(part), dict)]


def with_year_events(
    result: dict[str, Any], fill: int, *parts: Mapping[str, Any]
) -> dict[str, Any]:
    """A fill's ``result`` with its events in each of ``parts`` of ``year-scale.json``
    (``fills``, ``rejudged``: fill -> luminometer -> events) added."""
    for part in parts:
        named = part.get(str(int(fill)))
        if isinstance(named, dict):
            result = add_events(result, named)
    return result


def published_year(
    folder: str | os.PathLike[str], results: Mapping[int, dict[str, Any]]
) -> dict[int, dict[str, Any]] | None:
    """``results`` (fill -> its ``{fill}.json``) of a ``results/{year}/lumi`` ``folder`` with
    the year's events its aggregation published in ``year-scale.json``; None when there is
    no readable one, or one older than a fill's result (the year was not aggregated since)."""
    folder = Path(folder)
    path = folder / YEAR_SCALE_FILE
    try:
        stamp = path.stat().st_mtime_ns
        parts = read_year_parts(path)
        newest = max(
            (p.stat().st_mtime_ns for p in folder.glob("*.json") if p.stem.isdigit()),
            default=0,
        )
    except (OSError, ValueError):
        return None
    if parts is None or newest > stamp:
        return None
    return {fill: with_year_events(result, fill, *parts) for fill, result in results.items()}


def kept_table(path: str | os.PathLike[str]) -> pd.DataFrame | None:
    """A per-LS table a cross-check kept (``tables/{fill}.parquet``), or None when there is
    none or it cannot be read."""
    path = Path(path)
    try:
        return pd.read_parquet(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def present(result: dict[str, Any]) -> list[str]:
    """The luminometers of a result that had data in the fill."""
    return [
        name
        for name, entry in result.get("luminometers", {}).items()
        if isinstance(entry, dict) and entry.get("status") != "absent"
    ]
