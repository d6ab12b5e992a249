"""Fixtures for the tests that need a real HTCondor pool (tests/condor/pool.sh).

The session fixture ``condor_pool`` starts the pool (building its chroot the first time) and
stops it at the end, whatever happened. It skips, saying why, when the pool cannot be had
here: not root, ``PLTANOMALY_SKIP_CONDOR=1``, no debootstrap and no apt-get to install it,
or the chroot cannot be built (no Debian mirror reachable). A pool that builds but does not
start is a failure, not a skip. A pool that was already running when the session began is
used and left running: whoever started it stops it (``tests/condor/pool.sh stop``).

Jobs see the host's files through bind mounts of the repository (and /work), so every work
folder of these tests lies under ``tests/condor/.cache/runs/`` in the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from condor_helpers import POOL_SH, RUNS, Pool, write_profile  # noqa: E402


def _pool_env() -> dict[str, str]:
    env = dict(os.environ)
    # jobs run this interpreter (the plugin submits sys.executable): bind its prefixes
    env.setdefault("PLTANOMALY_PYTHON", sys.executable)
    return env


def _run_pool(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(POOL_SH), command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _skip(reason: str) -> None:
    print(f"\ncondor tests skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def condor_pool() -> Iterator[Pool]:
    if os.environ.get("PLTANOMALY_SKIP_CONDOR") == "1":
        _skip("PLTANOMALY_SKIP_CONDOR=1")
    if not sys.platform.startswith("linux"):
        _skip("the test pool needs Linux (chroot, user namespaces, bind mounts)")
    if os.geteuid() != 0:
        _skip("the test pool needs root (debootstrap, chroot and bind mounts)")
    cached = (
        Path(os.environ.get("PLTANOMALY_CONDOR_ROOT", HERE / ".cache"))
        / "rootfs"
        / ".pltanomaly-ready"
    )
    if not cached.exists() and not (shutil.which("debootstrap") or shutil.which("apt-get")):
        _skip("no debootstrap, and no apt-get to install it")

    env = _pool_env()
    build = _run_pool("build", env, timeout=900)
    if build.returncode != 0:
        _skip(
            f"cannot build the condor chroot (no Debian mirror reachable?): {build.stderr[-800:]}"
        )

    status = _run_pool("status", env, timeout=60)
    already_running = "master: running" in status.stdout
    start = _run_pool("start", env, timeout=300)
    if start.returncode != 0:
        _run_pool("stop", env, timeout=120)
        pytest.fail(f"the condor test pool did not start:\n{start.stderr}", pytrace=False)
    match = re.search(r"^export CONDOR_CONFIG=(\S+)$", start.stdout, re.MULTILINE)
    assert match, start.stdout
    env["CONDOR_CONFIG"] = match.group(1)
    print(f"\n{start.stderr.strip()}", file=sys.stderr)
    try:
        yield Pool(condor_config=Path(match.group(1)), env=env)
    finally:
        if not already_running:
            stop = _run_pool("stop", env, timeout=120)
            if stop.returncode != 0:
                print(f"pool.sh stop failed:\n{stop.stderr}", file=sys.stderr)


@pytest.fixture
def condor_workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """An empty folder visible to the pool's jobs; kept if the test fails (for its logs)."""
    RUNS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"\W+", "-", request.node.name)[:60]
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=RUNS))
    yield path
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.passed:
        shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@pytest.fixture
def condor_profile(condor_workdir: Path) -> Path:
    return write_profile(condor_workdir)
