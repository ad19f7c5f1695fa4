"""Issue 5 benchmark: ``oob-helper migrate-store`` moving 10,000 installs between backends.

For each ordered pair of the persistent backends (sqlite, redis, postgresql; ``memory://`` lives
in one process, so the command cannot read or write it) the real console script copies every
install from a source filled with ``--installs`` connected installs (bench_stores' bulk path) into
a fresh, empty target, which then reads every record back and compares it. Printed: wall time
per pair (process start to exit, ``--rounds`` runs, median), installs per second, and as the
baseline the same process doing the same with no installs (start-up, imports, opening both
stores), so the ratio shows what the per-record work costs. Correctness is tested in tests/.

    .venv/bin/python -m bench.bench_migrate [--installs 10000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench._harness import ROOT, compile_packages, median
from bench.bench_stores import bulk_write, fresh_url, make_records, server_urls
from oob_helper.stores import open_store

SCRIPT = str(ROOT / ".venv" / "bin" / "oob-helper")
PERSISTENT = ("sqlite", "redis", "postgresql")


def migrate(source: str, target: str, expected: int) -> float:
    """Wall seconds of one ``oob-helper migrate-store`` run; exits on failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    started = time.perf_counter()
    result = subprocess.run(
        [SCRIPT, "migrate-store", "--from", source, "--to", target],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"migrate-store failed ({result.returncode}): {result.stdout}{result.stderr[-2000:]}"
        )
    store = open_store(target, encryption_keys=())
    try:
        count = len(store.list_installs())
    finally:
        store.close()
    if count != expected:
        raise SystemExit(f"migrate-store left {count} installs in {target}, expected {expected}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    """Fill one source per backend, migrate between every pair, print times and ratios."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--installs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    records = make_records(args.installs, time.time())
    times: dict[tuple[str, str], list[float]] = {}
    empty: dict[tuple[str, str], list[float]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, server_urls(PERSISTENT) as bases:
        directory = Path(tmp)
        sources: dict[str, str] = {}
        empties: dict[str, str] = {}
        for name in PERSISTENT:
            sources[name] = fresh_url(name, directory, bases)
            empties[name] = fresh_url(name, directory, bases)
            for url, rows in ((sources[name], records), (empties[name], [])):
                store = open_store(url, encryption_keys=())  # creates the schema
                try:
                    bulk_write(store, url, rows)
                finally:
                    store.close()
        pairs = [(a, b) for a in PERSISTENT for b in PERSISTENT if a != b]
        for _ in range(args.rounds):
            for pair in pairs:
                source, target = pair
                empty.setdefault(pair, []).append(
                    migrate(empties[source], fresh_url(target, directory, bases), 0)
                )
                times.setdefault(pair, []).append(
                    migrate(sources[source], fresh_url(target, directory, bases), len(records))
                )
    load = (load_before + os.getloadavg()[0]) / 2
    print(
        f"oob-helper migrate-store, {len(records):,} installs, {args.rounds} run(s) per pair (median); "
        f"baseline: the same command with an empty source; load average ~{load:.1f} on {os.cpu_count()} cores"
    )
    print(f"  {'from -> to':24s} {'seconds':>8s} {'installs/s':>10s} {'empty s':>8s} {'ratio':>6s}")
    for pair, runs in times.items():
        t, e = median(runs), median(empty[pair])
        print(f"  {pair[0] + ' -> ' + pair[1]:24s} {t:8.1f} {len(records) / t:10.0f} {e:8.2f} {t / e:6.1f}")


if __name__ == "__main__":
    main()
