"""Year-at-a-glance heatmap: fills (x) x channels (y) coloured by score, as inline SVG.

Rendered on the server (no JavaScript). Fills run left to right in bands of ``per_band``; each
fill column links to its fill page and carries a tooltip. Dead channels are grey, channels absent
from the result are blank, failed fills are hatched red. A dot marks a human verdict (dark: bad,
green: good).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from markupsafe import Markup, escape

from pltanomaly.review.results import CHANNELS, FillSummary

#: score bins 0-0.1, ..., 0.9-1.0 (colour-blind safe sequential palette, light to dark)
PALETTE = (
    "#fff7ec",
    "#fee8c8",
    "#fdd49e",
    "#fdbb84",
    "#fc8d59",
    "#ef6548",
    "#d7301f",
    "#b30000",
    "#7f0000",
    "#4a0000",
)
CELL_H = 10
MIN_CELL_W, MAX_CELL_W, TARGET_WIDTH = 10, 36, 1000
LEFT, TOP, GAP = 26, 14, 10


def score_class(score: float | None) -> str:
    if score is None:
        return "hn"
    return f"h{min(9, max(0, int(score * 10)))}"


def _date(ts: float | None) -> str:
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def render(
    fills: list[FillSummary],
    verdicts: Mapping[tuple[int, int, int], str],
    href: Callable[[int, int], str],
    *,
    per_band: int = 100,
) -> Markup:
    """The SVG of one year's fills (already sorted)."""
    if not fills:
        return Markup("")
    n = len(fills)
    bands = (n + per_band - 1) // per_band
    cell_w = max(MIN_CELL_W, min(MAX_CELL_W, TARGET_WIDTH // min(n, per_band)))
    label_every = next(k for k in (1, 2, 5, 10, 20) if k * cell_w >= 34)
    band_h = TOP + len(CHANNELS) * CELL_H + GAP
    width = LEFT + min(n, per_band) * cell_w + 4
    height = bands * band_h
    parts = [
        f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="score heatmap: {n} fills by 16 channels">'
    ]
    for b in range(bands):
        y0 = b * band_h
        for ch in CHANNELS:
            if ch % 2 == 0 or ch == 15:
                y = y0 + TOP + ch * CELL_H + CELL_H - 1
                parts.append(f'<text class="hl" x="{LEFT - 3}" y="{y}">{ch}</text>')
        for i, fs in enumerate(fills[b * per_band : (b + 1) * per_band]):
            x = LEFT + i * cell_w
            if i % label_every == 0:
                parts.append(f'<text class="hf" x="{x}" y="{y0 + TOP - 3}">{fs.fill}</text>')
            tip = f"fill {fs.fill} · {_date(fs.start)} · {fs.status}"
            if fs.score is not None:
                tip += f" · max score {fs.score:.2f}"
            if fs.anomalous_channels:
                tip += " · anomalous ch " + ",".join(map(str, fs.anomalous_channels))
            if fs.reason:
                tip += f" · {fs.reason}"
            parts.append(
                f'<a href="{escape(href(fs.year, fs.fill))}" data-fill="{fs.fill}">'
                f"<title>{escape(tip)}</title>"
            )
            for ch in CHANNELS:
                y = y0 + TOP + ch * CELL_H
                if fs.status in ("failed", "skipped"):
                    cls = "hfail" if fs.status == "failed" else "hskip"
                elif ch not in fs.channel_status:
                    cls = "hn"
                elif fs.channel_status[ch] == "dead":
                    cls = "hd"
                else:
                    cls = score_class(fs.channel_scores.get(ch))
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{cell_w - 1}" height="{CELL_H - 1}" '
                    f'class="{cls}"/>'
                )
                verdict = verdicts.get((fs.year, fs.fill, ch))
                if verdict in ("bad", "good"):
                    parts.append(
                        f'<circle cx="{x + (cell_w - 1) / 2}" cy="{y + (CELL_H - 1) / 2}" r="2.5" '
                        f'class="v{verdict}"/>'
                    )
            parts.append("</a>")
    parts.append("</svg>")
    return Markup("".join(parts))


def legend() -> list[tuple[str, str]]:
    """(css class, label) for the legend under the map."""
    out = [(f"h{i}", f"{i / 10:.1f}–{(i + 1) / 10:.1f}") for i in range(10)]
    out += [("hd", "dead"), ("hn", "absent"), ("hfail", "failed"), ("hskip", "skipped")]
    return out


def css() -> str:
    """The colour rules, generated from :data:`PALETTE` (served inline in the page head)."""
    rules = [
        f".heatmap .h{i},.legend .h{i}{{fill:{c};background:{c}}}" for i, c in enumerate(PALETTE)
    ]
    return "\n".join(rules)
