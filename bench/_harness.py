"""Shared plumbing for benchmarks: free ports, uvicorn subprocesses, wrk runs, RSS readings.

Absolute numbers on these machines are noisy, so every benchmark runs its subject and its
baseline side by side, alternating, and reports the ratio of medians.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def compile_packages() -> None:
    """Write both packages' bytecode, as ``pip install`` does for its users.

    An editable install run under ``PYTHONDONTWRITEBYTECODE`` (this project's shells set it)
    would otherwise compile every module of ours again in each process a benchmark starts: a
    start-up cost no installed user pays, and one the baselines (httpx, Starlette, from
    site-packages) never pay. Every benchmark's ``main`` calls this first.
    """
    import compileall  # noqa: PLC0415 - only the benchmarks' mains need it

    for package in ("oob_helper", "mock_server", "bench"):
        compileall.compile_dir(ROOT / package, quiet=1)


def pin(cmd: list[str], cpu: int) -> list[str]:
    """``cmd`` run on one CPU (with taskset), so a server and its load generator never share a
    core: on two cores, the scheduler otherwise moves them together now and then and a single
    run's figure swings by half."""
    if shutil.which("taskset") is None or cpu >= (os.cpu_count() or 1):
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Wait until ``url`` answers at all (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        else:
            return


@contextmanager
def uvicorn_server(
    app: str, *, factory: bool = True, env: dict[str, str] | None = None, cpu: int | None = None
) -> Iterator[tuple[str, int]]:
    """Run ``app`` (``module:attr``) under uvicorn with uvloop and httptools in a subprocess.

    Yields (base URL, pid). One worker, access log off: the same settings for subject and baseline.
    """
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    if factory:
        cmd.append("--factory")
    if cpu is not None:
        cmd = pin(cmd, cpu)
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/")
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    unexpected: int = 0  # answers the script's response() refused, when it prints "Unexpected answers: N"
    output: str = ""  # wrk's whole report (a script's done() may print there)
    socket_error_kinds: tuple[int, int, int, int] = (0, 0, 0, 0)  # connect, read, write, timeout


def require_wrk() -> str:
    """The wrk binary, or a clear message on how to get it."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is missing: apt-get install wrk (scripts/test installs it when run as root)")
    return path


def run_wrk(
    url: str,
    script: Path,
    *,
    threads: int,
    connections: int,
    seconds: float,
    env: dict[str, str] | None = None,
    cpu: int | None = None,
) -> WrkResult:
    """Run wrk with a Lua script against ``url`` and parse its summary."""
    cmd = [
        require_wrk(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        pin(cmd, cpu) if cpu is not None else cmd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = (int(sock[1]), int(sock[2]), int(sock[3]), int(sock[4])) if sock else (0, 0, 0, 0)
    sock_errors = sum(kinds)
    unexpected = re.search(r"Unexpected answers: (\d+)", out)
    return WrkResult(
        rps,
        total,
        int(non2xx_match.group(1)) if non2xx_match else 0,
        sock_errors,
        int(unexpected.group(1)) if unexpected else 0,
        out,
        kinds,
    )


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))
