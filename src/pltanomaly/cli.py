"""The ``pltanomaly`` command line: each command is registered by the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pltanomaly import __version__
from pltanomaly.errors import InputError

EXPECTED_ERRORS = (InputError, OSError)
"""Errors bad input causes: one line naming the file and what is wrong, exit code 2."""

# command name -> module defining ``register(subparsers)``; imported lazily so that
# ``pltanomaly --help`` stays fast and one broken optional part does not break the others.
COMMAND_MODULES: dict[str, str] = {
    "generate": "pltanomaly.generate",
    "config": "pltanomaly.config",
    "convert": "pltanomaly.convert",
    "detect": "pltanomaly.detect",
    "evaluate": "pltanomaly.evaluate",
    "plot": "pltanomaly.plot",
    "report": "pltanomaly.report",
    "review": "pltanomaly.review",
    "calibrate": "pltanomaly.calibrate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pltanomaly", description="Find anomalies in CMS PLT data, fill by fill."
    )
    parser.add_argument("--version", action="version", version=f"pltanomaly {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
