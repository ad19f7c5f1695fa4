"""Acceptance: a process killed (SIGKILL) at every phase of a refresh, on every shared backend.

Each round a fresh worker process (the real helper and store) refreshes an expired install
against the live mock and is killed at one phase, chosen by instrumentation rather than luck:

- ``locked``: inside the refresh lock, before the token request (a marker in the worker);
- ``request arrival``: when the mock receives the request, which a delay fault then holds;
- ``answer``: the mock has rotated the pair and is about to send it (a hook in the mock);
- ``before write``: the worker has the new pair and has not written it (a marker in the worker);
- ``after write``: the record is written, the lock still held (a marker in the worker);
- ``random``: at a random moment, under a random delay fault.

Afterwards every kill is put in the phase where it landed, from what the mock logged and what
the store holds: before the request, request sent but not rotated, the critical window (the
provider rotated and the store kept the old pair), after the write, or the worker finished
first. The store must open and hold a consistent pair (the old one or the new one, never a mix),
and the next call must work, or say ReauthorizationRequired and nothing else exactly when the
provider had rotated the pair the store still holds (and no grace window applies). The test
prints the count per phase and asserts the minimum of critical-window kills per backend.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from stores.backends import make_backend
from workers.common import MutableClock, Target, connect, open_helper
from workers.instrumented import InFlight
from workers.pool import Worker

from mock_server.app import create_app
from mock_server.config import MockConfig
from mock_server.runner import MockServer
from oob_helper.errors import ReauthorizationRequired
from oob_helper.tokens import InstallRecord

INSTALL = "crash.example"
OOB = "urn:ietf:wg:oauth:2.0:oob"
TOKEN_PATH = "/oauth2/default/v1/token"
DAY = 86400
CRITICAL = "critical: rotated, not stored"
WORKER_PHASES = ("locked", "before write", "after write")
MARKERS = {"locked": "locked", "before write": "answered", "after write": "written"}


@pytest.fixture
def instrumented_mock() -> Iterator[tuple[MockServer, InFlight]]:
    inflight = InFlight(create_app(MockConfig(profile="constantcontact")))
    with MockServer(app=inflight) as mock:
        mock.set_clock(frozen=True)
        yield mock, inflight
        assert mock.errors == []  # a killed client is logged by the mock, not raised


def token_requests(mock: MockServer, since: int) -> list[dict[str, object]]:
    return [e for e in mock.events() if e["id"] > since and e["path"] == TOKEN_PATH]


def check_consistent(record: InstallRecord | None, before: InstallRecord, now: float) -> str:
    """The record the killed worker left: the old pair untouched, or a whole new one."""
    assert record is not None, "the record vanished"
    assert record.state == "connected"
    assert record.token is not None
    assert before.token is not None
    if record.version == before.version:
        assert record == before
        return "old pair"
    assert record.version == before.version + 1
    assert record.token.access_token != before.token.access_token
    assert record.token.refresh_token not in (None, before.token.refresh_token)
    assert record.token.expires_at is not None
    assert record.token.expires_at > now
    assert record.last_refresh_at == now
    return "new pair"


def schedule(critical: int, others: int, seed: int) -> list[str]:
    """The kill phases of a run, shuffled: ``critical`` kills split between the mock's answer and
    the worker's write, ``others`` at each other phase."""
    phases = ["answer"] * (critical - critical // 2) + ["before write"] * (critical // 2)
    phases += ["locked", "request arrival", "after write", "random"] * others
    random.Random(seed).shuffle(phases)
    return phases


def run_crashes(
    mock: MockServer,
    inflight: InFlight,
    store_url: str,
    client: tuple[str, str | None],
    phases: list[str],
    seed: int,
) -> Counter[str]:
    """One round per entry of ``phases``; returns the counts of where kills landed and of what
    followed."""
    rng = random.Random(seed)
    target = Target(mock.url, *client)
    config = {"target": target.to_dict(), "store_url": store_url, "install": INSTALL, "lease": 0.5}
    clock = MutableClock(mock.now())
    seen: Counter[str] = Counter()
    with open_helper(target, store_url, clock) as helper:
        before = connect(mock, helper, INSTALL)
    spare = Worker("crash_worker", config)
    try:
        for phase in phases:
            seen["rounds"] += 1
            worker, spare = spare, Worker("crash_worker", config)  # the next one warms up
            assert worker.receive(120) == {"ready": True}
            clock.now = mock.advance_clock(DAY + 1)
            delay_ms = {"request arrival": 200, "random": rng.choice((0, rng.randint(1, 120)))}.get(phase, 0)
            if delay_ms:
                mock.add_fault(TOKEN_PATH, delay_ms=delay_ms)
            since = max((int(e["id"]) for e in mock.events()), default=0)
            pid = worker.proc.pid

            def kill(pid: int = pid) -> None:
                os.kill(pid, signal.SIGKILL)

            if phase == "answer":  # from the server thread, before the answer's first byte
                inflight.on_next_answer(TOKEN_PATH, kill)
            elif phase == "request arrival":
                inflight.on_next_request(TOKEN_PATH, kill)
            command: dict[str, object] = {"now": clock.now}
            if phase in WORKER_PHASES:
                command["stop_at"] = MARKERS[phase]
            worker.send(command)
            if phase in WORKER_PHASES:
                assert worker.receive(60) == {"at": MARKERS[phase]}
                kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(30 if phase != "random" else rng.uniform(0.0, (delay_ms + 80) / 1000))
            inflight.cancel_answer_hook()
            killed = worker.proc.poll() is None or worker.proc.returncode == -signal.SIGKILL
            if phase != "random":
                assert worker.proc.returncode == -signal.SIGKILL, f"the worker outlived phase {phase}"
            worker.kill()
            # An orphaned request may still be inside the mock (in its delay fault): let it
            # finish, or the next call would race it.
            inflight.wait_idle()
            mock.now()
            inflight.wait_idle()
            mock.clear_faults()
            requests = token_requests(mock, since)
            rotated = any(e.get("grant_type") == "refresh_token" and e.get("status") == 200 for e in requests)

            # The store opens after the kill, in this process, as the next run would open it.
            with open_helper(target, store_url, clock) as helper:
                kept = check_consistent(helper.store.get(INSTALL), before, clock.now)
                if not killed:
                    landed = "finished first"
                elif kept == "new pair":
                    landed = "after the write"
                elif rotated:
                    landed = CRITICAL
                else:
                    landed = "request sent, not rotated" if requests else "before the request"
                seen[f"kill at {phase}"] += 1
                seen[f"landed {landed}"] += 1
                expected = {
                    "locked": "before the request",
                    "request arrival": "request sent, not rotated",
                    "answer": CRITICAL,
                    "before write": CRITICAL,
                    "after write": "after the write",
                }
                if phase in expected:
                    assert landed == expected[phase], f"round {seen['rounds']}: {phase} landed {landed}"
                try:
                    token = helper.get_token(INSTALL)
                except ReauthorizationRequired:
                    # Only legitimate when the provider rotated and the store kept the old pair.
                    assert landed == CRITICAL, f"round {seen['rounds']}: reauthorization after {landed}"
                    assert helper.status(INSTALL).state == "reauthorization_required"
                    seen["reauthorization required"] += 1
                    before = connect(mock, helper, INSTALL)
                    continue
                assert target.api_works(token.access_token), f"round {seen['rounds']}: token refused"
                seen["next call works"] += 1
                before = helper.status(INSTALL)
    finally:
        spare.kill()
    return seen


def report(request: pytest.FixtureRequest, seen: Counter[str]) -> None:
    """Show where the kills landed, on the terminal even when output is captured."""
    line = f"{request.node.name}: " + "; ".join(f"{name}: {n}" for name, n in sorted(seen.items()))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + line)


