"""Test-side plumbing: a pool of worker subprocesses spoken to in JSON lines, and a TCP gate.

Every process is bounded by timeouts and killed on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

# Workers run as ``python -m workers.<module>`` from here, so ``workers`` imports the same way
# in them as in the tests.
TESTS_DIR = Path(__file__).resolve().parent.parent


class Worker:
    """One subprocess; lines it prints are read by a thread into a queue."""

    def __init__(self, module: str, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"workers.{module}", json.dumps(config)],
            cwd=TESTS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # the stream was closed under us
            for line in self.proc.stdout:
                self.lines.put(line)
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker {self.proc.pid} said nothing for {timeout}s") from None
        if line is None:
            raise AssertionError(f"worker {self.proc.pid} ended with exit code {self.proc.wait(5)}")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"quit": True})
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        # The process has ended, so its stdout reaches end of file and the reader stops: wait for
        # it before closing the stream it reads (closing first raced it: "I/O on closed file").
        self._reader.join(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class Pool:
    """``count`` long-lived workers of one module."""

    def __init__(self, module: str, config: dict[str, Any], count: int) -> None:
        self.workers: list[Worker] = []
        try:
            for _ in range(count):
                self.workers.append(Worker(module, config))
            for worker in self.workers:
                assert worker.receive(120) == {"ready": True}
        except BaseException:
            self.close()
            raise

    def broadcast(self, message: dict[str, Any]) -> None:
        for worker in self.workers:
            worker.send(message)

    def gather(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        return [worker.receive(timeout) for worker in self.workers]

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Gate:
    """A start line across processes: callers connect and block until ``open`` releases all."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(60)
        self.port: int = self.sock.getsockname()[1]

    def open(self, callers: int) -> None:
        """Wait until ``callers`` are waiting, then release them together."""
        waiting = [self.sock.accept()[0] for _ in range(callers)]
        try:
            for conn in waiting:
                conn.sendall(b"g")
        finally:
            for conn in waiting:
                conn.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sock.close()
