"""DT fetch against the server floor, side by side: is a run's fetch bounded by the GUI?

Serves one generated run (250 chambers) from the loopback DQM GUI stand-in
(tests/chambers/dqmgui_server.py) in a separate process, so server and client do not share a
GIL, then times, best of ``--repeat``:

- raw: the same 250 GETs with the same number of threads and a plain ``requests`` session,
  bodies read and thrown away (the server's and the network's share);
- ``fetch_run``: the same GETs with retries, every answer parsed and validated;
- our part alone, in this process: parsing the 250 bodies, and building + writing the Parquet.

``--latency`` makes the server wait that long before each answer (the real GUI takes
0.1-1 s an answer). Goal: ``fetch_run`` within 1.2x of raw, parsing a small share of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

HELPERS = Path(__file__).resolve().parents[1] / "tests" / "chambers"
RUN = 355100

SERVER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from dqmgui_server import DqmGuiServer, generate_run
with DqmGuiServer({int(sys.argv[2]): generate_run(1)}, latency=float(sys.argv[3]),
                  max_requests=10**7, lifetime=3600) as gui:
    print(gui.base_url, flush=True)
    sys.stdin.read()
"""


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="server seconds per answer")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pltanomaly.chambers.dqmgui import parse_answer
    from pltanomaly.chambers.fetch import chamber_url, fetch_run, write_run
    from pltanomaly.chambers.geometry import CHAMBERS

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(HELPERS), str(RUN), str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        urls = [chamber_url(base_url, RUN, chamber) for chamber in CHAMBERS]
        bodies: list[bytes] = []

        def raw() -> None:
            with requests.Session() as session:
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=args.workers)
                session.mount("http://", adapter)
                with ThreadPoolExecutor(args.workers) as pool:
                    bodies[:] = pool.map(lambda url: session.get(url, timeout=30).content, urls)

        def fetch() -> None:
            result = fetch_run(RUN, base_url, workers=args.workers)
            assert result.status == "finished", result.reason

        def parse() -> None:
            for chamber, url, body in zip(CHAMBERS, urls, bodies, strict=True):
                parse_answer(body, chamber, url)

        raw()
        result = fetch_run(RUN, base_url, workers=args.workers)
        raw_s = best(args.repeat, raw)
        fetch_s = best(args.repeat, fetch)
        parse_s = best(args.repeat, parse)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            write_s = best(
                args.repeat, lambda: write_run(result, out / "r.parquet", out / "r.json")
            )
            size = (out / "r.parquet").stat().st_size
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)

    megabytes = sum(len(b) for b in bodies) / 1e6
    print(
        f"250 chambers, {megabytes:.1f} MB of JSON, {args.workers} threads, "
        f"server latency {args.latency} s"
    )
    print(f"raw GETs (server floor)      {raw_s:7.3f} s")
    print(f"fetch_run (GET + validate)   {fetch_s:7.3f} s   {fetch_s / raw_s:5.2f}x raw")
    print(f"  parsing alone, 1 thread    {parse_s:7.3f} s   {parse_s / fetch_s:5.1%} of fetch_run")
    print(f"write Parquet + record       {write_s:7.3f} s   ({size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
