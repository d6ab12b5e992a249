"""A loopback stand-in for the DQM GUI: the jsonfairy paths and TH2 JSON of DT occupancy.

``occupancy(chamber, rng)`` makes a chamber's (12, wires) array, -1 where no wire is;
:func:`pltanomaly.chambers.generate.gui_json` turns it into the GUI's JSON.
:class:`DqmGuiServer` serves runs of such arrays on 127.0.0.1 with scriptable faults per chamber;
it stops on leaving its ``with`` block, after ``max_requests`` or after ``lifetime`` seconds.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from pltanomaly.chambers.generate import gui_json
from pltanomaly.chambers.geometry import CHAMBERS, N_LAYERS, Chamber, dqm_path
from pltanomaly.chambers.geometry import max_wires as chamber_max_wires
from pltanomaly.chambers.geometry import wires as layer_wires

FAULTS = ("ok", "503", "500", "404", "sleep", "truncate", "reset", "drop", "unsupported", "nan")
"""What the server does with one request: answer normally; answer that status; sleep past the
read time-out then answer; send a JSON body cut in half (with a matching length); close the
socket mid-answer (a reset); close it before any answer; ``{"hist": "unsupported type"}``;
answer with ``"nan"`` in one existing cell."""


def occupancy(chamber: Chamber, rng: np.random.Generator, mean: float = 200.0) -> np.ndarray:
    """A chamber's hits: Poisson around ``mean`` in existing cells, -1 elsewhere."""
    counts = np.full((N_LAYERS, chamber_max_wires(chamber)), -1.0)
    for layer in chamber.layers:
        n = layer_wires(chamber, layer)
        counts[layer - 1, :n] = rng.poisson(mean, n)
    return counts


def generate_run(
    seed: int = 1, chambers: Iterable[Chamber] = CHAMBERS
) -> dict[Chamber, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {chamber: occupancy(chamber, rng) for chamber in chambers}


@dataclass
class Script:
    """A chamber's faults, one per request in order, then ``then`` for every later request."""

    faults: list[str]
    then: str = "ok"


@dataclass
class DqmGuiServer:
    """Serve ``runs`` (run -> chamber -> counts) at the GUI's paths on 127.0.0.1; every answer
    waits ``latency`` seconds (a slow GUI), the ``sleep`` fault ``sleep`` seconds."""

    runs: dict[int, dict[Chamber, np.ndarray]]
    sleep: float = 0.3
    latency: float = 0.0
    max_requests: int = 5000
    lifetime: float = 60.0
    scripts: dict[tuple[int, str], Script] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._paths = {
            dqm_path(run, chamber): (run, chamber)
            for run, chambers in self.runs.items()
            for chamber in chambers
        }
        self._bodies: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def script(self, run: int, chamber: Chamber, *faults: str, then: str = "ok") -> None:
        """Make the chamber's next requests meet ``faults``, then ``then`` for ever."""
        assert all(f in FAULTS for f in (*faults, then)), faults
        self.scripts[(run, chamber.key)] = Script(list(faults), then)

    def body(self, run: int, chamber: Chamber) -> bytes:
        path = dqm_path(run, chamber)
        if path not in self._bodies:
            answer = gui_json(run, chamber, self.runs[run][chamber])
            self._bodies[path] = json.dumps(answer).encode()
        return self._bodies[path]

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> DqmGuiServer:
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.stop()
        self._thread.join(timeout=5)
        self._httpd.server_close()

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    def _next_fault(self, run: int, chamber: Chamber) -> str:
        with self._lock:
            script = self.scripts.get((run, chamber.key))
            if script is None:
                return "ok"
            return script.faults.pop(0) if script.faults else script.then

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests[handler.path] += 1
            total = sum(self.requests.values())
        if total > self.max_requests:
            self.stop()
            return _send(handler, 503, b"")
        if handler.path not in self._paths:
            return _send(handler, 404, b"<html>Not Found</html>", "text/html")
        run, chamber = self._paths[handler.path]
        if self.latency:
            time.sleep(self.latency)
        fault = self._next_fault(run, chamber)
        body = self.body(run, chamber)
        if fault in ("503", "500", "404"):
            return _send(handler, int(fault), b"<html>error</html>", "text/html")
        if fault == "sleep":
            time.sleep(self.sleep)
        elif fault == "truncate":
            body = body[: len(body) // 2]
        elif fault == "unsupported":
            body = b'{"hist": "unsupported type"}'
        elif fault == "nan":
            counts = self.runs[run][chamber].copy()
            counts[chamber.layers[0] - 1, 0] = math.nan
            body = json.dumps(gui_json(run, chamber, counts)).encode()
        elif fault in ("reset", "drop"):
            return _reset(handler, body if fault == "reset" else b"")
        _send(handler, 200, body)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (time-outs, resets) are part of the tests, not errors to print."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "application/json"
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _reset(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Promise ``body``, send half of it (nothing at all if empty), then reset the connection."""
    if body:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def _handler(server: DqmGuiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            try:
                server.answer(self)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler
