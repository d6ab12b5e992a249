"""The experts' fill-validation log (CMS-LUMI-POG/Normtags ``fillValidationLog.json``).

Each fill's entry lists ``invalidated_lumisections`` (with a free-text ``reason``) and
``missing_lumisections`` per luminometer, bounded by ``run:ls`` (inclusive, may cross runs);
``"-1"`` is the start (as ``beginAt``) or end (as ``endAt``) of the fill.

Reasons are split in two (:func:`classify_reason`):

* **truth**: the reason names something seen in the data (dip, drop, low, spike, shoots up,
  high, bump, step, jump, drift, wave, jumpy, noise, glitch, ...). Any reason naming no known
  word is also truth: the validator invalidated data, so something was seen.
* **ignore**: the reason names no anomaly in the data: ``absent``/``missing``/``no data``,
  ``not valid for 5 TeV``/``5TeV``, ``previously invalidated`` (administrative), scans (VdM,
  emittance, HV scans: deliberate operations, not faults). An anomaly word wins over these,
  so "jump in dt lumi after emittance scan" is truth.

``missing_lumisections`` are ignore zones. A scorer leaves ignore zones out; a validated fill
with no truth range for a luminometer is the experts' "good" for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pltanomaly.core.errors import InputError

ANOMALY_WORDS: dict[str, str] = {
    r"spike|shoot|bump|hi?gh": "spike",
    r"dip|drop|low": "dip",
    r"step|jump(?!y)": "step",
    r"drift|temperature": "drift",
    r"wav|oscillat": "wave",
    r"jumpy|nois|fluctuat|unstable": "noise",
    r"glitch": "glitch",
}
"""Regex of words that describe a data anomaly -> its category (first match wins)."""

IGNORE_WORDS: dict[str, str] = {
    r"absent|missing|no data": "absent",
    r"not valid|5 ?tev": "not_valid",
    r"previously invalidated": "administrative",
    r"scan": "scan",
}
"""Regex of reasons that describe no anomaly in the data -> category."""


class ValidationLogError(InputError):
    """A validation log (or one entry of it) that cannot be read."""


@dataclass(frozen=True)
class LogRange:
    """One range of a validation-log entry: LS ``begin``..``end`` (``(run, ls)``, inclusive;
    None = start / end of the fill) of one luminometer."""

    fill: int
    luminometer: str
    begin: tuple[int, int] | None
    end: tuple[int, int] | None
    reason: str
    truth: bool
    category: str

    def mask(self, run: np.ndarray, ls: np.ndarray) -> np.ndarray:
        """Which of the fill's LS (``run``, ``ls`` arrays) the range covers."""
        key = np.asarray(run, dtype=np.int64) * 1_000_000 + np.asarray(ls, dtype=np.int64)
        inside = np.ones(key.shape, dtype=bool)
        if self.begin is not None:
            inside &= key >= self.begin[0] * 1_000_000 + self.begin[1]
        if self.end is not None:
            inside &= key <= self.end[0] * 1_000_000 + self.end[1]
        return inside


@dataclass
class FillEntry:
    """One fill's validation: its truth ranges and its ignore zones."""

    fill: int
    truth: list[LogRange] = field(default_factory=list)
    ignore: list[LogRange] = field(default_factory=list)
    comments: str = ""
    validated_by: str = ""


def classify_reason(reason: str) -> tuple[bool, str]:
    """(describes a data anomaly?, category) for a free-text reason."""
    text = reason.lower()
    for pattern, category in ANOMALY_WORDS.items():
        if re.search(pattern, text):
            return True, category
    for pattern, category in IGNORE_WORDS.items():
        if re.search(pattern, text):
            return False, category
    return True, "other"


def _bound(text: object, where: str) -> tuple[int, int] | None:
    value = str(text).strip()
    if value == "-1":
        return None
    run, sep, ls = value.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(run), int(ls)
    except ValueError:
        raise ValidationLogError(f"{where}: bound {value!r} is not run:ls or -1") from None


def _entry(raw: object, where: str) -> FillEntry:
    if not isinstance(raw, dict) or "fill" not in raw:
        raise ValidationLogError(f"{where}: an entry must be an object with a 'fill'")
    try:
        fill = int(raw["fill"])
    except (TypeError, ValueError):
        raise ValidationLogError(f"{where}: fill {raw['fill']!r} is not a number") from None
    entry = FillEntry(
        fill,
        comments=str(raw.get("general_comments", "")).strip(),
        validated_by=str(raw.get("validated_by", "")),
    )
    for key, is_missing in (("invalidated_lumisections", False), ("missing_lumisections", True)):
        for item in raw.get(key) or []:
            if not isinstance(item, dict) or "luminometer" not in item:
                raise ValidationLogError(f"{where}: fill {fill}: bad {key} item {item!r}")
            reason = "missing" if is_missing else str(item.get("reason", ""))
            truth, category = (False, "missing") if is_missing else classify_reason(reason)
            whole_fill = str(item.get("beginAt")) == "-1" and str(item.get("endAt")) == "-1"
            if truth and whole_fill:
                category = "scale"
            found = LogRange(
                fill,
                str(item["luminometer"]).strip().lower(),
                _bound(item.get("beginAt", "-1"), f"{where}: fill {fill}"),
                _bound(item.get("endAt", "-1"), f"{where}: fill {fill}"),
                reason,
                truth,
                category,
            )
            (entry.truth if truth else entry.ignore).append(found)
    return entry


def parse_validation_log(text: str, source: str = "<log>") -> dict[int, FillEntry]:
    """Entries by fill from a log's text: a JSON list, or one JSON object per line (the list's
    brackets and trailing commas optional)."""
    try:
        raws = json.loads(text) if text.strip() else []
        items = [(raw, f"{source}: entry {i + 1}") for i, raw in enumerate(raws)]
        if not isinstance(raws, list):
            raise ValidationLogError(f"{source}: expected a JSON list of fill entries")
    except json.JSONDecodeError:
        items = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip().rstrip(",")
            if stripped in ("", "[", "]"):
                continue
            try:
                items.append((json.loads(stripped), f"{source}:{line_no}"))
            except json.JSONDecodeError as exc:
                raise ValidationLogError(f"{source}:{line_no}: not JSON ({exc.msg})") from None
    entries: dict[int, FillEntry] = {}
    for raw, where in items:
        entry = _entry(raw, where)
        if entry.fill in entries:
            previous = entries[entry.fill]
            previous.truth += entry.truth
            previous.ignore += entry.ignore
        else:
            entries[entry.fill] = entry
    return entries


def read_validation_log(path: str | Path) -> dict[int, FillEntry]:
    """Entries by fill from a validation-log file (see :func:`parse_validation_log`)."""
    path = Path(path)
    return parse_validation_log(path.read_text(encoding="utf-8"), str(path))
