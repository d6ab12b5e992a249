"""What every family's aggregation shares: status counts, the HTML page of a report table,
and the plots folder of the Snakemake report."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly import __version__
from pltanomaly.core.atomic import atomic_path
from pltanomaly.core.steps import now


def status_counts(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many log entries have each ``status``."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return counts


def write_html_page(frame: Any, out: str | os.PathLike[str], *, title: str, counts: dict) -> None:
    """A report table (a pandas frame) as a standalone HTML page, for the Snakemake report
    and browsers."""
    body = frame.to_html(index=False, na_rep="", classes="report", border=0)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; }}
table.report {{ border-collapse: collapse; }}
table.report td, table.report th {{ padding: 2px 8px; border-bottom: 1px solid #ddd; }}
table.report td, table.report th {{ text-align: left; }}
table.report th {{ background: #f0f0f0; position: sticky; top: 0; }}
</style></head><body>
<h2>{html.escape(title)}</h2>
<p>{html.escape(summary)}; generated {html.escape(now())} by pltanomaly {__version__}</p>
{body}
</body></html>
"""
    with atomic_path(out) as tmp:
        tmp.write_text(page)


def link_plots(plots_dir: Path, units: Iterable[int], out_dir: Path) -> int:
    """Hard-link (else copy) the plots ``{unit}.png`` of ``plots_dir`` into ``out_dir``, the
    folder the Snakemake report lists; returns how many there were."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for unit in units:
        source = plots_dir / f"{unit}.png"
        if not source.is_file():
            continue
        target = out_dir / source.name
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            import shutil

            shutil.copy2(source, target)
        n += 1
    return n
