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
from oob_helper.backoff import BackoffBook, BackoffSchedule
from oob_helper.config import load_settings
from oob_helper.errors import ConfigurationError, InvalidClient, ServerError
from oob_helper.tokens import InstallRecord

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


# -- the schedule, the settings and a store without shared settings (no server needed) -------


def test_the_schedule_starts_at_once_doubles_with_jitter_and_is_capped() -> None:
    schedule = BackoffSchedule(base=30.0, max=3600.0)
    assert [schedule.delay(n, 0.0) for n in (0, 1)] == [0.0, 0.0]
    assert [schedule.delay(n, 1.0) for n in (2, 3, 4, 5)] == [30.0, 60.0, 120.0, 240.0]
    assert [schedule.delay(n, 0.0) for n in (2, 3, 4, 5)] == [15.0, 30.0, 60.0, 120.0]
    assert schedule.delay(40, 1.0) == 3600.0
    assert schedule.delay(10_000, 0.0) == 1800.0  # no overflow far out
    # 0, 0, 15, 45, 105, 225, 465: the seventh attempt is the last within 600 s
    assert schedule.most_attempts(600) == 7
    assert schedule.most_attempts(464) == 6


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, (30.0, 3600.0)),
        ({"OOB_HELPER_REFRESH_BACKOFF_BASE": "1m", "OOB_HELPER_REFRESH_BACKOFF_MAX": "2h"}, (60.0, 7200.0)),
    ],
)
def test_the_back_off_settings(environ: dict[str, str], expected: tuple[float, float]) -> None:
    settings = load_settings(overrides={}, environ=environ, config_file=None, require_client_id=False)
    assert (settings.refresh_backoff_base, settings.refresh_backoff_max) == expected


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"OOB_HELPER_REFRESH_BACKOFF_BASE": "soon"}, "OOB_HELPER_REFRESH_BACKOFF_BASE must be a duration"),
        ({"OOB_HELPER_REFRESH_BACKOFF_BASE": "0"}, "needs 0 < base <= max"),
        (
            {"OOB_HELPER_REFRESH_BACKOFF_BASE": "2h", "OOB_HELPER_REFRESH_BACKOFF_MAX": "1h"},
            "base 7200s and max 3600s",
        ),
    ],
)
def test_a_bad_back_off_setting_names_it_and_the_fix(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(overrides={}, environ=environ, config_file=None, require_client_id=False)
    assert needle in str(raised.value)
    assert "--refresh-backoff-" in str(raised.value)


class SettinglessStore:
    """A third-party store that predates shared settings (only ``get_setting``)."""

    def get_setting(self, name: str) -> str | None:
        return None


def test_a_store_without_set_setting_backs_off_in_this_process() -> None:
    book = BackoffBook(SettinglessStore())
    record = InstallRecord(install="x.example", grant_id="g", version=3)
    assert book.get(record) is None
    book.failed(record, error="server_error", transient=True, now=10.0)
    held = book.failed(record, error="server_error", transient=True, now=10.0)
    assert book.get(record) == held
    assert held.blocks(10.0)
    assert BackoffBook(SettinglessStore()).get(record) is None  # another process knows nothing
