"""Issue 13 benchmark: a page of the fleet view with 100,000 installs against 1,000.

Two fleet pages (``oob_helper.web.fleet.fleet_app``, default page size 50) run side by side
under uvicorn (uvloop, httptools, one worker), each over its own SQLite store holding N
installs in mixed states (every 13th needs reauthorization), N = 1,000 and 100,000. One client
asks each in turn for the same kinds of page: the first page, a page deep in the fleet (keyset:
``after=`` an install in the middle), and the first page of the "reauthorization required"
filter. Every answer is checked (200, 50 rows). Printed: the median time per page of each and
the ratio 100k/1k (target <= 1.5: keyset paging does not read the installs before the page).

    .venv/bin/python -m bench.bench_fleet [--requests 200] [--large 100000] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench._harness import compile_packages, median, uvicorn_server
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

TARGET = 1.5
NOW = time.time()


def _record(i: int) -> InstallRecord:
    token = Token(access_token=f"AT-{i}", refresh_token=f"RT-{i}", expires_at=NOW + 3600, obtained_at=NOW)
    name = f"shop{i:06d}.example"
    if i % 13 == 0:
        return InstallRecord(
            install=name, token=token, state="reauthorization_required", reason="revoked", version=1
        )
    return InstallRecord(install=name, token=token, state="connected", account_name=f"Shop {i}", version=1)


def seed(path: Path, count: int) -> str:
    """A SQLite store of ``count`` installs; returns its URL."""
    url = f"sqlite:///{path}"
    store = open_store(url, encryption_keys=())
    store.import_records(_record(i) for i in range(1, count + 1))  # type: ignore[attr-defined]
    store.close()
    return url


def main() -> None:
    """Seed both stores, alternate page requests, print the medians and the ratio."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per server")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 installs, 20 requests")
    args = parser.parse_args()
    if args.quick:
        args.large, args.requests = 10_000, 20
    sizes = (args.small, args.large)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        started = time.perf_counter()
        urls = {n: seed(Path(tmp) / f"fleet-{n}.db", n) for n in sizes}
        print(f"seeded {args.small:,} and {args.large:,} installs in {time.perf_counter() - started:.1f}s")
        with (
            uvicorn_server("bench.apps:fleet_app", env={"BENCH_FLEET_STORE": urls[sizes[0]]}) as (small, _),
            uvicorn_server("bench.apps:fleet_app", env={"BENCH_FLEET_STORE": urls[sizes[1]]}) as (large, _),
            httpx.Client(timeout=30) as http,
        ):
            bases = {sizes[0]: small, sizes[1]: large}
            kinds: dict[str, Callable[[int], dict[str, str]]] = {
                "first page": lambda n: {},
                "deep page": lambda n: {"after": f"shop{n // 2:06d}.example"},
                "reauthorization filter": lambda n: {"state": "reauthorization_required"},
            }
            times: dict[tuple[str, int], list[float]] = {(k, n): [] for k in kinds for n in sizes}
            for j in range(args.requests + 5):  # the first 5 warm up
                for kind, params in kinds.items():
                    order = sizes if j % 2 == 0 else sizes[::-1]
                    for n in order:
                        t0 = time.perf_counter()
                        answer = http.get(bases[n] + "/", params=params(n))
                        elapsed = time.perf_counter() - t0
                        if answer.status_code != 200 or answer.text.count("<tr class=") != 50:
                            raise SystemExit(f"{kind} of {n}: HTTP {answer.status_code}, unexpected page")
                        if j >= 5:
                            times[(kind, n)].append(elapsed)
    print(f"fleet page (50 rows), median of {args.requests} requests each, alternating:")
    worst = 0.0
    for kind in kinds:
        a, b = median(times[(kind, sizes[0])]), median(times[(kind, sizes[1])])
        worst = max(worst, b / a)
        small_ms, large_ms = f"{a * 1000:6.2f} ms", f"{b * 1000:6.2f} ms"
        print(f"  {kind:24s} {sizes[0]:>7,}: {small_ms}  {sizes[1]:>7,}: {large_ms}  ratio {b / a:.2f}")
    verdict = "meets" if worst <= TARGET else "misses"
    print(f"  worst ratio {worst:.2f} ({verdict} the target <= {TARGET})")


if __name__ == "__main__":
    main()
