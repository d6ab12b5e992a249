"""The workflow config's ``dt`` block: which DQM GUI, which runs, which client certificate.

```yaml
dt:
  dqmgui: https://cmsweb.cern.ch
  runs: [355100, "355200-355300"]   # run numbers, or "first-last" ranges (inclusive)
  cert: ~/.globus/usercert.pem      # required for https://, optional for http://
  key: ~/.globus/userkey.pem        # unencrypted (or a grid proxy file as both cert and key)
  ca: /etc/grid-security/certificates   # optional: the CAs to trust (default: certifi's)
  detector: {spreads: 5.0}          # optional: the detector's settings
```

Passwords never go in the config: a ``password``-like key is rejected, wherever it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pltanomaly.core.errors import InputError

KEYS = ("dqmgui", "runs", "cert", "key", "ca", "detector")
"""The block's keys; ``detector`` holds the detector's settings (:mod:`pltanomaly.chambers.job`)."""
SECRET_RE = re.compile(r"pass|secret|token|pwd", re.IGNORECASE)
RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
MAX_RANGE = 100_000
"""The longest run range accepted (a typo like ``355100-3552000`` would mean millions)."""


@dataclass(frozen=True)
class DqmSource:
    """Where and how to fetch DT occupancy: the GUI's base URL, the runs, the certificate."""

    base_url: str
    runs: tuple[int, ...]
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @classmethod
    def checked(
        cls,
        base_url: Any,
        runs: Iterable[Any],
        cert: Any = None,
        key: Any = None,
        ca: Any = None,
        *,
        where: str = "dt",
    ) -> DqmSource:
        """A validated source; ``InputError`` naming the config key ``where`` otherwise."""
        url = _base_url(base_url, where)
        cert_path, key_path, ca_path = (
            _path(value, f"{where}.{name}")
            for value, name in ((cert, "cert"), (key, "key"), (ca, "ca"))
        )
        if (cert_path is None) != (key_path is None):
            raise InputError(f"{where}: give both 'cert' and 'key', or neither")
        if url.startswith("https://") and cert_path is None:
            raise InputError(f"{where}: {url} is https: give 'cert' and 'key' (grid certificate)")
        return cls(url, parse_runs(runs, f"{where}.runs"), cert_path, key_path, ca_path)


def dqm_source(config: Mapping[str, Any]) -> DqmSource:
    """The ``dt`` block of a workflow config as a :class:`DqmSource`."""
    block = config.get("dt")
    if not isinstance(block, Mapping):
        raise InputError("dt: missing, or not a mapping")
    _reject_secrets(block, "dt")
    unknown = sorted(set(block) - set(KEYS))
    if unknown:
        raise InputError(f"dt: unknown keys {unknown} (known: {list(KEYS)})")
    if "dqmgui" not in block or "runs" not in block:
        raise InputError("dt: 'dqmgui' and 'runs' are required")
    runs = block["runs"]
    if not isinstance(runs, list):
        raise InputError(f"dt.runs: {runs!r} is not a list")
    return DqmSource.checked(
        block["dqmgui"], runs, block.get("cert"), block.get("key"), block.get("ca")
    )


def parse_runs(items: Iterable[Any], where: str = "runs") -> tuple[int, ...]:
    """Run numbers from ints and ``"first-last"`` ranges: sorted, without repeats."""
    runs: set[int] = set()
    for item in items:
        if type(item) is int:
            first = last = item
        elif isinstance(item, str) and item.strip().isdigit():
            first = last = int(item)
        elif isinstance(item, str) and (match := RANGE_RE.match(item)):
            first, last = int(match[1]), int(match[2])
        else:
            raise InputError(f"{where}: {item!r} is neither a run number nor 'first-last'")
        if first < 1 or last < first:
            raise InputError(f"{where}: {item!r} is not a range of positive run numbers")
        if last - first >= MAX_RANGE:
            raise InputError(f"{where}: {item!r} spans over {MAX_RANGE} runs")
        runs.update(range(first, last + 1))
    if not runs:
        raise InputError(f"{where}: no runs")
    return tuple(sorted(runs))


def _base_url(value: Any, where: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{where}.dqmgui: {value!r} is not an http(s):// URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(f"{where}.dqmgui: {value!r}: no user, password, query or fragment")
    return value.rstrip("/")


def _path(value: Any, where: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise InputError(f"{where}: {value!r} is not a file path")
    return Path(value).expanduser()


def _reject_secrets(block: Any, where: str) -> None:
    """Raise if any key, at any depth, looks like it holds a password."""
    if isinstance(block, Mapping):
        for name, value in block.items():
            if SECRET_RE.search(str(name)):
                raise InputError(
                    f"{where}.{name}: no passwords in the config; use an unencrypted key file "
                    "or a grid proxy (voms-proxy-init) as cert and key"
                )
            _reject_secrets(value, f"{where}.{name}")
    elif isinstance(block, list):
        for i, value in enumerate(block):
            _reject_secrets(value, f"{where}[{i}]")
