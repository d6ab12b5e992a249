"""``pltanomaly detect``: the detector on one fill series file."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.channels.detect.errors import DetectorInputError
from pltanomaly.channels.detect.settings import DetectorSettings, load_settings


def detect_file(
    parquet_path: str | Path,
    json_out: str | Path,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> dict[str, Any]:
    """Run :func:`~pltanomaly.channels.detect.detect_fill` on a fill series Parquet file and write
    the result atomically."""
    import pandas as pd

    from pltanomaly.channels.detect.result import detect_fill
    from pltanomaly.core.atomic import write_json_atomic

    try:
        series = pd.read_parquet(parquet_path)
    except (OSError, ValueError) as exc:
        raise DetectorInputError(fill, f"cannot read {parquet_path}: {exc}") from exc
    result = detect_fill(
        series, fill=fill, year=year, settings=settings, dead_channels=dead_channels
    )
    write_json_atomic(json_out, result)
    return result


def _parse_dead(text: str) -> list[int]:
    text = text.strip()
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--dead wants channel numbers like 6,8: {text}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("detect", help="find anomalies in one fill series")
    parser.add_argument("series", type=Path, help="fill series Parquet file")
    parser.add_argument("out", type=Path, help="result JSON to write")
    parser.add_argument("--fill", type=int, required=True)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--settings", type=Path, default=None, help="JSON or YAML settings")
    parser.add_argument("--dead", type=_parse_dead, default=[], help="dead channels, e.g. 6,8")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.settings)
        result = detect_file(
            args.series,
            args.out,
            fill=args.fill,
            year=args.year,
            settings=settings,
            dead_channels=args.dead,
        )
    except (DetectorInputError, ValueError, OSError) as exc:
        print(f"pltanomaly detect: {exc}")
        return 2
    bad = [c for c, v in result["channels"].items() if v["status"] == "anomalous"]
    dead = [c for c, v in result["channels"].items() if v["status"] == "dead"]
    print(f"fill {args.fill}: anomalous channels {bad or 'none'}; dead {dead}; wrote {args.out}")
    return 0
