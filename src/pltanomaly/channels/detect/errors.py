"""The detector's one error (a light module: the CLI and the workflow import it)."""

from __future__ import annotations


class DetectorInputError(ValueError):
    """A fill series the detector cannot use (missing columns, no row, bad settings)."""

    def __init__(self, fill: int | None, reason: str) -> None:
        self.fill = fill
        self.reason = reason
        super().__init__(f"fill {fill}: {reason}")
