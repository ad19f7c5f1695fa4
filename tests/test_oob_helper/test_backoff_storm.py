"""Acceptance (issue 13, item 5): a failing token endpoint is not hammered by a deployment.

The live mock's token path answers 500 for 10 minutes of mock time. 8 long-lived worker
processes (each 2 threads asking OAuthHelper.get_token and 1 asyncio task calling the API
through the helper's async client) ask for the expired install's token every 10 s of mock
time, all at once through a TCP gate. The shared back-off in the SQLite store lets through at
most the attempts the schedule allows, counted from the mock's request log; every caller gets
either the provider's error (the one that sent the attempt) or RefreshBackedOff (no request).
When the fault ends they recover on their own, with one refresh.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_race import cc_mock  # noqa: F401 - the fixture
from workers.common import MutableClock, Target, connect, open_helper
from workers.pool import Gate, Pool

from mock_server.runner import MockServer
from oob_helper.backoff import BackoffSchedule

INSTALL = "backoff.example"
PROCESSES = 8
THREADS = 2
TASKS = 1
CALLERS = PROCESSES * (THREADS + TASKS)
DAY = 86400  # the constantcontact profile's access-token lifetime
TOKEN_PATH = "/oauth2/default/v1/token"
FAULT_SECONDS = 600
STEP = 10


def token_requests(mock: MockServer, since: int) -> int:
    return sum(1 for e in mock.events(since) if e["path"] == TOKEN_PATH and e["method"] == "POST")


def last_event_id(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_eight_processes_back_off_together_and_recover(cc_mock: MockServer, tmp_path: Path) -> None:  # noqa: F811
    mock = cc_mock
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    target = Target(mock.url, "demo-public", None)
    clock = MutableClock(mock.now())
    schedule = BackoffSchedule()  # the default the workers use
    allowed = schedule.most_attempts(FAULT_SECONDS)
    with open_helper(target, store_url, clock) as helper, Gate() as gate:
        connect(mock, helper, INSTALL)
        config = {
            "target": target.to_dict(),
            "store_url": store_url,
            "install": INSTALL,
            "threads": THREADS,
            "tasks": TASKS,
            "api_path": "/account/summary",
            "gate_port": gate.port,
        }
        with Pool("race_worker", config, PROCESSES) as pool:

            def storm() -> list[dict[str, str]]:
                pool.broadcast({"now": clock.now})
                gate.open(CALLERS)
                results = [r for answer in pool.gather() for r in answer["results"]]
                assert len(results) == CALLERS
                return results

            clock.now = mock.advance_clock(DAY + 1)  # the stored token is now expired
            fault_started = clock.now
            before = helper.status(INSTALL)
            mock.add_fault(TOKEN_PATH, count=100_000, status=500)
            since = last_event_id(mock)
            sent_errors = 0
            while clock.now - fault_started < FAULT_SECONDS:
                results = storm()
                errors = [r["error"] for r in results if "error" in r]
                assert len(errors) == CALLERS, "no caller may get a token while the provider fails"
                sent = [e for e in errors if "HTTP 500" in e]
                held = [e for e in errors if e.startswith("RefreshBackedOff: ")]
                assert len(sent) + len(held) == CALLERS, errors
                assert all("next attempt is allowed" in e for e in held)
                sent_errors += len(sent)
                clock.now = mock.advance_clock(STEP)
            attempts = token_requests(mock, since)
            # The first retry goes at once, then the schedule's waits hold the whole deployment.
            assert 2 <= attempts <= allowed, f"{attempts} refresh attempts, the schedule allows {allowed}"
            assert sent_errors == attempts  # each attempt reached exactly one caller
            assert helper.status(INSTALL) == before  # a failure changes no record

            mock.clear_faults()  # the provider is back
            since = last_event_id(mock)
            recovered_after = None
            for _ in range(int(schedule.max / STEP) + 2):
                results = storm()
                if all("token" in r for r in results):
                    recovered_after = clock.now - fault_started - FAULT_SECONDS
                    break
                assert all(r["error"].startswith("RefreshBackedOff: ") for r in results if "error" in r)
                clock.now = mock.advance_clock(STEP)
            assert recovered_after is not None, "the workers did not recover on their own"
            assert len({r["token"] for r in results}) == 1
            assert token_requests(mock, since) == 1  # one refresh, for everyone
            assert target.api_works(results[0]["token"])
