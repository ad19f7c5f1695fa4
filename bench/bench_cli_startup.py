"""Issue 14 benchmark: ``oob-helper token`` start-up against ``python -c "import httpx"``.

A cron job or a plugin shell runs ``oob-helper token --install NAME`` once per job, so the
whole process (interpreter start, imports, one SQLite read, printing the token) is its cost.
The install is connected and its token valid, so nothing is sent. The baseline is the
interpreter importing httpx alone, the least any HTTP client in Python pays. The two commands
alternate, one run each per round, so both see the same moments of the machine's load; the
figures are medians of wall time. Target: at most 1.3 times the baseline.

    .venv/bin/python -m bench.bench_cli_startup [--runs 40] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._harness import compile_packages, median
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

TARGET = 1.3
INSTALL = "cron.bench"


def _wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - started


def main() -> None:
    """Print both medians, their ratio and whether it meets the target."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40, help="runs of each command (default 40)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 6 runs each")
    args = parser.parse_args()
    runs = 6 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'tokens.db'}"
        store = open_store(store_url, encryption_keys=[])
        now = time.time()
        token = Token(access_token="bench-access", refresh_token="r", expires_at=now + 86400, obtained_at=now)
        store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)
        store.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
        env.update(
            XDG_CONFIG_HOME=str(Path(tmp) / "config"), OOB_HELPER_STORE=store_url, OOB_HELPER_CLIENT_ID="cron"
        )
        ours_cmd = [sys.executable, "-m", "oob_helper", "token", "--install", INSTALL]
        base_cmd = [sys.executable, "-c", "import httpx"]
        _wall(ours_cmd, env), _wall(base_cmd, env)  # warm the page cache and .pyc files
        ours, base = [], []
        for i in range(runs):
            pair = [(ours, ours_cmd), (base, base_cmd)]
            for into, cmd in pair if i % 2 == 0 else reversed(pair):
                into.append(_wall(cmd, env))
    ratio = median(ours) / median(base)
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"oob-helper token (valid token, SQLite): {median(ours) * 1000:.0f} ms median of {runs}")
    print(f'python -c "import httpx":               {median(base) * 1000:.0f} ms median of {runs}')
    print(f"ratio {ratio:.2f} ({verdict} the target {TARGET})")


if __name__ == "__main__":
    main()
