"""Issues 3 and 14 benchmark: per-request cost of the helper's httpx auth against a fixed bearer header.

The mock runs under uvicorn (uvloop, httptools, one worker) with its rate limit off. One install
is connected through a headless approval and code exchange, and ``GET /1.0/accounts`` is sent
by three clients side by side, each keeping its connection alive (a second plain client runs
too, as an A/A control that shows how far noise alone moves a ratio):

- plain: an ``httpx.Client`` with a fixed ``Authorization: Bearer`` header (the limit);
- ours: ``OAuthHelper.client(install)``, the ``OAuthHelperAuth`` flow over a SQLite store; the
  refresh coordinator serves the install's valid token from its cache and reads the store again
  at most every ``cache_ttl`` (2 s);
- ours with the cache off (``cache_ttl=0``): a store read and decode per request,
  as before the cache, measured in the same run;
- Authlib: ``authlib.integrations.httpx_client.OAuth2Client`` holding the token in memory;
- ours over the memory store (not a target): splits ours' cost into coordinator and store;
- ours with a lifecycle-event subscriber and the OpenTelemetry metrics registered (issue 13:
  at most 1.15 times plain).

The clients take turns request by request (the order rotating), so all see the same moments of
the shared machine's load; the time per request is the median of all of a client's requests,
and the ratio to plain is also shown per round (its range shows the noise). Targets (issue 14):
ours at most 1.05 times plain with the cache (a stream of requests), and at most 1.10 with
the cache cold (``cache_ttl=0``; and one request after every 3 s of idle, longer than the 2 s
cache, so each finds it expired). One request per process (interpreter start, imports, the client, one GET)
is reported too: there start-up dominates and no cache helps. When ours misses the first (or
with ``--profile``), one block of ours runs under cProfile and the top entries are printed.
The auth flow's own cost per request (no network: the cache look-up or store read, and the
header) is printed too.

    .venv/bin/python -m bench.bench_auth_overhead [--requests 600] [--rounds 5] [--profile]
        [--sparse 20] [--gap 3] [--processes 20] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

from bench._harness import compile_packages, median, uvicorn_server
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.metrics import instrument
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

CLIENT_ID, CLIENT_SECRET = "bench-auth", "bench-auth-secret"
REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
INSTALL = "blog.bench"
TARGET = 1.05  # with the token cache (issue 14; issue 3 asked 1.15)
COLD_TARGET = 1.10  # cache_ttl=0: a store read and decode per request
EVENTS_TARGET = 1.15  # issue 13: with a subscriber and the metrics registered
NO_RATE_LIMIT = {"BENCH_MOCK_CONFIG": json.dumps({"rate_limit_enabled": False})}


def register_client(mock_url: str, client_id: str, secret: str, *, keep_old: bool = False) -> None:
    """Register a confidential out-of-band client at the mock (``keep_old``: reusable refresh tokens)."""
    body = {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [REDIRECT],
        "name": "bench",
        "refresh_policy": {"keep_old_refresh_token": True} if keep_old else None,
    }
    httpx.post(f"{mock_url}/_mock/clients", json=body, timeout=10).raise_for_status()


def connect(mock_url: str, client_id: str, secret: str) -> Token:
    """One headless approval and code exchange at the mock: a fresh grant's token."""
    with httpx.Client(base_url=mock_url, timeout=10) as http:
        approve = {
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "account.read list.read",
            "state": "bench",
            "username": "demo",
        }
        code = http.post("/_mock/approve", json=approve).raise_for_status().json()["code"]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        answer = http.post("/oauth2/token", auth=(client_id, secret), data=data).raise_for_status().json()
    now = time.time()
    return Token(
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        expires_at=now + float(answer["expires_in"]),
        scopes=tuple(str(answer.get("scope", "")).split()),
        obtained_at=now,
    )


def _authlib_client(mock_url: str, token: Token) -> httpx.Client:
    import authlib.deprecate  # noqa: F401, PLC0415 - installs its "always" filter first

    with warnings.catch_warnings():
        # Authlib 1.9 prefers "httpx2" and warns when it falls back to httpx, as here.
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import OAuth2Client  # noqa: PLC0415

    client: httpx.Client = OAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token={
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "token_type": "bearer",
            "expires_at": int(token.expires_at or 0),
        },
        token_endpoint=f"{mock_url}/oauth2/token",
        base_url=f"{mock_url}/1.0",
        headers={"Accept": "application/json"},
    )
    return client


