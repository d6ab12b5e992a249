"""One chamber's occupancy answer from the DQM GUI (jsonfairy): parse and validate it.

The answer is ``{"hist": {"type": "TH2F", "stats": {"entries": ...}, "bins": {"content":
[[...], ...]}, ...}}`` (see dt-occupancy.md). ``content[j][i]`` is layer ``j + 1``, wire ``i + 1``.
Decisions:

- 12 y rows, all of one length, are required (real histograms always have 12; an MB4 has them
  too, its SL2 rows all -1); any other shape is an error.
- -1 is the padding: that cell is not a wire. Rows of layers the chamber lacks (MB4's SL2) are
  not cells either, whatever they hold, as long as it is -1 or 0 (hits there are an error).
- A count must be a finite number >= 0 (TH2F counts may be fractional). A ``"nan"``, ``"inf"`` or
  ``"-inf"`` in an existing cell makes the whole answer invalid: a hit count cannot be NaN, so
  the histogram is broken and no cell of it is trusted. Other negative numbers, strings, booleans
  or nulls are errors too.
- ``stats.entries`` counts the -1 cells as well, so :attr:`ChamberOccupancy.entries` is recomputed
  from the valid cells; the GUI's figure is kept as :attr:`ChamberOccupancy.gui_entries`.

Every problem raises :class:`DqmAnswerError`, naming the URL and the chamber, with a ``kind``
the fetcher records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pltanomaly.chambers.geometry import N_LAYERS, Chamber
from pltanomaly.core.errors import InputError

PADDING = -1.0
"""The value of a cell that is not a wire."""

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
"""How the GUI spells NaN and the infinities."""

UNSUPPORTED = "unsupported type"

ANSWER_KINDS = ("bad_json", "absent", "unsupported", "invalid")
"""``DqmAnswerError.kind``: not JSON (truncated body); no histogram at all (``{}``, an empty
body: the GUI has no such object); ``{"hist": "unsupported type"}``; a histogram that fails
validation."""


Fail = Callable[[str, str], "DqmAnswerError"]
"""Makes the error of one answer from a kind and what is wrong."""


class DqmAnswerError(InputError):
    """A chamber's DQM GUI answer that cannot be used; ``kind`` is one of :data:`ANSWER_KINDS`."""

    def __init__(self, kind: str, url: str, chamber: Chamber, what: str) -> None:
        super().__init__(f"{url} (chamber {chamber.key}): {what}")
        self.kind = kind
        self.url = url
        self.chamber = chamber
        self.what = what


@dataclass(frozen=True)
class ChamberOccupancy:
    """One chamber's hits in one run.

    ``counts[layer - 1, wire - 1]``: hits (float64); ``-1`` where the cell is not a wire."""

    chamber: Chamber
    counts: np.ndarray
    gui_entries: float | None

    @property
    def cells(self) -> np.ndarray:
        """Boolean mask of the cells that are wires."""
        return self.counts != PADDING

    @property
    def entries(self) -> float:
        """Hits in the chamber's wires (the GUI's ``stats.entries`` also counts the padding)."""
        return float(self.counts[self.cells].sum())


def parse_answer(body: bytes | str, chamber: Chamber, url: str) -> ChamberOccupancy:
    """Validate one chamber's jsonfairy answer and return its occupancy."""

    def fail(kind: str, what: str) -> DqmAnswerError:
        return DqmAnswerError(kind, url, chamber, what)

    if not body.strip():
        raise fail("absent", "empty answer")
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail("bad_json", f"not JSON ({len(body)} bytes; truncated?): {exc}") from None
    if not isinstance(answer, dict):
        raise fail("invalid", f"answer is a {type(answer).__name__}, not an object")
    if "hist" not in answer:
        raise fail("absent", "no 'hist' in the answer")
    hist = answer["hist"]
    if hist == UNSUPPORTED:
        raise fail("unsupported", "the GUI answered 'unsupported type'")
    if not isinstance(hist, dict):
        raise fail("invalid", f"'hist' is {hist!r:.60}, not a histogram")
    kind = hist.get("type")
    if not (isinstance(kind, str) and kind.startswith("TH2")):
        raise fail("invalid", f"histogram type {kind!r}, not a TH2")
    bins = hist.get("bins")
    content = bins.get("content") if isinstance(bins, dict) else None
    if not isinstance(content, list):
        raise fail("invalid", "no 'bins.content' list")
    counts = _content_array(content, fail)
    _check_counts(counts, chamber, fail)
    return ChamberOccupancy(chamber, counts, _gui_entries(hist, fail))


def _content_array(content: list, fail: Fail) -> np.ndarray:
    """``content`` as a (12, wires) float64 array; the GUI's strings turned into floats."""
    if len(content) != N_LAYERS:
        raise fail("invalid", f"{len(content)} layer rows, expected {N_LAYERS}")
    if not all(isinstance(row, list) for row in content):
        raise fail("invalid", "a layer row is not a list")
    widths = {len(row) for row in content}
    if len(widths) != 1 or 0 in widths:
        raise fail("invalid", f"layer rows of {sorted(widths)} wires, expected one width")
    types = {type(value) for row in content for value in row}
    if types <= {int, float}:
        return np.array(content, dtype=np.float64)
    if not types <= {int, float, str}:
        wrong = sorted(t.__name__ for t in types - {int, float, str})
        raise fail("invalid", f"counts of type {', '.join(wrong)}")
    try:
        rows = [[NON_FINITE[v] if type(v) is str else v for v in row] for row in content]
    except KeyError as exc:
        raise fail("invalid", f"count {exc.args[0]!r} is not a number") from None
    return np.array(rows, dtype=np.float64)


def _check_counts(counts: np.ndarray, chamber: Chamber, fail: Fail) -> None:
    """Raise for non-finite or negative counts in existing cells; blank missing layers."""
    missing = [layer - 1 for layer in range(1, N_LAYERS + 1) if layer not in chamber.layers]
    if missing:
        ghost = counts[missing]
        if not np.all((ghost == PADDING) | (ghost == 0)):
            raise fail("invalid", f"hits in layers {[m + 1 for m in missing]}, which do not exist")
        counts[missing] = PADDING
    cells = counts != PADDING
    bad = cells & ~np.isfinite(counts)
    if bad.any():
        layer, wire = (int(i) + 1 for i in np.argwhere(bad)[0])
        raise fail(
            "invalid",
            f"{int(bad.sum())} non-finite counts (first: layer {layer}, wire {wire}: "
            f"{counts[layer - 1, wire - 1]})",
        )
    negative = cells & (counts < 0)
    if negative.any():
        layer, wire = (int(i) + 1 for i in np.argwhere(negative)[0])
        raise fail(
            "invalid",
            f"{int(negative.sum())} negative counts other than -1 (first: layer {layer}, "
            f"wire {wire}: {counts[layer - 1, wire - 1]})",
        )


def _gui_entries(hist: dict, fail: Fail) -> float | None:
    """The GUI's ``stats.entries`` (padding included), if it gave one."""
    stats = hist.get("stats")
    entries = stats.get("entries") if isinstance(stats, dict) else None
    if entries is None:
        return None
    if type(entries) not in (int, float) or not math.isfinite(entries):
        raise fail("invalid", f"stats.entries is {entries!r}, not a number")
    return float(entries)
