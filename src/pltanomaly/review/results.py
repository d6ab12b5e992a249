"""Read a results folder (shared/docs/results-contract.md) safely, while a workflow may write it.

Nothing here locks a file or keeps one open: every read opens, parses and closes. Parsed
``fills/{fill}.json`` files are cached by (mtime, size), so a file the workflow replaces is read
again. A missing, half-written or malformed file becomes a :class:`FillUnreadable` or a notice
for the page, never a traceback. Paths are built only from validated integers, so no URL can
reach outside the results folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pltanomaly.channels.layout import N_CHANNELS

YEAR_RE = re.compile(r"^(\d{4})$")
FILL_FILE_RE = re.compile(r"^(\d{1,7})\.json$")
CHANNELS = tuple(range(N_CHANNELS))
CHANNEL_STATUSES = ("normal", "anomalous", "dead")
MIN_YEAR, MAX_YEAR = 1000, 9999
MAX_FILL = 9_999_999


class ResultsError(Exception):
    """Base of the reader's errors; ``str()`` is a message fit for a page."""


class FillNotFound(ResultsError):
    pass


class FillUnreadable(ResultsError):
    pass


def valid_year(year: int) -> bool:
    return isinstance(year, int) and MIN_YEAR <= year <= MAX_YEAR


def valid_fill(fill: int) -> bool:
    return isinstance(fill, int) and 0 < fill <= MAX_FILL


def valid_channel(channel: int) -> bool:
    return isinstance(channel, int) and channel in CHANNELS


@dataclass
class FillSummary:
    """One row of the fills page."""

    year: int
    fill: int
    status: str  # anomalous | normal | failed | skipped
    start: float | None = None
    end: float | None = None
    score: float | None = None  # max over channels that are not dead
    anomalous_channels: list[int] = field(default_factory=list)
    dead_channels: list[int] = field(default_factory=list)
    n_events: int = 0
    types: list[str] = field(default_factory=list)
    channel_scores: dict[int, float | None] = field(default_factory=dict)
    channel_status: dict[int, str] = field(default_factory=dict)
    reason: str | None = None
    log_status: str | None = None
    has_series: bool = False
    has_plot: bool = False

    @property
    def duration_h(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start) / 3600.0

    @property
    def live_channels(self) -> list[int]:
        return [c for c, s in self.channel_status.items() if s != "dead"]

    def to_json(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "fill": self.fill,
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "duration_h": self.duration_h,
            "score": self.score,
            "anomalous_channels": self.anomalous_channels,
            "dead_channels": self.dead_channels,
            "n_events": self.n_events,
            "types": self.types,
            "channels": {
                str(c): {"status": self.channel_status[c], "score": self.channel_scores.get(c)}
                for c in sorted(self.channel_status)
            },
            "reason": self.reason,
            "log_status": self.log_status,
            "has_series": self.has_series,
            "has_plot": self.has_plot,
        }


def _finite(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def normalise_fill(data: Any, year: int, fill: int) -> dict[str, Any]:
    """Check a parsed ``fills/{fill}.json`` against the contract; return it with int channel keys.

    Raises :class:`FillUnreadable` with a short reason when the shape is wrong.
    """
    if not isinstance(data, dict):
        raise FillUnreadable(f"fills/{fill}.json is not a JSON object")
    channels = data.get("channels")
    if not isinstance(channels, dict):
        raise FillUnreadable(f"fills/{fill}.json has no 'channels' object")
    out_channels: dict[int, dict[str, Any]] = {}
    for key, ch in channels.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) in CHANNELS):
            raise FillUnreadable(f"fills/{fill}.json: bad channel key {key!r}")
        if not isinstance(ch, dict):
            raise FillUnreadable(f"fills/{fill}.json: channel {key} is not an object")
        status = ch.get("status")
        if status not in CHANNEL_STATUSES:
            raise FillUnreadable(f"fills/{fill}.json: channel {key} has status {status!r}")
        events = []
        for ev in ch.get("events") or []:
            if not isinstance(ev, dict):
                raise FillUnreadable(f"fills/{fill}.json: channel {key} has a bad event")
            events.append(
                {
                    **ev,
                    "type": str(ev.get("type", "")),
                    "start": _finite(ev.get("start")),
                    "end": _finite(ev.get("end")),
                    "score": _finite(ev.get("score")),
                }
            )
        out_channels[int(key)] = {
            **ch,
            "status": status,
            "score": _finite(ch.get("score")),
            "events": events,
        }
    anomalous = data.get("anomalous")
    if not isinstance(anomalous, bool):
        anomalous = any(c["status"] == "anomalous" for c in out_channels.values())
    return {
        **data,
        "fill": fill,
        "year": year,
        "start": _finite(data.get("start")),
        "end": _finite(data.get("end")),
        "anomalous": anomalous,
        "channels": dict(sorted(out_channels.items())),
    }


