"""The review app on a real waitress server in a background thread, as ``pltanomaly review``
serves it (pltanomaly.review.server), on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waitress import wasyncore

from pltanomaly.review.server import create_server, url


@contextmanager
def serving(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield the base URL (no trailing slash) of ``app`` served by waitress on ``host``."""
    app.config["TESTING"] = False
    sockets: dict[int, Any] = {}
    srv = create_server(app, host, 0, threads=4, map=sockets)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield url(host, srv.effective_port).rstrip("/")
    finally:
        srv.task_dispatcher.shutdown()
        # the sockets are closed by the server's own loop, between two polls: closed from
        # here, a poll under way fails on them (EBADF)
        srv.trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
        thread.join(5)
        if thread.is_alive():
            wasyncore.close_all(sockets)
            thread.join(5)
