"""Issue 3 benchmark (b): ``oob-helper refresh --all`` over 1,000 and 10,000 installs.

The mock runs under uvicorn (uvloop, httptools, one worker) on loopback. Its token endpoint's
own throughput for the same refresh grant is measured with wrk in the same run, then the real
console script refreshes every install of a SQLite store seeded with 1,000 and with 10,000
connected installs. Printed: the 10k/1k time ratio (target <= 11) and the 10k run's refreshes
per second over the mock's own requests per second (target >= 0.7).

Every install is its own grant (one headless approval and code exchange each, at set-up) under
AWeber's rotation policy, so each refresh rotates a real refresh token that the CLI must store.
wrk's baseline replays one refresh token of a client that keeps old tokens valid: the same
request and the same work at the mock (issuing a new pair) without rotation bookkeeping.

    .venv/bin/python -m bench.bench_refresh_all [--concurrency 16] [--rounds 2] [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench._harness import ROOT, median, run_wrk, uvicorn_server
from bench.bench_token_endpoint import HERE, _basic, _refresh_tokens
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

SCRIPT = str(ROOT / ".venv" / "bin" / "oob-helper")


CLI_CLIENT_ID, CLI_CLIENT_SECRET = "bench-cli", "bench-cli-secret"
REDIRECT = "urn:ietf:wg:oauth:2.0:oob"


def _grant(http: httpx.Client) -> dict[str, Any]:
    """One headless approval and code exchange: a grant of its own, AWeber's rotation policy."""
    approve = {
        "client_id": CLI_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "account.read",
        "state": "bench",
        "username": "demo",
    }
    code = http.post("/_mock/approve", json=approve).raise_for_status().json()["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    answer: dict[str, Any] = (
        http.post("/oauth2/token", auth=(CLI_CLIENT_ID, CLI_CLIENT_SECRET), data=data)
        .raise_for_status()
        .json()
    )
    return answer


def seed(mock_url: str, store_url: str, count: int) -> None:
    """``count`` connected installs, each with its own grant at the mock."""
    now = time.time()
    with httpx.Client(base_url=mock_url, timeout=30) as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _grant(http), range(count)))
    store = open_store(store_url)
    try:
        for i, answer in enumerate(answers):
            token = Token(
                access_token=answer["access_token"],
                refresh_token=answer["refresh_token"],
                expires_at=now + float(answer["expires_in"]),
                scopes=("account.read",),
                obtained_at=now,
            )
            record = InstallRecord(
                install=f"site{i:05d}.example",
                token=token,
                state="connected",
                state_changed_at=now,
                account_id="1",
                account_name="Bench",
            )
            store.put(record, expected_version=None)
    finally:
        store.close()


CPU_SECONDS: dict[int, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def refresh_all(env: dict[str, str], store_url: str, concurrency: int, expected: int) -> float:
    """Wall time of one ``oob-helper refresh --all`` (process start to exit); CPU kept aside."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [SCRIPT, "refresh", "--all", "--concurrency", str(concurrency)],
        env={**env, "OOB_HELPER_STORE": store_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    CPU_SECONDS.setdefault(expected, []).append(_children_cpu() - cpu_before)
    want = f"refreshed {expected}, skipped 0, reauthorization required 0, failed 0"
    if result.returncode != 0 or not result.stdout.startswith(want):
        raise SystemExit(
            f"refresh --all failed ({result.returncode}): {result.stdout}{result.stderr[-2000:]}"
        )
    return elapsed


def main() -> None:
    """Seed the stores, measure the mock alone, then the CLI; print the ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--wrk-seconds", type=int, default=5)
    args = parser.parse_args()
    small, large = args.sizes

    with tempfile.TemporaryDirectory() as tmp, uvicorn_server("bench.apps:mock_app") as (mock_url, _):
        (rt,) = _refresh_tokens(mock_url, 1, keep_old=True)  # for wrk: one token, reusable
        httpx.post(
            f"{mock_url}/_mock/clients",
            json={
                "client_id": CLI_CLIENT_ID,
                "client_secret": CLI_CLIENT_SECRET,
                "redirect_uris": [REDIRECT],
                "name": "bench CLI",
            },
        ).raise_for_status()
        urls = {n: f"sqlite:///{Path(tmp) / f'store-{n}.db'}" for n in (small, large)}
        for n, url in urls.items():
            started = time.perf_counter()
            seed(mock_url, url, n)
            print(f"seeded {n:,} installs in {time.perf_counter() - started:.1f}s")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")},
            "OOB_HELPER_AUTH_BASE": mock_url,
            "OOB_HELPER_API_BASE": f"{mock_url}/1.0",
            "OOB_HELPER_CLIENT_ID": CLI_CLIENT_ID,
            "OOB_HELPER_CLIENT_SECRET": CLI_CLIENT_SECRET,
        }
        wrk_env = {"BENCH_BASIC": _basic(), "BENCH_RT": rt}
        script = HERE / "token_refresh.lua"
        run_wrk(mock_url, script, threads=1, connections=32, seconds=2, env=wrk_env)  # warm-up
        refresh_all(env, urls[small], args.concurrency, small)  # warm-up (imports, page cache)

        mock_rps: list[float] = []
        times: dict[int, list[float]] = {small: [], large: []}
        for _ in range(args.rounds):
            wrk = run_wrk(mock_url, script, threads=1, connections=32, seconds=args.wrk_seconds, env=wrk_env)
            mock_rps.append(wrk.requests_per_second)
            for n in (small, large):
                times[n].append(refresh_all(env, urls[n], args.concurrency, n))

    t_small, t_large = median(times[small]), median(times[large])
    cli_rps = large / t_large
    scale = t_large / t_small
    reach = cli_rps / median(mock_rps)
    print(
        f"refresh --all (concurrency {args.concurrency}, SQLite store, {args.rounds} rounds, medians): "
        f"{small:,} installs {t_small:.2f}s, {large:,} installs {t_large:.2f}s"
    )
    print(f"  time ratio {large:,}/{small:,}: {scale:.2f} (target <= 11); rounds: {times}")
    print(
        f"  throughput: CLI {cli_rps:,.0f} refreshes/s, mock token endpoint alone "
        f"{median(mock_rps):,.0f} req/s (wrk, 32 connections), ratio {reach:.2f} (target >= 0.70)"
    )
    cpu_ms = 1000 * median(CPU_SECONDS[large]) / large
    print(
        f"  CLI process CPU per refresh ({large:,} run): {cpu_ms:.2f} ms, so one core caps it near "
        f"{1000 / cpu_ms:,.0f} refreshes/s"
    )
    print(f"  load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