def _block(client: httpx.Client, requests: int) -> float:
    """Seconds per request over ``requests`` sequential GET /accounts."""
    started = time.perf_counter()
    for _ in range(requests):
        response = client.get("/accounts")
        if response.status_code != 200:
            raise SystemExit(f"GET /accounts answered {response.status_code}: {response.text[:200]}")
    return (time.perf_counter() - started) / requests


def _one(client: httpx.Client) -> float:
    """Seconds one GET /accounts takes."""
    started = time.perf_counter()
    response = client.get("/accounts")
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET /accounts answered {response.status_code}: {response.text[:200]}")
    return elapsed


def flow_cost(client: httpx.Client, requests: int) -> float:
    """Seconds per request spent in the client's auth flow alone (no network): where ours adds."""
    request = client.build_request("GET", "/accounts")
    auth = client.auth
    assert auth is not None
    started = time.perf_counter()
    for _ in range(requests):
        flow = auth.sync_auth_flow(request)
        next(flow)
        flow.close()
    return (time.perf_counter() - started) / requests


def profile_ours(client: httpx.Client, requests: int) -> str:
    """cProfile one block of ours; the top entries by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    _block(client, requests)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # Only what the helper adds: its own frames, the store's SQLite calls and JSON decoding.
    stats.sort_stats("cumulative").print_stats(r"oob_helper|sqlite3|json|random", 25)
    return out.getvalue()


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_request(
    clients: dict[str, httpx.Client], server_pid: int, requests: int, rounds: int
) -> dict[str, float]:
    """CPU seconds per request, client plus server, over blocks alternating between clients.

    CPU time is not stretched by waiting for a core, so on a loaded machine it shows what the
    wall-clock time per request would be on an idle one (loopback I/O is kernel CPU time too).
    """
    names = list(clients)
    spent = dict.fromkeys(names, 0.0)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            client_before, server_before = time.process_time(), _server_cpu(server_pid)
            _block(clients[name], requests)
            spent[name] += time.process_time() - client_before + _server_cpu(server_pid) - server_before
    return {name: total / (rounds * requests) for name, total in spent.items()}


# One request in a process of its own: the interpreter, the imports, the client, one GET.
_ONE_PLAIN = """
import os, httpx
auth = {"Authorization": "Bearer " + os.environ["BENCH_AT"]}
r = httpx.get(os.environ["BENCH_API"] + "/accounts", headers=auth)
assert r.status_code == 200, r.status_code
"""
_ONE_OURS = """
import os
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
mock = os.environ["BENCH_MOCK"]
settings = Settings(provider=AWEBER.with_bases(mock, mock + "/1.0"), client_id=os.environ["BENCH_ID"],
                    client_secret=os.environ["BENCH_SECRET"], store_url=os.environ["BENCH_STORE"])
with OAuthHelper(settings, open_store(settings.store_url, encryption_keys=())) as helper:
    with helper.client(os.environ["BENCH_INSTALL"]) as client:
        r = client.get("/accounts")
assert r.status_code == 200, r.status_code
"""


def per_process(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median wall seconds of a process that sends one request, plain and ours, alternating."""
    times: dict[str, list[float]] = {"plain": [], "ours": []}
    for i in range(runs):
        pair = [("plain", _ONE_PLAIN), ("ours", _ONE_OURS)]
        for name, code in pair if i % 2 == 0 else pair[::-1]:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True, timeout=60)
            times[name].append(time.perf_counter() - started)
    return {name: median(values) for name, values in times.items()}


def sparse(clients: dict[str, httpx.Client], count: int, gap: float) -> dict[str, float]:
    """Median seconds of one request per client, each sent after ``gap`` idle seconds: with a
    gap longer than ``cache_ttl`` (2 s) ours finds its token cache expired and reads the store
    each time.

    The process sleeps before every request, not once per turn of the clients: a request sent
    right after another one's finds the machine's caches warm, so half of each client's samples
    were another kind, and a median of the two kinds moved between runs by a tenth or more.
    """
    times: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i in range(count):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            time.sleep(gap)
            times[name].append(_one(clients[name]))
    return {name: median(values) for name, values in times.items()}


