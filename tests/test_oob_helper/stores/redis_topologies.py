"""Throwaway Redis topologies on loopback: a 3-primary Cluster, and a primary with one replica
watched by three Sentinels (optionally with the replication link through a ``LinkProxy`` the
test can hold, to open the window in which an unreplicated write is lost).

Every process runs in a temporary directory and is stopped by ``cleanup()``. A missing binary
fails the test with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .servers import REDIS_SERVER, free_port

REDIS_CLI = os.environ.get("OOB_TEST_REDIS_CLI", "redis-cli")
REDIS_SENTINEL = os.environ.get("OOB_TEST_REDIS_SENTINEL", "redis-sentinel")
MASTER = "oobmaster"


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is missing: install it with `apt-get install {package}` "
            "(scripts/test does this when run as root)"
        )
    return found


def poll(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for a server-side state change that offers no event to wait on (cluster state, a
    Sentinel's view): poll it, failing with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _cluster_port() -> int:
    # The cluster bus listens on port + 10000: both must be free.
    while True:
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as sock, contextlib.suppress(OSError):
                sock.bind(("127.0.0.1", port + 10000))
                return port


class _Processes:
    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, port: int, argv: list[str]) -> None:
        self.procs[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            if self.procs[port].poll() is not None:
                raise RuntimeError(f"{argv[0]} on port {port} exited while starting")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not listen on port {port}") from None
                time.sleep(0.02)

    def cli(self, port: int, *args: str) -> str:
        result = subprocess.run(
            [_binary(REDIS_CLI, "redis-tools"), "-p", str(port), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return result.stdout + result.stderr

    def kill(self, port: int) -> None:
        """SIGKILL: the server dies with whatever it has not sent yet."""
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def cleanup(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterServers(_Processes):
    """Three primaries (no replicas), slots spread by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        binary = _binary(REDIS_SERVER, "redis-server")
        super().__init__("oob-cluster-")
        try:
            self._start(binary)
        except BaseException:
            self.cleanup()
            raise

    def _start(self, binary: str) -> None:
        self.ports = [_cluster_port() for _ in range(3)]
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.spawn(
                port,
                [
                    *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                    *("--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf")),
                    *("--cluster-node-timeout", "2000", "--dir", str(node_dir)),
                ],
            )
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        out = self.cli(self.ports[0], *("--cluster", "create", *nodes, "--cluster-yes"))
        if "[OK] All 16384 slots covered" not in out:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out}")
        for port in self.ports:
            poll(lambda p=port: "cluster_state:ok" in self.cli(p, "cluster", "info"), "the cluster")

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)


class LinkProxy:
    """A TCP relay for the replication link; ``hold()`` stops relaying primary -> replica
    (bytes are kept back, as on a congested network), ``drop()`` discards what was held."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._stopped = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self._open.clear()

    def drop(self) -> None:
        """Close every relayed connection without passing on what was held."""
        self._stopped = True
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._open.set()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_primary: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_primary:
                    self._open.wait()
                if self._stopped:
                    return
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.drop()
        self.listener.close()


class SentinelServers(_Processes):
    """A primary, one replica (through a ``LinkProxy`` unless ``through_proxy=False``) and three
    Sentinels watching them."""

    def __init__(self, *, password: str | None = None, through_proxy: bool = True) -> None:
        binary = _binary(REDIS_SERVER, "redis-server")
        sentinel = _binary(REDIS_SENTINEL, "redis-sentinel")
        super().__init__("oob-sentinel-")
        self.password = password
        self.through_proxy = through_proxy  # off: the replica links to the primary directly
        self.proxy: LinkProxy | None = None
        try:
            self._start(binary, sentinel)
        except BaseException:
            self.cleanup()
            raise

    def _start(self, binary: str, sentinel: str) -> None:
        password = self.password
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        self.primary, self.replica = free_port(), free_port()
        base = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *auth]
        self.spawn(self.primary, [*base, "--port", str(self.primary), "--dir", str(self.dir)])
        link_port = self.primary
        if self.through_proxy:
            self.proxy = LinkProxy(self.primary)
            link_port = self.proxy.port
        replica_of = ("--replicaof", "127.0.0.1", str(link_port))
        self.spawn(self.replica, [*base, "--port", str(self.replica), "--dir", str(self.dir), *replica_of])
        poll(lambda: "master_link_status:up" in self._cli(self.replica, "info", "replication"), "replica")
        self.sentinels = [free_port() for _ in range(3)]
        for port in self.sentinels:
            conf = self.dir / f"sentinel-{port}.conf"
            # A long failover-timeout: after twice that, a Sentinel "fixes" a replica whose
            # primary is not the one it monitors (ours replicates through the proxy).
            lines = [
                f"port {port}",
                "bind 127.0.0.1",
                f"dir {self.dir}",
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary} 2",
                f"sentinel down-after-milliseconds {MASTER} 1000",
                f"sentinel failover-timeout {MASTER} 60000",
            ]
            if password:
                lines.append(f"sentinel auth-pass {MASTER} {password}")
            conf.write_text("\n".join(lines) + "\n")
            self.spawn(port, [sentinel, str(conf)])
        for port in self.sentinels:
            poll(lambda p=port: self._sentinels_see_each_other(p), "the Sentinels to find each other")

    def _cli(self, port: int, *args: str) -> str:
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        return self.cli(port, *auth, *args)

    def _sentinels_see_each_other(self, port: int) -> bool:
        out = self.cli(port, "sentinel", "master", MASTER).split()
        fields = dict(zip(out[::2], out[1::2], strict=False))
        return fields.get("num-other-sentinels") == "2" and fields.get("num-slaves") == "1"

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL of the monitored primary."""
        auth = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{auth}{hosts}/{MASTER}"

    def kill_primary_and_wait_for_failover(self) -> None:
        """SIGKILL the primary; return once every Sentinel names the replica as primary."""
        self.kill(self.primary)
        if self.proxy is not None:
            self.proxy.drop()  # what the link held back is lost with the primary
        for port in self.sentinels:
            poll(
                lambda p=port: (
                    str(self.replica) in self.cli(p, "sentinel", "get-master-addr-by-name", MASTER)
                ),
                "the failover",
            )
        poll(lambda: "role:master" in self._cli(self.replica, "info", "replication"), "the promotion")

    def cleanup(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        super().cleanup()
