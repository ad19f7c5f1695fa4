"""Issue 2 benchmark: the mock's token endpoint (refresh grant) against a bare Starlette endpoint.

Both run under uvicorn with uvloop and httptools, one worker, on loopback, loaded by wrk with
the same request; the runs alternate and the ratio of median requests per second is printed.
Then the mock alone follows rotation chains for 100,000 refreshes (access tokens living 2 s)
while its resident memory is sampled: it must stay flat because dead tokens are purged.

    .venv/bin/python -m bench.bench_token_endpoint [--seconds 3] [--rounds 9] [--tokens 100000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
from pathlib import Path

import httpx

from bench._harness import median, require_wrk, rss_kib, run_wrk, uvicorn_server

HERE = Path(__file__).resolve().parent
CLIENT_ID, CLIENT_SECRET = "bench-confidential", "bench-secret"
REDIRECT = "urn:ietf:wg:oauth:2.0:oob"


def _refresh_tokens(base: str, n: int, *, keep_old: bool) -> list[str]:
    """Register the bench client, authorize it ``n`` times headlessly, return the refresh tokens.

    Without ``keep_old`` the old refresh token dies on each refresh, but a short grace window
    lets a chain recover when wrk ends a segment with an answer in flight.
    """
    with httpx.Client(base_url=base, timeout=10) as http:
        policy = {"keep_old_refresh_token": True} if keep_old else {"grace_seconds": 5}
        body = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [REDIRECT],
            "name": "bench",
            "refresh_policy": policy,
        }
        http.post("/_mock/clients", json=body).raise_for_status()
        tokens = []
        for _ in range(n):
            approve = {
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "account.read",
                "state": "bench",
                "username": "demo",
            }
            code = http.post("/_mock/approve", json=approve).raise_for_status().json()["code"]
            token = (
                http.post(
                    "/oauth2/token",
                    auth=(CLIENT_ID, CLIENT_SECRET),
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT,
                    },
                )
                .raise_for_status()
                .json()
            )
            tokens.append(token["refresh_token"])
        return tokens


def _basic() -> str:
    return base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def throughput(seconds: float, rounds: int) -> dict[str, float]:
    """Alternate wrk runs against the mock and the bare endpoint; median of per-round ratios.

    Each round measures both, the order swapping every round, so slow drifts in the machine's
    load hit both sides of a ratio alike.
    """
    script = HERE / "token_refresh.lua"
    mock_rps: list[float] = []
    bare_rps: list[float] = []
    errors = 0
    with (
        uvicorn_server("bench.apps:mock_app", cpu=0) as (mock_url, _),
        uvicorn_server("bench.apps:bare_app", cpu=0) as (bare_url, _),
    ):
        (rt,) = _refresh_tokens(mock_url, 1, keep_old=True)
        env = {"BENCH_BASIC": _basic(), "BENCH_RT": rt}
        for url in (mock_url, bare_url):  # warm-up, not counted
            run_wrk(url, script, threads=1, connections=32, seconds=2, env=env, cpu=1)
        for index in range(rounds):
            pair = [(mock_url, mock_rps), (bare_url, bare_rps)]
            for url, sink in pair if index % 2 == 0 else pair[::-1]:
                result = run_wrk(url, script, threads=1, connections=32, seconds=seconds, env=env, cpu=1)
                sink.append(result.requests_per_second)
                errors += result.non_2xx + result.socket_errors
    ratios = sorted(m / b for m, b in zip(mock_rps, bare_rps, strict=True))
    ratio = median(ratios)
    print(
        f"token endpoint (refresh grant): mock {median(mock_rps):,.0f} req/s, "
        f"bare Starlette {median(bare_rps):,.0f} req/s, ratio {ratio:.2f} "
        f"(per-round {ratios[0]:.2f}-{ratios[-1]:.2f}; target >= 0.80), errors {errors}"
    )
    return {"mock_rps": median(mock_rps), "bare_rps": median(bare_rps), "ratio": ratio, "errors": errors}


def memory(total_tokens: int, segment_seconds: int = 4) -> dict[str, float]:
    """Follow two rotation chains for ``total_tokens`` refreshes; sample the mock's RSS.

    wrk runs in short segments (it waits out its whole duration even when every thread has
    stopped); each segment continues the chains where the last one left them.
    """
    script = HERE / "token_chain.lua"
    config = json.dumps({"access_token_ttl": 2})
    samples: list[tuple[int, int]] = []  # (refreshes so far, RSS KiB)
    issued = chain_errors = 0
    with uvicorn_server("bench.apps:mock_app", env={"BENCH_MOCK_CONFIG": config}) as (url, pid):
        tokens = _refresh_tokens(url, 2, keep_old=False)
        while issued < total_tokens and not chain_errors:
            env = {"BENCH_BASIC": _basic(), "BENCH_RTS": ",".join(tokens)}
            out = subprocess.run(
                [require_wrk(), "-t", "2", "-c", "2", "-d", f"{segment_seconds}s", "-s", str(script), url],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **env},
                timeout=segment_seconds + 60,
            ).stdout
            chains = [line.split() for line in out.splitlines() if line.startswith("chain ")]
            tokens = [chain[1] for chain in chains]
            chain_errors += sum(int(chain[2]) for chain in chains)
            issued += int(out.split(" requests in")[0].split()[-1])
            samples.append((issued, rss_kib(pid)))
        live = len(httpx.get(f"{url}/_mock/state").json().get("tokens", []))
    quarter = max(1, len(samples) // 4)
    first = median([kib for _, kib in samples[:quarter]])
    last = median([kib for _, kib in samples[-quarter:]])
    print(
        f"memory over {issued:,} refreshes: RSS {first / 1024:.1f} MiB in the first quarter, "
        f"{last / 1024:.1f} MiB in the last, growth ratio {last / first:.2f} (flat ~ 1.0); "
        f"live tokens at the end {live}; chain errors {chain_errors}"
    )
    return {
        "issued": issued,
        "rss_first_mib": first / 1024,
        "rss_last_mib": last / 1024,
        "growth": last / first,
        "chain_errors": chain_errors,
    }


def main() -> None:
    """Run both parts and print their ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=100_000)
    args = parser.parse_args()
    throughput(args.seconds, args.rounds)
    memory(args.tokens)


if __name__ == "__main__":
    main()
