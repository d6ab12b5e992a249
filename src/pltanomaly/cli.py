"""The ``pltanomaly`` command line: each command is registered by the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterable, Sequence

from pltanomaly import __version__
from pltanomaly.core.errors import InputError

EXPECTED_ERRORS = (InputError, OSError)
"""Errors bad input causes: one line naming the file and what is wrong, exit code 2."""

COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("pltanomaly.channels.generate", "write synthetic fills (demo and test data)"),
    "config": (
        "pltanomaly.config_command",
        "check a workflow config file and list the fills it would process",
    ),
    "convert": ("pltanomaly.channels.convert", "convert one fill folder of .hd5 files to Parquet"),
    "detect": ("pltanomaly.channels.detect", "find anomalies in one fill series"),
    "evaluate": (
        "pltanomaly.channels.evaluate",
        "score results against generator truth or human labels",
    ),
    "plot": ("pltanomaly.channels.plot", "draw a fill's plot from its series and result"),
    "report": (
        "pltanomaly.channels.report",
        "rebuild a year's report.parquet and logs.json from its status records",
    ),
    "review": ("pltanomaly.review", "web app to review flagged fills and record expert verdicts"),
    "calibrate": (
        "pltanomaly.calibrate_command",
        "fit evidence -> P(expert calls bad) per anomaly type from the review verdicts",
    ),
    "lumi-generate": (
        "pltanomaly.luminometers.generate",
        "add luminometer tables (and their truth) to a generated year's fills",
    ),
    "dt-fetch": (
        "pltanomaly.chambers.fetch",
        "fetch one run's DT chamber occupancy from the DQM GUI to Parquet",
    ),
    "lumi-check": (
        "pltanomaly.luminometers.crosscheck",
        "cross-check luminometers per fill from brilcalc --byls CSVs",
    ),
    "import-validation": (
        "pltanomaly.luminometers.validation_import",
        "import the experts' fill-validation log as luminometer verdicts",
    ),
    "evaluate-lumi": (
        "pltanomaly.luminometers.evaluate",
        "score luminometer cross-check results against a validation log",
    ),
    "dt-generate": (
        "pltanomaly.chambers.generate",
        "write synthetic DT occupancy runs as the DQM GUI serves them",
    ),
    "dt-detect": ("pltanomaly.chambers.detect", "judge the DT chamber layers of one run"),
    "dt-evaluate": (
        "pltanomaly.chambers.evaluate",
        "score the DT detector and the production check on generated runs",
    ),
}
"""Command name -> (module defining ``register(subparsers)``, one-line help). Only the
command being run is imported, so ``pltanomaly --help`` imports none of them (numba, pandas,
matplotlib and Flask take seconds) and one broken optional part does not break the others."""


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full arguments of ``commands`` (default: all), and the others
    listed by name and help only."""
    parser = argparse.ArgumentParser(
        prog="pltanomaly", description="Find anomalies in CMS PLT data, fill by fill."
    )
    parser.add_argument("--version", action="version", version=f"pltanomaly {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    full = set(COMMANDS) if commands is None else set(commands)
    for name, (module_name, summary) in COMMANDS.items():
        if name not in full:
            subparsers.add_parser(name, help=summary)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def _command_in(argv: Sequence[str]) -> list[str]:
    """The command of a command line (the first word that is not an option), if any."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return [word] if word in COMMANDS else []


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except EXPECTED_ERRORS as exc:
        if args.verbose:
            raise
        print(f"pltanomaly {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2
    return int(result or 0)


def _one_line(error: BaseException) -> str:
    """An expected error as one line (an ``OSError`` with its file name, no chained cause)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
