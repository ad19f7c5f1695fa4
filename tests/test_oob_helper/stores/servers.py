"""Throwaway Redis and PostgreSQL servers on loopback, in temporary directories.

``redis_url(config)`` / ``postgres_url(config)`` start one server per test session (kept in
``config.stash``, stopped at the end) unless ``OOB_TEST_REDIS_URL`` / ``OOB_TEST_POSTGRES_URL``
name one. ``RedisServer`` / ``PostgresServer`` can also be run per test (the fault tests stop
and restart theirs). A missing server binary fails the test with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REDIS_SERVER = os.environ.get("OOB_TEST_REDIS_SERVER", "redis-server")


def _pg_bin() -> Path:
    """Debian's newest PostgreSQL server binaries (or ``OOB_TEST_PG_BIN``)."""
    if os.environ.get("OOB_TEST_PG_BIN"):
        return Path(os.environ["OOB_TEST_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(
    port: int, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            # Polling a just-started server process for its port: it offers no event to wait on.
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


class RedisServer:
    """``redis-server`` on a free loopback port; ``persistent`` keeps data across restarts (AOF)."""

    def __init__(self, *, persistent: bool = False) -> None:
        binary = shutil.which(REDIS_SERVER)
        if binary is None:
            pytest.fail(
                "redis-server is missing: install it with `apt-get install redis-server` "
                "(scripts/test does this when run as root), or set OOB_TEST_REDIS_URL"
            )
        self.binary = binary
        self.persistent = persistent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="oob-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) the server and wait until it accepts connections."""
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *persistence,
                *("--dir", str(self.dir), "--daemonize", "no", "--logfile", str(self.dir / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, "redis-server", self.proc)
        return self

    def stop(self) -> None:
        """Stop the server (gracefully: with persistence, its data is kept)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        """Stop and remove the data directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL 15 cluster on a free loopback port, run as ``postgres`` when we are root."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(
                f"PostgreSQL server binaries are missing in {PG_BIN}: install them with "
                "`apt-get install postgresql` (scripts/test does this when run as root), "
                "or set OOB_TEST_POSTGRES_URL"
            )
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="oob-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(
                    "running as root needs the `postgres` user: `apt-get install postgresql` creates it"
                )
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            [
                *(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ]
        )

    @property
    def url(self) -> str:
        """The server's URL (database ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def start(self) -> PostgresServer:
        """Start (or restart) the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.dir / "pg.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        _wait_port(self.port, "postgres")
        return self

    def stop(self) -> None:
        """Stop the server at once (clients see their connections drop)."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def cleanup(self) -> None:
        """Stop and remove the cluster."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgBouncerServer:
    """Debian's ``pgbouncer`` in transaction pooling mode in front of a PostgreSQL server.

    Strict on purpose: no ``ignore_startup_parameters``, so a client relying on a startup
    ``options=-c search_path=...`` fails here as it would on a managed pooler.
    """

    def __init__(self, postgres_port: int) -> None:
        binary = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
        )
        if binary is None:
            pytest.fail(
                "pgbouncer is missing: install it with `apt-get install pgbouncer` "
                "(scripts/test does this when run as root)"
            )
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="oob-pgbouncer-"))
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host=127.0.0.1 port={postgres_port}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.dir / 'users.txt'}",
                    "pool_mode = transaction",
                    "max_client_conn = 1000",
                    "default_pool_size = 20",
                    f"logfile = {self.dir / 'pgbouncer.log'}",
                    f"pidfile = {self.dir / 'pgbouncer.pid'}",
                ]
            )
            + "\n"
        )
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            user = pwd.getpwnam("postgres")
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The pooler's URL (database ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PgBouncerServer:
        """Start (or restart) the pooler and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [*self.as_user, self.binary, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, "pgbouncer", self.proc)
        return self

    def stop(self) -> None:
        """SIGTERM: PgBouncer drops every client connection at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def cleanup(self) -> None:
        """Stop and remove the configuration."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_REDIS = pytest.StashKey[str]()
_PGBOUNCER = pytest.StashKey[str]()
_REDIS_CLUSTER = pytest.StashKey[str]()
_POSTGRES = pytest.StashKey[str]()


_Started = tuple[str, Callable[[], None]]  # a server's URL, and how to stop and remove it


def _session_server(
    config: pytest.Config, key: pytest.StashKey[str], env: str, start: Callable[[], _Started]
) -> str:
    """``$env`` if set, else the URL of a server started once per session by ``start``."""
    if os.environ.get(env):
        return os.environ[env]
    if key not in config.stash:
        url, cleanup = start()
        config.add_cleanup(cleanup)
        config.stash[key] = url
    return config.stash[key]


def redis_url(config: pytest.Config) -> str:
    """The session's Redis URL (started on first use)."""

    def start() -> _Started:
        server = RedisServer().start()
        return server.url, server.cleanup

    return _session_server(config, _REDIS, "OOB_TEST_REDIS_URL", start)


def postgres_url(config: pytest.Config) -> str:
    """The session's PostgreSQL URL (started on first use)."""

    def start() -> _Started:
        server = PostgresServer()
        try:
            server.start()
        except BaseException:
            server.cleanup()
            raise
        return server.url, server.cleanup

    return _session_server(config, _POSTGRES, "OOB_TEST_POSTGRES_URL", start)


def redis_cluster_url(config: pytest.Config) -> str:
    """The session's 3-primary Redis Cluster (started on first use)."""

    def start() -> _Started:
        from .redis_topologies import RedisClusterServers  # noqa: PLC0415

        cluster = RedisClusterServers()
        return cluster.url, cluster.cleanup

    return _session_server(config, _REDIS_CLUSTER, "OOB_TEST_REDIS_CLUSTER_URL", start)


def pgbouncer_url(config: pytest.Config) -> str:
    """The session's PgBouncer (transaction pooling) in front of the session's PostgreSQL."""

    def start() -> _Started:
        port = urlsplit(postgres_url(config)).port or 5432
        server = PgBouncerServer(port).start()
        return server.url, server.cleanup

    return _session_server(config, _PGBOUNCER, "OOB_TEST_PGBOUNCER_URL", start)
