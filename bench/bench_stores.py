"""Issues 5 and 14 benchmark: every token store with 100,000 installs.

For each backend a fresh store is filled with 100,000 connected installs through a fast bulk
path (bench code only: one SQLite transaction, a Redis pipeline, PostgreSQL COPY; the store's
own ``import_records`` in memory, on the Cluster, through Sentinel and through PgBouncer),
written in the store's own record format (``oob_helper.stores._codec``) and read back through
the store to check it. The servers are throwaway ones on loopback, started with the test
suite's ``tests/test_oob_helper/stores`` helpers.

- get-a-valid-token latency: ``OAuthHelper.get_token(install)`` on random installs whose tokens
  are valid (no provider call), one thread; p50 and p99 over every sample.
- refresh storm: ``--storm`` random installs are rewritten at once with an expired access
  token, then ``--threads`` threads call ``get_token`` on all of them: each takes the install's
  lock, re-reads, refreshes at the mock's token endpoint (uvicorn, uvloop, httptools) and
  writes the new pair with compare-and-set. Refreshes per second over the storm.

The mock client has the default rotation policy (a refresh retires the refresh token it
spends), so every armed install gets a grant of its own at set-up, as users' installs have.
Backends: memory, sqlite, redis, a 3-primary Redis Cluster, Redis with a replica behind three
Sentinels (``wait_replicas=auto``: each token write waits for the replica), postgresql, and
postgresql behind PgBouncer in transaction pooling mode. Backends alternate
within each round (the order rotates); figures are medians (latency: percentiles of all
samples) and ratios to the memory backend measured in the same run.

    .venv/bin/python -m bench.bench_stores [--installs 100000] [--rounds 5] [--samples 2000]
        [--storm 1000] [--storm-rounds 3] [--threads 8] [--backends memory sqlite redis ...] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from bench._harness import ROOT, compile_packages, median, uvicorn_server
from bench.bench_auth_overhead import NO_RATE_LIMIT, connect, register_client
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import TokenStore, open_store
from oob_helper.stores._codec import Codec
from oob_helper.tokens import InstallRecord, Token

BACKENDS = (
    "memory",
    "sqlite",
    "redis",
    "redis-cluster",
    "redis-sentinel",
    "postgresql",
    "postgresql-pgbouncer",
)
CLIENT_ID, CLIENT_SECRET = "bench-stores", "bench-stores-secret"
TEST_STORES = ROOT / "tests" / "test_oob_helper"
_BATCH = 2000


def test_servers() -> ModuleType:
    """The test suite's throwaway-server package (``tests/test_oob_helper/stores``), imported
    as its tests do (``tests`` itself is not a package)."""
    if str(TEST_STORES) not in sys.path:
        sys.path.insert(0, str(TEST_STORES))
    return importlib.import_module("stores.servers")


@contextmanager
def server_urls(names: Sequence[str]) -> Iterator[dict[str, str]]:
    """Base URLs of throwaway servers for the backends in ``names`` (Redis alone, as a Cluster,
    behind Sentinel with a replica; PostgreSQL alone and behind PgBouncer)."""
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        if any(name not in ("memory", "sqlite") for name in names):
            servers = test_servers()
            topologies = importlib.import_module("stores.redis_topologies")
            if "redis" in names:
                redis_server = servers.RedisServer()
                stack.callback(redis_server.cleanup)
                urls["redis"] = redis_server.start().url
            if "redis-cluster" in names:
                cluster = topologies.RedisClusterServers()
                stack.callback(cluster.cleanup)
                urls["redis-cluster"] = cluster.url
            if "redis-sentinel" in names:
                sentinel = topologies.SentinelServers(through_proxy=False)
                stack.callback(sentinel.cleanup)
                urls["redis-sentinel"] = sentinel.url
            if "postgresql" in names or "postgresql-pgbouncer" in names:
                pg_server = servers.PostgresServer()
                stack.callback(pg_server.cleanup)
                urls["postgresql"] = pg_server.start().url
                if "postgresql-pgbouncer" in names:
                    bouncer = servers.PgBouncerServer(pg_server.port)
                    stack.callback(bouncer.cleanup)
                    urls["postgresql-pgbouncer"] = bouncer.start().url
                    POOLED_PORTS.add(bouncer.port)
        yield urls


def fresh_url(name: str, directory: Path, bases: dict[str, str]) -> str:
    """A new, empty namespace of backend ``name`` (a file, a key prefix or a schema)."""
    tag = uuid.uuid4().hex[:10]
    if name == "memory":
        return "memory://"
    if name == "sqlite":
        return f"sqlite:///{directory / f'bench-{tag}.db'}"
    if name.startswith("redis"):
        return f"{bases[name]}?prefix=bench{tag}:"
    if name.startswith("postgresql"):
        return f"{bases[name]}?schema=bench_{tag}"
    raise ValueError(name)


def make_records(count: int, now: float) -> list[InstallRecord]:
    """``count`` connected installs with valid, distinct (fake) tokens."""
    rng = random.Random(5)
    records = []
    for i in range(count):
        token = Token(
            access_token=f"{rng.getrandbits(128):032x}",
            refresh_token=f"{rng.getrandbits(128):032x}",
            expires_at=now + 7200 + rng.uniform(0, 3600),
            scopes=("account.read", "list.read"),
            obtained_at=now,
        )
        records.append(
            InstallRecord(
                install=f"site{i:06d}.bench",
                token=token,
                state="connected",
                state_changed_at=now,
                account_id=str(1000 + i),
                account_name=f"Account {i}",
                version=1,
            )
        )
    return records


def bulk_write(store: TokenStore, url: str, records: Sequence[InstallRecord]) -> None:
    """Write ``records`` as given (versions included), replacing any, by the backend's fast path."""
    codec = Codec(None)
    rows = [(r.install, r.version, codec.dump_record(r)) for r in records]
    scheme = url.split("://", 1)[0]
    if scheme == "memory" or "+" in scheme or _pooled(url):
        # The Cluster, Sentinel and PgBouncer forms: the store's own bulk path.
        store.import_records(records)  # type: ignore[attr-defined]
    elif scheme == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO records (install, version, data) VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        finally:
            conn.close()
    elif scheme == "redis":
        import redis  # noqa: PLC0415

        client_url, prefix = _strip_param(url, "prefix")
        client = redis.Redis.from_url(client_url)
        try:
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                pipe = client.pipeline(transaction=False)
                for install, version, data in batch:
                    pipe.hset(f"{{{prefix}}}rec:{install}", mapping={"v": str(version), "d": data})
                pipe.zadd(f"{{{prefix}}}installs", {install: 0 for install, _, _ in batch})
                pipe.execute()
        finally:
            client.close()
    elif scheme in ("postgresql", "postgres"):
        import psycopg  # noqa: PLC0415

        conninfo, schema = _strip_param(url, "schema")
        with psycopg.connect(conninfo, options=f"-c search_path={schema}") as conn:
            conn.execute("CREATE TEMP TABLE bench_load (install TEXT, version BIGINT, data TEXT)")
            with conn.cursor().copy("COPY bench_load (install, version, data) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(
                "INSERT INTO oob_records (install, version, data) SELECT install, version, data"
                " FROM bench_load ON CONFLICT (install) DO UPDATE SET version = EXCLUDED.version,"
                " data = EXCLUDED.data"
            )
    else:
        raise ValueError(url)


