"""Acceptance: a storm of processes and threads on one expired install makes one refresh.

8 long-lived worker processes, each with 4 threads and 4 asyncio tasks, pass a TCP gate
together and ask the real helper for a token (threads: OAuthHelper.get_token; tasks: an API
call through the helper's async client and its httpx.Auth), against the live mock's
constantcontact profile, whose refresh tokens are single use with reuse detection: a second
refresh with the same token would revoke the whole grant and fail the storm. Repeated 50 times
in one run with the SQLite store; test_store_race.py runs the same storms on Redis and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers.common import MutableClock, Target, connect, open_helper
from workers.pool import Gate, Pool

from mock_server.config import MockConfig
from mock_server.runner import MockServer

INSTALL = "race.example"
PROCESSES = 8
THREADS = 4
TASKS = 4
STORMS = 50
DAY = 86400  # the constantcontact profile's access-token lifetime
TOKEN_PATH = "/oauth2/default/v1/token"  # the constantcontact profile's token endpoint


@pytest.fixture
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        mock.set_clock(frozen=True)
        yield mock
        mock.check_errors()


def last_event_id(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


def refresh_events(mock: MockServer, since: int) -> list[dict[str, Any]]:
    return [e for e in mock.events() if e["id"] > since and e.get("grant_type") == "refresh_token"]


def run_storms(
    mock: MockServer, store_url: str, storms: int, *, lease: float | None = None, hold_ms: int | None = None
) -> None:
    """``storms`` storms on one install; every assertion of the module docstring, each time.

    ``hold_ms`` holds each storm's refresh in the mock that long (a delay fault), and ``lease``
    gives the workers' lock a lease that short: a refresh outliving its lease must keep the lock
    (it is renewed), so still only one refresh reaches the provider.
    """
    target = Target(mock.url, "demo-public", None)
    clock = MutableClock(mock.now())
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
            "lease": lease,
        }
        with Pool("race_worker", config, PROCESSES) as pool:
            for storm in range(storms):
                before = helper.status(INSTALL)
                clock.now = mock.advance_clock(DAY + 1)  # the stored token is now expired
                since = last_event_id(mock)
                if hold_ms is not None:
                    mock.add_fault(TOKEN_PATH, count=1, delay_ms=hold_ms)
                pool.broadcast({"now": clock.now})
                gate.open(PROCESSES * (THREADS + TASKS))
                results = [r for answer in pool.gather() for r in answer["results"]]
                assert len(results) == PROCESSES * (THREADS + TASKS)

                assert [r["error"] for r in results if "error" in r] == [], f"storm {storm}"
                tokens = {r["token"] for r in results}
                assert len(tokens) == 1, f"storm {storm}: callers got {len(tokens)} different tokens"
                refreshes = refresh_events(mock, since)
                assert len(refreshes) == 1, f"storm {storm}: {len(refreshes)} refreshes reached the server"
                (token,) = tokens
                assert target.api_works(token), f"storm {storm}: the shared token is refused"
                after = helper.status(INSTALL)
                assert after.token is not None
                assert after.token.access_token == token
                assert after.last_refresh_at == clock.now
                assert after.version == before.version + 1
                assert before.token is not None
                assert after.token.refresh_token != before.token.refresh_token
        # The store holds the newest pair: its refresh token is the one the provider accepts.
        outcome = helper.refresh(INSTALL)
        assert (outcome.result, outcome.error) == ("refreshed", None)


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_every_storm_reaches_the_provider_exactly_once(cc_mock: MockServer, tmp_path: Path) -> None:
    run_storms(cc_mock, f"sqlite:///{tmp_path / 'tokens.db'}", STORMS)
