"""Serving the review app: waitress by default, Flask's development server behind ``--debug``.

Why waitress: it is a production WSGI server that is pure Python with no dependency (it installs
with pip wherever Python runs, lxplus and laptops included, no compiler, no system package),
answers from a pool of worker threads behind a request queue (``--threads``), buffers slow
clients (an SSH tunnel), and has been maintained by the Pylons project for over a decade.
Flask's development server says itself it is not for production; it is kept only for
``--debug`` (still without the interactive debugger, which would let any visitor run code).
"""

from __future__ import annotations

import logging
from typing import Any

from pltanomaly.review import DEFAULT_THREADS

log = logging.getLogger(__name__)


def url(host: str, port: int) -> str:
    """The address a browser opens for a bind address (IPv6 literals in brackets)."""
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{name}:{port}/"


def create_server(
    app: Any, host: str, port: int, *, threads: int = DEFAULT_THREADS, map: Any = None
) -> Any:
    """A waitress server bound to (host, port), not yet running (``.run()`` serves)."""
    from waitress import create_server as waitress_server

    return waitress_server(
        app,
        map=map,
        host=host.strip("[]"),
        port=port,
        threads=threads,
        ident="pltanomaly-review",
        clear_untrusted_proxy_headers=True,
    )


def serve(
    app: Any, host: str, port: int, *, threads: int = DEFAULT_THREADS, debug: bool = False
) -> None:
    """Serve ``app`` until interrupted: waitress, or Flask's development server when ``debug``."""
    if debug:
        from werkzeug.serving import run_simple

        log.warning("--debug: Flask's development server, for development only")
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
        return
    server = create_server(app, host, port, threads=threads)
    log.info("waitress with %d threads on %s", threads, url(host, server.effective_port))
    server.run()