POOLED_PORTS: set[int] = set()  # PgBouncer's ports: no search_path option, no COPY shortcut


def _pooled(url: str) -> bool:
    return url.startswith("postgresql") and urlsplit(url).port in POOLED_PORTS


def _strip_param(url: str, name: str) -> tuple[str, str]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    value = next(v for k, v in query if k == name)
    rest = "&".join(f"{k}={v}" for k, v in query if k != name)
    return urlunsplit(parts._replace(query=rest)), value


@dataclass
class Subject:
    """One backend under test: its helper (and store) and the installs it holds."""

    name: str
    url: str
    helper: OAuthHelper
    load_seconds: float
    latencies: list[float]
    storm_rates: list[float]


def open_subject(
    name: str, url: str, settings: Settings, records: Sequence[InstallRecord], sample: Sequence[int]
) -> Subject:
    """Open the store, bulk-load it, and check a sample of records reads back identical."""
    store = open_store(url, encryption_keys=())
    started = time.perf_counter()
    bulk_write(store, url, records)
    elapsed = time.perf_counter() - started
    for i in sample:
        got = store.get(records[i].install)
        if got is None or got.to_dict() != records[i].to_dict():
            raise SystemExit(f"{name}: the bulk-loaded record {records[i].install} does not read back")
    count = len(store.list_installs())
    if count != len(records):
        raise SystemExit(f"{name}: {count} installs listed after loading {len(records)}")
    helper = OAuthHelper(replace(settings, store_url=url), store)
    return Subject(name, url, helper, elapsed, [], [])


def measure_latency(subject: Subject, installs: Sequence[str], samples: int, rng: random.Random) -> None:
    """``samples`` get_token calls on random installs; seconds each, appended to the subject."""
    get_token = subject.helper.get_token
    clock = time.perf_counter
    out = subject.latencies
    for _ in range(samples):
        install = installs[rng.randrange(len(installs))]
        started = clock()
        get_token(install)
        out.append(clock() - started)


def storm(subject: Subject, armed: Sequence[InstallRecord], threads: int) -> float:
    """Expire ``armed`` at once, refresh them all from ``threads`` threads; refreshes per second."""
    bulk_write(subject.helper.store, subject.url, armed)
    old = {r.install: r.token.access_token for r in armed if r.token is not None}
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        tokens = list(pool.map(subject.helper.get_token, old))
    elapsed = time.perf_counter() - started
    stale = sum(1 for install, token in zip(old, tokens, strict=True) if token.access_token == old[install])
    if stale:
        raise SystemExit(f"{subject.name}: {stale} installs kept their expired token")
    rate = len(armed) / elapsed
    subject.storm_rates.append(rate)
    return rate


