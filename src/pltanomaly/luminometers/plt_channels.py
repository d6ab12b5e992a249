"""When PLT is off against the other luminometers, do one or more PLT channels explain it?

The experts' logs hold "drop due to partial channel dropout": a few channels lose hits, and
the PLT total, summed over the channels, drops with them. The per-channel result of the same
fill (``fills/{fill}.json``, the results contract of the PLT channel family) says which
channels were anomalous and when; a ``pltzero`` event is *explained by channels* when live
channels have events of the same direction overlapping it. Otherwise every channel moved
together (thresholds, timing, calibration): a fault only the cross-check can see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pltanomaly.core.bril import LS_SECONDS

PLT = "pltzero"
TYPE_SIGN = {"dropout": -1.0, "gap": -1.0, "stuck": 0.0, "noise": 0.0}
"""Channel event types whose direction the type itself says (0: either direction)."""


def _direction(event: Mapping[str, Any]) -> float:
    """-1 for a loss, +1 for an excess, 0 when the event has no direction."""
    sign = TYPE_SIGN.get(str(event.get("type")))
    if sign is not None:
        return sign
    magnitude = event.get("magnitude")
    if not isinstance(magnitude, int | float):
        return 0.0
    if event.get("unit") == "factor":
        magnitude = float(magnitude) - 1.0
    return float(magnitude > 0) - float(magnitude < 0)


def overlapping_channels(
    lumi_event: Mapping[str, Any], channel_result: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The channel events overlapping a luminometer event (one LS of slack either side) whose
    direction agrees with it, as ``{channel, type, start, end, magnitude, unit}``."""
    start = float(lumi_event["start"]) - LS_SECONDS
    end = float(lumi_event["end"]) + LS_SECONDS
    direction = 1.0 if float(lumi_event.get("magnitude") or 0.0) > 0 else -1.0
    found = []
    channels = channel_result.get("channels") or {}
    for key, channel in sorted(channels.items(), key=lambda kv: int(kv[0])):
        if channel.get("status") == "dead":
            continue
        for event in channel.get("events") or []:
            if float(event["end"]) < start or float(event["start"]) > end:
                continue
            if _direction(event) * direction < 0:
                continue
            found.append(
                {
                    "channel": int(key),
                    **{k: event.get(k) for k in ("type", "start", "end", "magnitude", "unit")},
                }
            )
    return found


def explain_with_channels(
    lumi_result: dict[str, Any], channel_result: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Mark each ``pltzero`` event of ``lumi_result`` (in place, and returned) with the PLT
    channels that explain it: ``channels`` and ``explained_by_channels``; and the luminometer
    with ``channels_checked``. Without a channel result nothing is said."""
    entry = (lumi_result.get("luminometers") or {}).get(PLT)
    if entry is None or channel_result is None:
        return lumi_result
    entry["channels_checked"] = True
    explain_events(entry.get("events") or [], channel_result)
    return lumi_result


def explain_events(events: Iterable[dict[str, Any]], channel_result: Mapping[str, Any]) -> None:
    """Mark each PLT event (in place) with the channels that explain it: ``channels`` and
    ``explained_by_channels``."""
    for event in events:
        channels = overlapping_channels(event, channel_result)
        event["channels"] = channels
        event["explained_by_channels"] = bool(channels)


def explain_year_events(named: Mapping[str, Any], channel_result: Mapping[str, Any] | None) -> None:
    """Mark (in place) the PLT events of a fill found against the year (luminometer -> an
    event, or a list of them) with the channels of the fill's per-channel result that
    explain them; without a channel result nothing is said."""
    added = named.get(PLT)
    if added is None or channel_result is None:
        return
    explain_events([added] if isinstance(added, dict) else list(added), channel_result)
