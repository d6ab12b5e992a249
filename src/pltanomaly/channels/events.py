"""The event vocabulary of the results contract, shared by the detector, generator, plots
and review app (a light module: no numba, no matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVENT_TYPES = ("step", "drift", "spike", "dropout", "stuck", "noise", "gap")
"""The ``type`` of an event in ``fills/{fill}.json``."""


def format_magnitude(event: Mapping[str, Any]) -> str:
    """An event's size as the plots label it ("+4.0%", "+2.1%/h", "x3.5", "92s"), or ""."""
    try:
        value = float(event["magnitude"])
    except (KeyError, TypeError, ValueError):
        return ""
    unit = event.get("unit", "")
    if unit == "relative":
        return f"{100 * value:+.1f}%"
    if unit == "relative per hour":
        return f"{100 * value:+.1f}%/h"
    if unit == "factor":
        return f"x{value:.1f}"
    if unit == "seconds":
        return f"{value:.0f}s"
    if unit == "variance factor":
        return f"var x{value:.1f}"
    if unit == "relative sigma":
        return f"{100 * value:.1f}%"
    return f"{value:.3g}"