def parse_logs(data: Any) -> dict[int, dict[str, Any]]:
    """``logs.json`` -> {fill: entry}. Accepts {"fills": {...}}, {"fills": [...]}, {"8123": {...}}
    and [{"fill": 8123, ...}] since the shape is only loosely specified."""
    entries: Any = data.get("fills", data) if isinstance(data, dict) else data
    out: dict[int, dict[str, Any]] = {}
    if isinstance(entries, dict):
        items = list(entries.items())
    elif isinstance(entries, list):
        items = [(e.get("fill"), e) for e in entries if isinstance(e, dict)]
    else:
        return out
    for key, entry in items:
        if not isinstance(entry, dict):
            continue
        try:
            fill = int(key)
        except (TypeError, ValueError):
            continue
        if valid_fill(fill):
            out[fill] = entry
    return out


class ResultsReader:
    """Read-only view of one results folder."""

    def __init__(self, results_dir: str | os.PathLike[str]) -> None:
        self.root = Path(results_dir)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], Any]] = {}

    # -- paths (built from validated integers only) ------------------------------------------
    def year_dir(self, year: int) -> Path:
        if not valid_year(year):
            raise FillNotFound(f"no year {year}")
        return self.root / f"{year:d}"

    def json_path(self, year: int, fill: int) -> Path:
        if not valid_fill(fill):
            raise FillNotFound(f"no fill {fill}")
        return self.year_dir(year) / "fills" / f"{fill:d}.json"

    def series_path(self, year: int, fill: int) -> Path:
        return self.json_path(year, fill).with_suffix(".parquet")

    def plot_path(self, year: int, fill: int) -> Path:
        if not valid_fill(fill):
            raise FillNotFound(f"no fill {fill}")
        return self.year_dir(year) / "plots" / f"{fill:d}.png"

    # -- folder level ------------------------------------------------------------------------
    def root_problem(self) -> str | None:
        """Why the folder cannot be shown at all, or None."""
        if not self.root.exists():
            return f"The results folder {self.root} does not exist (yet)."
        if not self.root.is_dir():
            return f"{self.root} is not a folder."
        if not self.years():
            return (
                f"The results folder {self.root} holds no year folder yet "
                "(expected results/{year}/fills/{fill}.json): has the workflow run?"
            )
        return None

    def years(self) -> list[int]:
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        years = []
        for name in names:
            m = YEAR_RE.match(name)
            if m and valid_year(int(name)) and (self.root / name).is_dir():
                years.append(int(name))
        return sorted(years)

    def year_notices(self, year: int) -> list[str]:
        """What is missing or broken in one year folder (workflow running or failed)."""
        ydir = self.year_dir(year)
        notices = []
        if not (ydir / "fills").is_dir():
            notices.append(f"{year}: no fills/ folder yet.")
        if not (ydir / "report.parquet").exists():
            notices.append(
                f"{year}: report.parquet is not written yet (workflow still running, or failed)."
            )
        logs = ydir / "logs.json"
        if not logs.exists():
            notices.append(f"{year}: logs.json is not written yet.")
        else:
            try:
                self._load_json(logs)
            except FillUnreadable as exc:
                notices.append(f"{year}: logs.json is unreadable ({exc}).")
        return notices

    def logs(self, year: int) -> dict[int, dict[str, Any]]:
        path = self.year_dir(year) / "logs.json"
        try:
            return parse_logs(self._load_json(path))
        except (FillUnreadable, FillNotFound):
            return {}

    # -- one fill ----------------------------------------------------------------------------
    def load_fill(self, year: int, fill: int) -> dict[str, Any]:
        """The fill's result, normalised; FillNotFound / FillUnreadable otherwise."""
        path = self.json_path(year, fill)
        try:
            data = self._load_json(path)
        except FillNotFound:
            raise FillNotFound(f"no result for fill {fill} in {year}") from None
        return normalise_fill(data, year, fill)

    def fill_exists(self, year: int, fill: int) -> bool:
        """True when the fill has a result file, or at least a log entry."""
        try:
            if self.json_path(year, fill).exists():
                return True
        except FillNotFound:
            return False
        return fill in self.logs(year)

    def summary(
        self, year: int, fill: int, logs: dict[int, dict[str, Any]] | None = None
    ) -> FillSummary:
        if logs is None:
            logs = self.logs(year)
        entry = logs.get(fill) or {}
        log_status = entry.get("status") if isinstance(entry.get("status"), str) else None
        reason = entry.get("reason") if isinstance(entry.get("reason"), str) else None
        summary = FillSummary(year=year, fill=fill, status="failed", log_status=log_status)
        summary.has_series = self.series_path(year, fill).exists()
        summary.has_plot = self.plot_path(year, fill).exists()
        try:
            data = self.load_fill(year, fill)
        except FillNotFound:
            if log_status == "skipped":
                summary.status = "skipped"
                summary.reason = reason or "skipped by the workflow"
            elif log_status == "failed":
                summary.reason = reason or "failed (no reason logged)"
            else:
                summary.reason = f"no fills/{fill}.json (workflow still running?)"
            return summary
        except FillUnreadable as exc:
            summary.reason = f"unreadable result: {exc}"
            return summary
        return self._summarise(data, summary)

    @staticmethod
    def _summarise(data: dict[str, Any], summary: FillSummary) -> FillSummary:
        summary.start, summary.end = data["start"], data["end"]
        types: set[str] = set()
        scores = []
        for ch, info in data["channels"].items():
            summary.channel_status[ch] = info["status"]
            summary.channel_scores[ch] = info["score"]
            if info["status"] == "anomalous":
                summary.anomalous_channels.append(ch)
            elif info["status"] == "dead":
                summary.dead_channels.append(ch)
            if info["status"] != "dead" and info["score"] is not None:
                scores.append(info["score"])
            summary.n_events += len(info["events"])
            types.update(ev["type"] for ev in info["events"])
        summary.types = sorted(types)
        summary.score = max(scores) if scores else None
        summary.status = "anomalous" if data["anomalous"] else "normal"
        return summary

    def list_fills(self, years: list[int] | None = None) -> list[FillSummary]:
        """Every fill of the given (default: all) years: result files and logged failures."""
        out: list[FillSummary] = []
        for year in years if years is not None else self.years():
            logs = self.logs(year)
            fills = set(logs)
            try:
                names = os.listdir(self.year_dir(year) / "fills")
            except OSError:
                names = []
            for name in names:
                m = FILL_FILE_RE.match(name)
                if m and valid_fill(int(m.group(1))):
                    fills.add(int(m.group(1)))
            out.extend(self.summary(year, fill, logs) for fill in sorted(fills))
        return out

    # -- cached JSON -------------------------------------------------------------------------
    def _load_json(self, path: Path) -> Any:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise FillNotFound(f"{path.name} not found") from None
        except OSError as exc:
            raise FillUnreadable(f"{path.name}: {exc.strerror or exc}") from exc
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            value = hit[1]
        else:
            try:
                with open(path, encoding="utf-8") as fh:
                    value = json.load(fh)
            except FileNotFoundError:
                raise FillNotFound(f"{path.name} not found") from None
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                # half-written or corrupt: remember the failure for this (mtime, size) only
                value = FillUnreadable(f"{path.name} is not valid JSON (half-written?): {exc}")
            with self._lock:
                self._cache[path] = (key, value)
        if isinstance(value, FillUnreadable):
            raise FillUnreadable(str(value))
        return value