def run(
    requests: int,
    rounds: int,
    *,
    profile: bool,
    sparse_count: int = 20,
    gap: float = 3.0,
    processes: int = 20,
) -> dict[str, float]:
    """Measure the three clients side by side; print per-request times and ratios to plain."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        uvicorn_server("bench.apps:mock_app", env=NO_RATE_LIMIT) as (mock_url, server_pid),
    ):
        register_client(mock_url, CLIENT_ID, CLIENT_SECRET)
        token = connect(mock_url, CLIENT_ID, CLIENT_SECRET)
        store_url = f"sqlite:///{Path(tmp) / 'tokens.db'}"
        settings = Settings(
            provider=AWEBER.with_bases(mock_url, f"{mock_url}/1.0"),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            store_url=store_url,
        )
        helper = OAuthHelper(settings, open_store(store_url, encryption_keys=()))
        now = time.time()
        helper.store.put(
            InstallRecord(install=INSTALL, token=token, state="connected", state_changed_at=now),
            expected_version=None,
        )
        memory_helper = OAuthHelper(settings, open_store("memory://", encryption_keys=()))
        # The same SQLite file with the coordinator's token cache off: a store read per request.
        nocache_helper = OAuthHelper(settings, open_store(store_url, encryption_keys=()))
        nocache_helper.coordinator.cache_ttl = 0.0
        # The same SQLite file with a subscriber and the metrics (issue 13's hot-path cost).
        events_helper = OAuthHelper(settings, open_store(store_url, encryption_keys=()))
        events_helper.subscribe(lambda event: None)
        instrument(events_helper)
        connected = helper.store.get(INSTALL)
        assert connected is not None
        memory_helper.store.import_record(connected)
        clients: dict[str, httpx.Client] = {
            "plain": httpx.Client(
                base_url=f"{mock_url}/1.0",
                headers={"Accept": "application/json", "Authorization": f"Bearer {token.access_token}"},
            ),
            "ours": helper.client(INSTALL),
            "ours_nocache": nocache_helper.client(INSTALL),
            # The same auth over the memory store: splits ours' cost into coordinator and store.
            "ours_memory": memory_helper.client(INSTALL),
            "ours_events": events_helper.client(INSTALL),
            # A second plain client: the A/A control that shows how far noise alone moves a ratio.
            "plain2": httpx.Client(
                base_url=f"{mock_url}/1.0",
                headers={"Accept": "application/json", "Authorization": f"Bearer {token.access_token}"},
            ),
            "authlib": _authlib_client(mock_url, token),
        }
        samples: dict[str, list[list[float]]] = {name: [] for name in clients}
        names = list(clients)
        load_before = os.getloadavg()[0]
        try:
            for client in clients.values():  # warm-up: connections, imports, caches
                _block(client, max(requests // 5, 20))
            for _ in range(rounds):
                for name in names:
                    samples[name].append([])
                for j in range(requests):
                    # One request from each client in turn, the order rotating: every client sees
                    # the same moments of the machine's (shared, noisy) load.
                    for name in names[j % len(names) :] + names[: j % len(names)]:
                        samples[name][-1].append(_one(clients[name]))
            cpu = _cpu_per_request(clients, server_pid, requests, rounds * 2)
            per = {name: median([t for chunk in chunks for t in chunk]) for name, chunks in samples.items()}
            spread = {
                name: [median(c) / median(p) for c, p in zip(chunks, samples["plain"], strict=True)]
                for name, chunks in samples.items()
            }
            flow = median([flow_cost(clients["ours"], requests * 10) for _ in range(5)])
            ratio_ours = per["ours"] / per["plain"]
            cpu_ratio_ours = cpu["ours"] / cpu["plain"]
            report = None
            if profile or ratio_ours > TARGET:
                report = profile_ours(clients["ours"], requests)
            cold = sparse({"plain": clients["plain"], "ours": clients["ours"]}, sparse_count, gap)
            one_env = {
                "BENCH_API": f"{mock_url}/1.0",
                "BENCH_AT": token.access_token,
                "BENCH_MOCK": mock_url,
                "BENCH_ID": CLIENT_ID,
                "BENCH_SECRET": CLIENT_SECRET,
                "BENCH_STORE": store_url,
                "BENCH_INSTALL": INSTALL,
            }
            single = per_process(one_env, processes)
            # The token must still be the one connected: no refresh happened during the run.
            stored = helper.store.get(INSTALL)
            refreshed = stored is None or stored.token is None or stored.token != token
        finally:
            for client in clients.values():
                client.close()
            helper.close()
            memory_helper.close()
            nocache_helper.close()
            events_helper.close()
        load = (load_before + os.getloadavg()[0]) / 2

    print(
        f"GET /1.0/accounts against the mock (uvicorn, uvloop, httptools); {rounds} rounds x {requests} "
        f"requests per client interleaved request by request (wall: median, per-round ratio range), "
        f"then {rounds * 2} alternating blocks of {requests} (CPU: client + server per request); "
        f"load average ~{load:.1f} on {os.cpu_count()} cores:"
    )
    print(f"  {'client':36s} {'wall us':>8s} {'ratio':>6s} {'range':>13s} {'CPU us':>7s} {'ratio':>6s}")
    for name, label in (
        ("plain", "plain httpx, fixed bearer header"),
        ("ours", "OAuthHelper.client (SQLite store)"),
        ("ours_nocache", "  the same, cache_ttl=0 (store read)"),
        ("ours_memory", "OAuthHelper.client (memory store)"),
        ("ours_events", "  SQLite, a subscriber and metrics on"),
        ("authlib", "Authlib httpx OAuth2Client"),
        ("plain2", "plain httpx again (A/A control)"),
    ):
        low, high = min(spread[name]), max(spread[name])
        print(
            f"  {label:36s} {per[name] * 1e6:8.0f} {per[name] / per['plain']:6.3f} "
            f"{low:6.3f}-{high:6.3f} {cpu[name] * 1e6:7.0f} {cpu[name] / cpu['plain']:6.3f}"
        )

    def verdict(ratio: float, target: float = TARGET) -> str:
        return "met" if ratio <= target else "MISSED"

    cold_ratio = per["ours_nocache"] / per["plain"]
    cold_cpu = cpu["ours_nocache"] / cpu["plain"]
    print(
        f"  warm cache (a request stream; the token cached for cache_ttl=2 s): ours / plain wall "
        f"{ratio_ours:.3f} ({verdict(ratio_ours)}), CPU {cpu_ratio_ours:.3f} ({verdict(cpu_ratio_ours)}); "
        f"target <= {TARGET}"
    )
    print(
        f"  cold cache (cache_ttl=0, a store read and decode per request): wall {cold_ratio:.3f} "
        f"({verdict(cold_ratio, COLD_TARGET)}), CPU {cold_cpu:.3f} ({verdict(cold_cpu, COLD_TARGET)}); "
        f"target <= {COLD_TARGET}"
    )
    events_ratio = per["ours_events"] / per["plain"]
    print(
        f"  with a lifecycle subscriber and the metrics registered: wall {events_ratio:.3f} "
        f"({verdict(events_ratio, EVENTS_TARGET)}); target <= {EVENTS_TARGET}"
    )
    print(
        f"  one request after every {gap:g} s idle (cache expired each time; {sparse_count} each): plain "
        f"{cold['plain'] * 1e6:.0f} us, ours {cold['ours'] * 1e6:.0f} us, ratio "
        f"{cold['ours'] / cold['plain']:.3f} ({verdict(cold['ours'] / cold['plain'], COLD_TARGET)})"
    )
    print(
        f"  one request per process (interpreter, imports, client, one GET; {processes} each): "
        f"plain httpx {single['plain'] * 1000:.0f} ms, ours {single['ours'] * 1000:.0f} ms, ratio "
        f"{single['ours'] / single['plain']:.3f}"
    )
    print(
        f"  ours adds {(per['ours'] - per['plain']) * 1e6:.0f} us wall and "
        f"{(cpu['ours'] - cpu['plain']) * 1e6:.0f} us CPU per request; its auth flow alone (cache look-up, "
        f"expiry check, header) takes {flow * 1e6:.0f} us; token refreshed during the run: {refreshed}"
    )
    if report is not None:
        print("cProfile of one block of ours:")
        print(report)
    return {f"{name}_us": value * 1e6 for name, value in per.items()} | {
        "ratio_ours": ratio_ours,
        "cpu_ratio_ours": cpu_ratio_ours,
    }


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run, print."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600, help="requests per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of ours even if on target")
    parser.add_argument("--sparse", type=int, default=20, help="requests sent one every --gap seconds")
    parser.add_argument("--gap", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=20, help="one-request processes of each kind")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few of everything")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds, args.sparse, args.processes = 100, 1, 2, 2
    for flag in ("requests", "rounds", "sparse", "processes"):
        if getattr(args, flag) < 1:
            # Each is a sample count: with none there is no median to report.
            parser.error(f"--{flag} must be at least 1 (it counts samples)")
    run(
        args.requests,
        args.rounds,
        profile=args.profile,
        sparse_count=args.sparse,
        gap=args.gap,
        processes=args.processes,
    )


if __name__ == "__main__":
    main()
