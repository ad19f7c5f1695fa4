"""The lease: a refresher that dies or stalls mid-refresh loses the lock when its lease runs
out, another worker takes over, and the stalled one's late write never lands (fencing)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import Backend, Workers, make_backend

from oob_helper.tokens import InstallRecord, Token

LEASE = "1.0"


@pytest.fixture(params=["redis", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


def _connected(backend: Backend) -> InstallRecord:
    store = backend.open()
    token = Token(access_token="access-1", refresh_token="refresh-1")
    return store.put(
        InstallRecord(install="site.example", token=token, state="connected"), expected_version=None
    )


def _take_over(backend: Backend, expected_version: int) -> InstallRecord:
    """What the next worker does: wait for the lock, re-read, write the rotated pair."""
    store = backend.open()
    with store.lock("site.example", timeout=30, lease=60):
        current = store.get("site.example")
        assert current is not None
        assert current.version == expected_version  # the dead or stalled holder wrote nothing
        token = Token(access_token="access-2", refresh_token="refresh-2")
        return store.put(
            InstallRecord(install="site.example", token=token, state="connected"),
            expected_version=current.version,
        )


def test_holder_killed_mid_refresh_is_replaced_after_its_lease(backend: Backend) -> None:
    first = _connected(backend)
    worker = Workers("refresh", backend.url, [["site.example", LEASE]])
    try:
        worker.wait_ready(f"read {first.version}")
        os.kill(worker.procs[0].pid, signal.SIGKILL)
    finally:
        worker.kill()
    written = _take_over(backend, first.version)
    stored = backend.open().get("site.example")
    assert stored == written
    assert stored is not None
    assert stored.token is not None
    assert stored.token.refresh_token == "refresh-2"


def test_stalled_holder_cannot_overwrite_the_newer_token(backend: Backend) -> None:
    first = _connected(backend)
    worker = Workers("refresh", backend.url, [["site.example", LEASE]])
    proc = worker.procs[0]
    try:
        worker.wait_ready(f"read {first.version}")
        os.kill(proc.pid, signal.SIGSTOP)  # stalls mid-refresh, past its lease
        written = _take_over(backend, first.version)
        os.kill(proc.pid, signal.SIGCONT)
        outputs = worker.go()  # it wakes up and tries to write what it refreshed
    finally:
        worker.kill()
    # It knows it lost the lock (so a real refresher sends nothing more), and its write fails.
    assert outputs[0].split() == ["lease", "lost", "conflict"]
    stored = backend.open().get("site.example")
    assert stored == written
    assert stored is not None
    assert stored.token is not None
    assert stored.token.access_token == "access-2"
