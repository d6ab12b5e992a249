"""The workflow config as the review app reads it: detector settings and dead channels per year,
for re-evaluation (the same overlay as pltanomaly.config.year_configs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any


def load_config(config: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """The workflow config as a dict (a YAML path is read; None gives {})."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    import yaml

    with open(config, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config}: the config is not a YAML mapping")
    return data


def detector_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    settings = config.get("detector") or {}
    if not isinstance(settings, Mapping):
        raise ValueError("config key 'detector' must be a mapping")
    return dict(settings)


def _year_entry(config: Mapping[str, Any], year: int) -> Mapping[str, Any]:
    years = config.get("years")
    if not isinstance(years, Mapping):
        return {}
    entry = years.get(year, years.get(str(year)))
    return entry if isinstance(entry, Mapping) else {}


def year_settings_from(config: Mapping[str, Any]) -> Callable[[int], dict[str, Any]]:
    """year -> detector settings as the workflow uses them: ``detector`` overlaid with
    ``years.{year}.detector`` (pltanomaly.config.year_configs)."""
    base = detector_settings(config)

    def lookup(year: int) -> dict[str, Any]:
        extra = _year_entry(config, year).get("detector") or {}
        return {**base, **(dict(extra) if isinstance(extra, Mapping) else {})}

    return lookup


def dead_channels_from(config: Mapping[str, Any]) -> Callable[[int], list[int]]:
    """year -> configured dead channels (``years.{year}.dead_channels``; [] when none)."""

    def lookup(year: int) -> list[int]:
        entry = _year_entry(config, year).get("dead_channels")
        return [int(c) for c in entry] if isinstance(entry, list | tuple) else []

    return lookup
