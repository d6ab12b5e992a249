"""The review web app: experts look at what the detector flagged and record verdicts.

``pltanomaly review --results results/ [--host H] [--port P] [--threads N]`` serves it through
waitress (default http://127.0.0.1:8080; see :mod:`pltanomaly.review.server`), ``--debug`` through
Flask's development server. Flask is imported only when the command runs, so ``pltanomaly --help``
stays fast.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 8


def register(subparsers: Any) -> None:
    from pltanomaly.review.labels import add_labels_option

    parser = subparsers.add_parser(
        "review",
        help="web app to review flagged fills and record expert verdicts",
        description=(
            "Serve the review web app over a results folder. Verdicts are stored in SQLite "
            "beside the results folder (default RESULTS.labels.sqlite), so regenerating the "
            "results keeps them."
        ),
    )
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="host name (or address) browsers use to reach the app, besides the loopback names; "
        "repeatable, and required with a --host beyond loopback (against DNS rebinding)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"worker threads of the waitress server (default {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="serve with Flask's development server instead of waitress (development only)",
    )
    add_labels_option(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="workflow config YAML (detector settings, dead channels) for re-evaluation",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="score nearest which the evaluation queue starts (default 0.5: the detector "
        "calls a channel anomalous at score >= 0.5)",
    )
    parser.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from pltanomaly.review.app import create_app
    from pltanomaly.review.server import serve, url

    if not is_loopback(args.host):
        if not args.allow_host:
            log.error(
                "binding to %s reaches beyond this machine: name the host names browsers will "
                "use with --allow-host NAME (e.g. --allow-host plt-review.cern.ch)",
                args.host,
            )
            return 2
        log.warning(
            "binding to %s: anyone who can reach this address can read and change verdicts",
            args.host,
        )
    if not Path(args.results).is_dir():
        log.warning("results folder %s does not exist yet; the pages will say so", args.results)
    app = create_app(
        args.results,
        labels_db=args.labels,
        config=args.config,
        threshold=args.threshold,
        allowed_hosts=args.allow_host,
    )
    if args.threads < 1:
        log.error("--threads must be at least 1")
        return 2
    log.info("review app on %s (results %s)", url(args.host, args.port), args.results)
    serve(app, args.host, args.port, threads=args.threads, debug=args.debug)
    return 0
