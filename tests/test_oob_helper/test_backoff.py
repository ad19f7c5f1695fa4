"""The shared refresh back-off (oob_helper/backoff.py) against the live mock, in one process.

The helper's clock follows the mock's (frozen) clock; failures come from the mock's faults. A
second helper on the same SQLite store stands for another worker or host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers.common import MutableClock, Target, connect, open_helper

from mock_server import MockServer
from oob_helper import LifecycleEvent, OAuthHelper, RefreshBackedOff
from oob_helper.errors import InvalidClient, ServerError

INSTALL = "backoff.example"
TOKEN_PATH = "/oauth2/token"
INVALID_CLIENT = {"error": "invalid_client", "error_description": "client authentication failed"}


@pytest.fixture
def mock(mock_aweber: MockServer) -> MockServer:
    mock_aweber.set_clock(frozen=True)
    return mock_aweber


@pytest.fixture
def helpers(mock: MockServer, tmp_path: Path) -> Iterator[tuple[OAuthHelper, OAuthHelper]]:
    """Two helpers (two workers) on one SQLite store, the install connected by the first."""
    target = Target(mock.url, "demo-confidential", "demo-secret", profile="aweber")
    clock = MutableClock(mock.now())
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    first, second = open_helper(target, url, clock), open_helper(target, url, clock)
    try:
        connect(mock, first, INSTALL)
        yield first, second
    finally:
        first.close()
        second.close()


def clock_of(helper: OAuthHelper) -> MutableClock:
    clock = helper.clock
    assert isinstance(clock, MutableClock)
    return clock


def token_requests(mock: MockServer, since: int) -> int:
    return sum(1 for e in mock.events(since) if e["path"] == TOKEN_PATH and e["method"] == "POST")


def last_event_id(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


def expire(helper: OAuthHelper, by: float = 1.0) -> None:
    token = helper.status(INSTALL).token
    assert token is not None
    assert token.expires_at is not None
    clock_of(helper).now = token.expires_at + by


def failing(mock: MockServer, helper: OAuthHelper, **fault: Any) -> int:
    """Expire the stored token and arm the token path's fault; the mock's last event id."""
    expire(helper)
    mock.add_fault(TOKEN_PATH, **fault)
    return last_event_id(mock)


def fail_twice(mock: MockServer, helper: OAuthHelper) -> None:
    """The first failure, and the retry the schedule lets through at once."""
    for _ in range(2):
        with pytest.raises(ServerError):
            helper.get_token(INSTALL)


def test_a_still_valid_token_keeps_working_and_no_refresh_is_sent(
    mock: MockServer, helpers: tuple[OAuthHelper, OAuthHelper]
) -> None:
    first, second = helpers
    record = first.status(INSTALL)
    assert record.token is not None
    assert record.token.expires_at is not None
    clock_of(first).now = record.token.expires_at - 60  # within the leeway, not expired
    mock.add_fault(TOKEN_PATH, status=500, count=100)
    since = last_event_id(mock)
    fail_twice(mock, first)
    for helper in (first, second, first, second):
        assert helper.get_token(INSTALL).access_token == record.token.access_token
    with second.client(INSTALL) as api:
        assert api.get("/accounts").status_code == 200
    assert token_requests(mock, since) == 2
    assert first.status(INSTALL) == record  # a failure changes no record


def test_an_expired_token_fails_fast_until_the_next_attempt_then_recovers(
    mock: MockServer, helpers: tuple[OAuthHelper, OAuthHelper]
) -> None:
    first, second = helpers
    events: list[LifecycleEvent] = []
    first.subscribe(events.append)
    since = failing(mock, first, status=500, count=100)
    fail_twice(mock, first)
    now = clock_of(first).now
    failed = [e for e in events if e.kind == "refresh_failed"]
    assert [(e.attempts, e.transient) for e in failed] == [(1, True), (2, True)]
    assert failed[0].next_attempt_at == now  # the first retry goes at once
    next_at = failed[1].next_attempt_at
    assert next_at is not None
    assert now + 15 <= next_at <= now + 30
    with pytest.raises(RefreshBackedOff, match="next attempt is allowed in") as info:
        second.get_token(INSTALL)  # another worker: the back-off is in the store
    assert info.value.next_attempt_at == next_at
    assert not info.value.permanent
    with second.client(INSTALL) as api, pytest.raises(RefreshBackedOff):
        api.get("/accounts")
    outcome = second.refresh(INSTALL)  # as `refresh --all` does
    assert outcome.result == "backed_off"
    assert outcome.error is not None
    assert "next attempt is allowed" in outcome.error
    assert token_requests(mock, since) == 2
    mock.clear_faults()
    clock_of(first).now = next_at - 0.5
    with pytest.raises(RefreshBackedOff):
        first.get_token(INSTALL)
    clock_of(first).now = next_at
    fresh = second.get_token(INSTALL)
    assert first.get_token(INSTALL) == fresh
    assert token_requests(mock, since) == 3  # one refresh for both workers
    assert first.status(INSTALL).last_refresh_at == next_at


def test_a_permanent_failure_holds_every_refresh_until_a_person_acts(
    mock: MockServer, helpers: tuple[OAuthHelper, OAuthHelper]
) -> None:
    first, second = helpers
    events: list[LifecycleEvent] = []
    first.subscribe(events.append)
    since = failing(mock, first, status=401, body=INVALID_CLIENT, count=1)
    with pytest.raises(InvalidClient):
        first.get_token(INSTALL)
    (failed,) = [e for e in events if e.kind == "refresh_failed"]
    assert (failed.transient, failed.next_attempt_at, failed.attempts) == (False, None, 1)
    clock_of(first).now += 30 * 86400  # no amount of waiting lifts it
    for helper in (first, second):
        with pytest.raises(RefreshBackedOff, match="until a person acts") as info:
            helper.get_token(INSTALL)
        assert info.value.permanent
        assert info.value.next_attempt_at is None
        assert helper.refresh(INSTALL).result == "backed_off"
    assert token_requests(mock, since) == 1
    # A person forces this install (`refresh --install`, "Refresh now"): it is sent.
    assert second.refresh(INSTALL, override_backoff=True).result == "refreshed"
    assert token_requests(mock, since) == 2
    assert first.get_token(INSTALL).access_token == second.status(INSTALL).token.access_token  # type: ignore[union-attr]


def test_a_reconnect_ends_a_permanent_back_off(
    mock: MockServer, helpers: tuple[OAuthHelper, OAuthHelper]
) -> None:
    first, second = helpers
    expire(first)
    mock.add_fault(TOKEN_PATH, status=401, body=INVALID_CLIENT, count=1)
    with pytest.raises(InvalidClient):
        first.get_token(INSTALL)
    with pytest.raises(RefreshBackedOff):
        second.get_token(INSTALL)
    mock.set_clock(clock_of(first).now)
    connect(mock, second, INSTALL)  # a person connects again
    expire(first)
    since = last_event_id(mock)
    assert first.get_token(INSTALL).access_token == second.get_token(INSTALL).access_token
    assert token_requests(mock, since) == 1  # refreshed freely again, once
