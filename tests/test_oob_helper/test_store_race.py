"""Acceptance (issue 5): the cross-process refresh storm against Redis and PostgreSQL.

The same storm as test_race.py (which runs on SQLite): 8 worker processes standing in for
separate hosts, each with 4 threads and 4 asyncio tasks, ask for a token on one expired install
at the same moment, against the mock's rotating constantcontact profile (single-use refresh
tokens with reuse detection). Exactly one refresh per storm reaches the provider; 50 storms per
backend.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import Backend, make_backend
from test_race import DAY, INSTALL, PROCESSES, STORMS, TASKS, THREADS, last_event_id, refresh_events
from workers.common import MutableClock, Target, connect, open_helper
from workers.pool import Gate, Pool

from mock_server.config import MockConfig
from mock_server.runner import MockServer


@pytest.fixture
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        mock.set_clock(frozen=True)
        yield mock
        mock.check_errors()


@pytest.fixture(params=["redis", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_storm_reaches_the_provider_exactly_once(cc_mock: MockServer, backend: Backend) -> None:
    target = Target(cc_mock.url, "demo-public", None)
    clock = MutableClock(cc_mock.now())
    with open_helper(target, backend.url, clock) as helper, Gate() as gate:
        connect(cc_mock, helper, INSTALL)
        config = {
            "target": target.to_dict(),
            "store_url": backend.url,
            "install": INSTALL,
            "threads": THREADS,
            "tasks": TASKS,
            "api_path": "/account/summary",
            "gate_port": gate.port,
        }
        with Pool("race_worker", config, PROCESSES) as pool:
            for storm in range(STORMS):
                before = helper.status(INSTALL)
                clock.now = cc_mock.advance_clock(DAY + 1)  # the stored token is now expired
                since = last_event_id(cc_mock)
                pool.broadcast({"now": clock.now})
                gate.open(PROCESSES * (THREADS + TASKS))
                results = [r for answer in pool.gather() for r in answer["results"]]
                assert len(results) == PROCESSES * (THREADS + TASKS)
                assert [r["error"] for r in results if "error" in r] == [], f"storm {storm}"
                tokens = {r["token"] for r in results}
                assert len(tokens) == 1, f"storm {storm}: callers got {len(tokens)} different tokens"
                refreshes = refresh_events(cc_mock, since)
                assert len(refreshes) == 1, f"storm {storm}: {len(refreshes)} refreshes reached the server"
                (token,) = tokens
                assert target.api_works(token), f"storm {storm}: the shared token is refused"
                after = helper.status(INSTALL)
                assert after.token is not None
                assert after.token.access_token == token
                assert after.version == before.version + 1
                assert before.token is not None
                assert after.token.refresh_token != before.token.refresh_token
        outcome = helper.refresh(INSTALL)
        assert (outcome.result, outcome.error) == ("refreshed", None)
