"""Acceptance: a process killed (SIGKILL) at random moments around a refresh.

Each round a fresh worker process (the real helper, SQLite store) starts refreshing an expired
install while the mock's token endpoint is slowed by a random delay fault, and is killed at a
random moment; every fourth round it is killed instead at the moment the mock has rotated the
pair and not yet answered (the window between the provider's rotation and the store's write is
a millisecond or two, too narrow for random timing to hit in every run). Afterwards the store
must open and hold a consistent pair (the old one, or the new one, never a mix), and the next
call must work, or, only when the provider had already rotated the pair the store still holds
(and no grace window applies), say ReauthorizationRequired and nothing else.
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


@pytest.fixture
def instrumented_mock() -> Iterator[tuple[MockServer, InFlight]]:
    inflight = InFlight(create_app(MockConfig(profile="constantcontact")))
    with MockServer(app=inflight) as mock:
        mock.set_clock(frozen=True)
        yield mock, inflight
        assert mock.errors == []  # a killed client is logged by the mock, not raised


def successful_refreshes(mock: MockServer, since: int) -> int:
    return sum(
        1
        for e in mock.events()
        if e["id"] > since and e.get("grant_type") == "refresh_token" and e.get("status") == 200
    )


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


def run_crashes(
    mock: MockServer,
    inflight: InFlight,
    tmp_path: Path,
    client: tuple[str, str | None],
    kills_wanted: int,
    seed: int,
    must_see: tuple[str, ...] = (),
) -> Counter[str]:
    """Kill ``kills_wanted`` refreshing workers at random moments, and every fourth round one at
    the mock's answer (go on until every ``must_see`` outcome happened, so the kills provably
    straddled the refresh); returns the outcome counts."""
    rng = random.Random(seed)
    target = Target(mock.url, *client)
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    config = {"target": target.to_dict(), "store_url": store_url, "install": INSTALL}
    clock = MutableClock(mock.now())
    seen: Counter[str] = Counter()
    with open_helper(target, store_url, clock) as helper:
        before = connect(mock, helper, INSTALL)
    spare = Worker("crash_worker", config)
    try:
        while seen["killed"] < kills_wanted or any(seen[o] == 0 for o in must_see):
            assert seen["rounds"] < kills_wanted * 3, f"too few kills landed, or outcomes missing: {seen}"
            seen["rounds"] += 1
            worker, spare = spare, Worker("crash_worker", config)  # the next one warms up
            assert worker.receive(120) == {"ready": True}
            clock.now = mock.advance_clock(DAY + 1)
            delay_ms = rng.choice((0, rng.randint(1, 120)))
            if delay_ms:
                mock.add_fault(TOKEN_PATH, delay_ms=delay_ms)
            since = max((int(e["id"]) for e in mock.events()), default=0)
            at_answer = seen["rounds"] % 4 == 0
            if at_answer:  # SIGKILL from the server thread, before the answer's first byte
                pid = worker.proc.pid
                inflight.on_next_answer(TOKEN_PATH, lambda pid=pid: os.kill(pid, signal.SIGKILL))
            worker.send({"now": clock.now})
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(30 if at_answer else rng.uniform(0.0, (delay_ms + 80) / 1000))
            inflight.cancel_answer_hook()
            if at_answer:
                assert worker.proc.returncode == -signal.SIGKILL, "the worker outlived its answer"
                seen["killed at the answer"] += 1
            else:  # only kills at random moments count towards kills_wanted
                seen["killed" if worker.proc.poll() is None else "finished first"] += 1
            worker.kill()
            # An orphaned request may still be inside the mock (in its delay fault): let it
            # finish, or the next call would race it.
            inflight.wait_idle()
            mock.now()
            inflight.wait_idle()
            mock.clear_faults()
            rotated = successful_refreshes(mock, since) > 0

            # The store opens after the kill, in this process, as the next run would open it.
            with open_helper(target, store_url, clock) as helper:
                kept = check_consistent(helper.store.get(INSTALL), before, clock.now)
                seen[kept] += 1
                if rotated and kept == "old pair":
                    seen["rotated but not stored"] += 1
                try:
                    token = helper.get_token(INSTALL)
                except ReauthorizationRequired:
                    # Only legitimate when the provider rotated and the store kept the old pair.
                    assert rotated, f"round {seen['rounds']}: reauthorization without a rotation"
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


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_killed_refreshes_leave_a_consistent_store(
    instrumented_mock: tuple[MockServer, InFlight], tmp_path: Path
) -> None:
    mock, inflight = instrumented_mock
    seen = run_crashes(
        mock,
        inflight,
        tmp_path,
        ("demo-public", None),
        100,
        seed=3,
        must_see=("old pair", "new pair", "rotated but not stored"),
    )
    assert seen["killed"] >= 100
    # A kill at the answer always lands after the rotation and before the store's write.
    assert seen["rotated but not stored"] >= seen["killed at the answer"] > 0, seen
    # Without grace, exactly the rounds whose rotation was lost need a person again.
    assert seen["reauthorization required"] == seen["rotated but not stored"], seen
    assert seen["next call works"] == seen["rounds"] - seen["reauthorization required"], seen


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_with_a_grace_window_a_killed_refresh_never_needs_reauthorization(
    instrumented_mock: tuple[MockServer, InFlight], tmp_path: Path
) -> None:
    mock, inflight = instrumented_mock
    mock.add_client("graceful", None, [OOB], refresh_policy={"grace_seconds": 600})
    seen = run_crashes(
        mock,
        inflight,
        tmp_path,
        ("graceful", None),
        30,
        seed=7,
        must_see=("new pair", "rotated but not stored"),
    )
    assert seen["rotated but not stored"] >= seen["killed at the answer"] > 0, seen
    assert seen["reauthorization required"] == 0, seen
    assert seen["next call works"] == seen["rounds"], seen
