"""One object per backend under test: how to open it, and what it promises.

``make_backend(name, tmp_path, request)`` gives a fresh, empty store namespace for one test;
every store it opened is closed afterwards. Worker processes open the same namespace by URL.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from oob_helper.stores import TokenStore, open_store

from . import servers

WORKER = Path(__file__).resolve().parent / "worker.py"
BACKENDS = ["memory", "sqlite", "redis", "redis-cluster", "postgresql", "postgresql-pgbouncer"]
CROSS_PROCESS = ["sqlite", "redis", "redis-cluster", "postgresql", "postgresql-pgbouncer"]
# The kernel releases a SQLite flock instead of a lease.
LEASED = ["memory", "redis", "redis-cluster", "postgresql", "postgresql-pgbouncer"]


@dataclass
class Backend:
    """A backend under test: ``url`` opens the same store from any process."""

    name: str
    url: str
    cross_process: bool  # the lock and the data are shared across processes
    has_lease: bool  # the lock's lease expires while its holder still lives
    keys: Sequence[str] = ()
    _opened: list[TokenStore] = field(default_factory=list)
    _shared: TokenStore | None = None

    def open(self, keys: Sequence[str] | None = None) -> TokenStore:
        """Another handle on the same store (for memory: the same object)."""
        if self.name == "memory":
            if self._shared is None:
                self._shared = open_store(self.url, encryption_keys=list(self.keys))
                self._opened.append(self._shared)
            return self._shared
        store = open_store(self.url, encryption_keys=list(self.keys if keys is None else keys))
        self._opened.append(store)
        return store

    def raw(self) -> bytes:
        """Everything the backend holds for this store, as stored (to look for plaintext)."""
        if self.name == "memory":
            store: Any = self.open()
            return repr((store._records, store._attempts, store._settings)).encode()
        if self.name == "sqlite":
            db = Path(self.url.removeprefix("sqlite:///"))
            return b"".join(
                p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name) and p.is_file()
            )
        if self.name.startswith("redis"):
            import redis  # noqa: PLC0415
            import redis.cluster  # noqa: PLC0415

            base, _, query = self.url.partition("?")
            prefix = query.removeprefix("prefix=")
            client: Any = (
                redis.cluster.RedisCluster.from_url(
                    base.replace("redis+cluster://", "redis://").split(",")[0]
                )
                if self.name == "redis-cluster"
                else redis.Redis.from_url(base)
            )
            chunks = []
            for key in client.scan_iter(match="{" + prefix + "}*"):
                kind = client.type(key)
                chunks.append(repr((key, kind, client.dump(key))).encode())
            client.close()
            return b"".join(sorted(chunks))
        import psycopg  # noqa: PLC0415

        base, _, query = self.url.partition("?")
        schema = query.removeprefix("schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            rows = []
            for table in ("oob_records", "oob_attempts", "oob_settings", "oob_locks"):
                rows += conn.execute(f'SELECT t::text FROM "{schema}".{table} t ORDER BY 1').fetchall()
        return repr(rows).encode()

    def snapshot(self) -> bytes:
        """The store's logical contents (for SQLite the rows, not the file's bytes)."""
        if self.name == "sqlite":
            import sqlite3  # noqa: PLC0415

            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            dump = "\n".join(conn.iterdump()).encode()
            conn.close()
            return dump
        return self.raw()

    def close_all(self) -> None:
        """Close every handle opened by the test."""
        for store in self._opened:
            store.close()
        self._opened.clear()


def with_param(url: str, name: str, value: str) -> str:
    """``url`` with one more query parameter."""
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


def make_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    """A fresh namespace of backend ``name``."""
    if name == "memory":
        return Backend(name, "memory://", cross_process=False, has_lease=True)
    if name == "sqlite":
        return Backend(name, f"sqlite:///{tmp_path / 'store.db'}", cross_process=True, has_lease=False)
    if name == "redis":
        url = with_param(servers.redis_url(request.config), "prefix", unique("t") + ":")
        return Backend(name, url, cross_process=True, has_lease=True)
    if name == "redis-cluster":
        url = with_param(servers.redis_cluster_url(request.config), "prefix", unique("t") + ":")
        return Backend(name, url, cross_process=True, has_lease=True)
    if name in ("postgresql", "postgresql-pgbouncer"):
        server = servers.postgres_url if name == "postgresql" else servers.pgbouncer_url
        url = with_param(server(request.config), "schema", unique("t_"))
        return Backend(name, url, cross_process=True, has_lease=True)
    raise AssertionError(f"unknown backend {name}")


def unique(prefix: str) -> str:
    """A fresh name (keys, schemas, installs)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class Workers:
    """Worker processes started together, released together with "go", and then collected."""

    def __init__(
        self, command: str, url: str, args_per_worker: list[list[str]], env: dict[str, str] | None = None
    ):
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), command, url, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for args in args_per_worker
        ]

    def wait_ready(self, word: str = "ready") -> None:
        """Block until every worker printed ``word``."""
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != word:
                proc.kill()
                _out, err = proc.communicate()
                raise AssertionError(f"worker said {line!r}, stderr:\n{err}")

    def go(self) -> list[str]:
        """Release every worker; returns each one's remaining stdout."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = []
        for proc in self.procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(out)
        return outputs

    def kill(self) -> None:
        """Stop every worker still running."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
