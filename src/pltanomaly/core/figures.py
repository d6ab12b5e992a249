"""What every family's plots share: margins fixed in inches and the atomic PNG write."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.atomic import atomic_path


def fixed_margins(fig: Any, margins: Mapping[str, float]) -> None:
    """Margins in inches (``left``, ``right``, ``top``, ``bottom``), fixed: a "tight"
    bounding box would draw the whole figure twice."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=margins["left"] / width,
        right=1 - margins["right"] / width,
        top=1 - margins["top"] / height,
        bottom=margins["bottom"] / height,
    )


def save_png(fig: Any, out: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` to ``out`` as PNG, atomically, close it and return the path."""
    import matplotlib.pyplot as plt

    path = Path(out)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return path
