"""One place for the numba options of every kernel (after scikit-hep's numba-stats).

The on-disk cache must work on batch workers whose home is read-only or shared (AFS), so
the cache folder is chosen before numba is imported: ``PLTANOMALY_NUMBA_CACHE`` if set,
else ``NUMBA_CACHE_DIR`` if set, else ``~/.cache/pltanomaly/numba`` when writable, else a
per-user folder under the system temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def numba_cache_dir() -> Path:
    """The folder numba caches compiled kernels in (created if needed)."""
    for name in ("PLTANOMALY_NUMBA_CACHE", "NUMBA_CACHE_DIR"):
        value = os.environ.get(name)
        if value and _writable(Path(value)):
            return Path(value)
    home_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    candidate = home_cache / "pltanomaly" / "numba"
    if _writable(candidate):
        return candidate
    fallback = Path(tempfile.gettempdir()) / f"pltanomaly-numba-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())

import numba  # noqa: E402  (the cache folder must be set before numba reads its config)

numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # type: ignore[attr-defined]


def _load_array_math_without_blas_probe() -> None:
    """Load numba's array math without its BLAS probe, which imports ``scipy.linalg``.

    numba loads ``numba.np.arraymath`` with the first kernel, and that module imports
    ``scipy.linalg`` (0.3 s, holding the GIL, in every fill's job) only to learn whether
    ``np.vdot`` may call BLAS. No kernel here uses linear algebra, and without the probe
    ``np.vdot`` uses numba's own loop; ``np.dot`` and ``np.linalg`` still check for BLAS
    when compiled. When scipy's linear algebra is loaded already, or numba's layout is not
    the one expected, numba loads as usual.
    """
    import sys

    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        import numba.np.linalg as linalg

        probe = linalg.ensure_blas
    except (ImportError, AttributeError):
        return

    def no_blas() -> None:
        raise ImportError("the BLAS probe is skipped: pltanomaly's kernels use no BLAS")

    linalg.ensure_blas = no_blas
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        linalg.ensure_blas = probe


_load_array_math_without_blas_probe()


def _jit(*, parallel: bool = False) -> Callable[[F], F]:
    """Compile a kernel with the project's numba options (nopython, nogil, cached)."""

    def decorate(func: F) -> F:
        compiled = numba.njit(cache=True, nogil=True, parallel=parallel, error_model="numpy")(func)
        return compiled  # type: ignore[return-value]

    return decorate


prange = numba.prange


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by ``PLTANOMALY_THREADS`` or
    ``OMP_NUM_THREADS`` (HTCondor sets the latter to the slot's cores; numba would otherwise
    use every core of the worker node)."""
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    for name in ("PLTANOMALY_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return max(1, min(cores, int(value)))
    return max(1, cores)


@contextmanager
def kernel_threads(count: int) -> Iterator[None]:
    """Run the ``prange`` kernels inside on ``count`` threads (at least 1)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        yield
    finally:
        numba.set_num_threads(previous)
