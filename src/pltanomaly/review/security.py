"""What keeps other sites out of the review app: Host names, same-origin writes, framing.

- **Host**: only loopback names, plus the names given with ``--allow-host``, are served, so a
  DNS-rebinding page (a hostile name resolving to this machine) gets a 400. Werkzeug's own
  ``TRUSTED_HOSTS`` cannot match an IPv6 literal (``[::1]:8080``), hence the check here.
- **Writes** (every method but GET/HEAD/OPTIONS) must prove they come from the app's own pages:
  ``Sec-Fetch-Site``, ``Origin`` and ``Referer`` are checked, each one present must say
  same-origin (``Sec-Fetch-Site: none``, a user's own navigation, counts), and at least one must
  be present. A request a browser can only send cross-origin
  after a CORS preflight (PATCH, DELETE, PUT, or a JSON body) needs no such header, since the
  app never answers a preflight with CORS permissions: scripts and curl write through the JSON
  API (``Content-Type: application/json``); the HTML forms are for browsers.
- **Framing** is refused (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``): a framed
  page's own forms would pass the origin check (clickjacking of verdicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, request
from werkzeug.datastructures import Headers

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: methods a browser never sends cross-origin without a CORS preflight
PREFLIGHTED_METHODS = ("PATCH", "DELETE", "PUT")

HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def host_name(host: str) -> str:
    """The name part of a ``Host`` header, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def allowed_host_names(extra: Iterable[str] | None) -> frozenset[str]:
    """Loopback names plus ``extra`` (names or addresses, with or without port/brackets)."""
    return frozenset(LOOPBACK_NAMES) | {host_name(h) for h in extra or () if h.strip()}


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/...``), else None: no open redirect.

    Browsers read ``\\`` as ``/``, so ``/\\evil.com`` is refused like ``//evil.com``.
    """
    if not target or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return None
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _same_host(url: str, host: str) -> bool:
    return url != "null" and urlsplit(url).netloc.lower() == host.lower()


def cross_origin_reason(
    method: str, headers: Headers | Mapping[str, str], host: str, mimetype: str
) -> str | None:
    """Why a request may have come from another site's page, or None when it cannot have."""
    if method in SAFE_METHODS:
        return None
    fetch_site = headers.get("Sec-Fetch-Site")
    origin = headers.get("Origin")
    referer = headers.get("Referer")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"cross-origin request refused (Sec-Fetch-Site: {fetch_site})"
    if origin is not None and not _same_host(origin, host):
        return "cross-origin request refused (Origin)"
    if referer is not None and not _same_host(referer, host):
        return "cross-origin request refused (Referer)"
    if fetch_site or origin or referer:
        return None
    if method in PREFLIGHTED_METHODS or mimetype == "application/json":
        return None
    return (
        "a write needs same-origin proof (Origin, Referer or Sec-Fetch-Site, as browsers send); "
        "scripts use the JSON API with Content-Type: application/json"
    )


def init_app(app: Flask, allowed_hosts: Iterable[str] | None = None) -> None:
    """Install the Host check, the same-origin check on writes and the anti-framing headers."""
    names = allowed_host_names(allowed_hosts)
    app.config["ALLOWED_HOSTS"] = sorted(names)

    @app.before_request
    def check_request() -> None:
        if host_name(request.host) not in names:
            abort(400, f"untrusted Host {request.host!r} (start with --allow-host to serve it)")
        reason = cross_origin_reason(
            request.method, request.headers, request.host, request.mimetype
        )
        if reason is not None:
            abort(403, reason)

    @app.after_request
    def protect(response: Any) -> Any:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