def _fresh_refresh_token(mock_url: str) -> str:
    token = connect(mock_url, CLIENT_ID, CLIENT_SECRET).refresh_token
    assert token is not None
    return token


def armed_records(
    records: Sequence[InstallRecord], picks: Sequence[int], refresh_tokens: Sequence[str], now: float
) -> list[InstallRecord]:
    """The picked installs with an expired access token and a live refresh token each."""
    out = []
    for i, refresh_token in zip(picks, refresh_tokens, strict=True):
        record = records[i]
        assert record.token is not None
        token = replace(record.token, refresh_token=refresh_token, expires_at=now - 60)
        out.append(replace(record, token=token, version=record.version + 1000))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Load every backend, then alternate latency sampling and storms; print figures and ratios."""
    names = [n for n in BACKENDS if n in args.backends]
    now = time.time()
    records = make_records(args.installs, now)
    installs = [r.install for r in records]
    rng = random.Random(7)
    check_sample = rng.sample(range(len(records)), min(50, len(records)))
    subjects: list[Subject] = []
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory() as tmp,
        server_urls(names) as bases,
        uvicorn_server("bench.apps:mock_app", env=NO_RATE_LIMIT) as (mock_url, _),
    ):
        register_client(mock_url, CLIENT_ID, CLIENT_SECRET)  # the default rotation policy
        settings = Settings(
            provider=AWEBER.with_bases(mock_url, f"{mock_url}/1.0"),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        try:
            for name in names:
                subject = open_subject(
                    name, fresh_url(name, Path(tmp), bases), settings, records, check_sample
                )
                subjects.append(subject)
                print(f"  loaded {len(records):,} installs into {name} in {subject.load_seconds:.1f}s")
            for subject in subjects:  # warm-up: connections, pools, page cache
                measure_latency(subject, installs, min(200, args.samples), rng)
                subject.latencies.clear()
            for i in range(args.rounds):
                for subject in subjects[i % len(subjects) :] + subjects[: i % len(subjects)]:
                    measure_latency(subject, installs, args.samples, rng)
            # Each storm arms installs not used by an earlier storm, so every one needs a refresh.
            storm_picks = rng.sample(range(len(records)), min(len(records), args.storm * args.storm_rounds))
            # Under rotation a refresh spends its refresh token: every armed install of every
            # backend gets a grant of its own, obtained before any storm.
            with ThreadPoolExecutor(8) as pool:
                grants = {
                    (subject.name, i): list(
                        pool.map(lambda _: _fresh_refresh_token(mock_url), range(args.storm))
                    )
                    for subject in subjects
                    for i in range(args.storm_rounds)
                }
            for i in range(args.storm_rounds):
                picks = storm_picks[i * args.storm : (i + 1) * args.storm]
                for subject in subjects[i % len(subjects) :] + subjects[: i % len(subjects)]:
                    armed = armed_records(records, picks, grants[subject.name, i], time.time())
                    storm(subject, armed, args.threads)
        finally:
            for subject in subjects:
                subject.helper.close()

    results: dict[str, dict[str, float]] = {}
    for subject in subjects:
        results[subject.name] = {
            "p50_us": percentile(subject.latencies, 0.5) * 1e6,
            "p99_us": percentile(subject.latencies, 0.99) * 1e6,
            "storm_rps": median(subject.storm_rates),
            "load_s": subject.load_seconds,
        }
    base = results.get("memory") or next(iter(results.values()))
    base_name = "memory" if "memory" in results else subjects[0].name
    print(
        f"token stores with {len(records):,} installs: get_token on random valid installs "
        f"({args.rounds} rounds x {args.samples} per backend, alternating); refresh storms of "
        f"{args.storm:,} expired installs by {args.threads} threads against the mock "
        f"({args.storm_rounds} rounds, median); ratios to {base_name}; load average "
        f"~{(load_before + os.getloadavg()[0]) / 2:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  {'backend':20s} {'p50 us':>8s} {'x':>6s} {'p99 us':>8s} {'x':>6s} "
        f"{'refresh/s':>10s} {'x':>6s} {'load s':>7s}"
    )
    for name, r in results.items():
        print(
            f"  {name:20s} {r['p50_us']:8.0f} {r['p50_us'] / base['p50_us']:6.2f} "
            f"{r['p99_us']:8.0f} {r['p99_us'] / base['p99_us']:6.2f} "
            f"{r['storm_rps']:10.0f} {r['storm_rps'] / base['storm_rps']:6.2f} {r['load_s']:7.1f}"
        )
    return results


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run, print."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--installs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds")
    parser.add_argument("--samples", type=int, default=2000, help="get_token calls per backend per round")
    parser.add_argument("--storm", type=int, default=1000, help="installs expired at once per storm")
    parser.add_argument("--storm-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8, help="threads refreshing a storm")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 installs, small storms")
    args = parser.parse_args(argv)
    if args.quick:
        args.installs, args.rounds, args.samples, args.storm, args.storm_rounds = 2000, 1, 200, 50, 1
    run(args)


if __name__ == "__main__":
    main()