# Critical-window kills per backend (SQLite is the default store; the shared ones get fewer to
# keep the run short), and kills at each other phase.
MINIMUMS = [("sqlite", 100, 3), ("redis", 30, 2), ("postgresql", 30, 2)]


@pytest.mark.slow
@pytest.mark.timeout(280)
@pytest.mark.parametrize(("backend", "critical", "others"), MINIMUMS, ids=[m[0] for m in MINIMUMS])
def test_killed_refreshes_leave_a_consistent_store(
    instrumented_mock: tuple[MockServer, InFlight],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
    critical: int,
    others: int,
) -> None:
    mock, inflight = instrumented_mock
    store = make_backend(backend, tmp_path, request)
    phases = schedule(critical, others, seed=3)
    seen = run_crashes(mock, inflight, store.url, ("demo-public", None), phases, seed=3)
    report(request, seen)
    assert seen[f"landed {CRITICAL}"] >= critical, seen
    for landed in ("before the request", "request sent, not rotated", "after the write"):
        assert seen[f"landed {landed}"] >= others, seen
    # Without grace, exactly the rounds whose rotation was lost need a person again.
    assert seen["reauthorization required"] == seen[f"landed {CRITICAL}"], seen
    assert seen["next call works"] == seen["rounds"] - seen["reauthorization required"], seen


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_with_a_grace_window_a_killed_refresh_never_needs_reauthorization(
    instrumented_mock: tuple[MockServer, InFlight], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    mock, inflight = instrumented_mock
    mock.add_client("graceful", None, [OOB], refresh_policy={"grace_seconds": 600})
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    seen = run_crashes(mock, inflight, store_url, ("graceful", None), schedule(12, 1, seed=7), seed=7)
    report(request, seen)
    assert seen[f"landed {CRITICAL}"] >= 12, seen
    assert seen["reauthorization required"] == 0, seen
    assert seen["next call works"] == seen["rounds"], seen
