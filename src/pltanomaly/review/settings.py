"""The workflow config as the review app reads it: detector settings and dead channels per year,
for re-evaluation (the same overlay as pltanomaly.channels.years.year_configs)."""

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


def _year_entry(config: Mapping[str, Any], year: int) -> Mapping[str, Any]:
    years = config.get("years")
    if not isinstance(years, Mapping):
        return {}
    entry = years.get(year, years.get(str(year)))
    return entry if isinstance(entry, Mapping) else {}


def check_detector_settings(config: Mapping[str, Any]) -> None:
    """Raise ValueError now, not in a job, when the config's detector settings are invalid."""
    from pltanomaly.channels.years import year_detector

    years = config.get("years")
    for year in [*(years if isinstance(years, Mapping) else {}), 0]:  # 0: the global ones
        year_detector(config, int(year))


def year_settings_from(config: Mapping[str, Any]) -> Callable[[int], dict[str, Any]]:
    """year -> detector settings as the workflow uses them
    (:func:`pltanomaly.channels.years.year_detector`, in their serialised form)."""
    from pltanomaly.channels.years import year_detector

    return lambda year: year_detector(config, year).to_dict()


def dead_channels_from(config: Mapping[str, Any]) -> Callable[[int], list[int]]:
    """year -> configured dead channels (``years.{year}.dead_channels``; [] when none)."""

    def lookup(year: int) -> list[int]:
        entry = _year_entry(config, year).get("dead_channels")
        return [int(c) for c in entry] if isinstance(entry, list | tuple) else []

    return lookup
