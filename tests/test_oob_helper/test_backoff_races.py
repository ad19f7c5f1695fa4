"""Races of the back-off's write (a failed refresh) with refresh success, reconnect, disconnect.

Two workers share one SQLite store (each its own connection, lock and coordinator): worker A
reaches the provider through a path that fails (pytest-httpserver answering 500 at the token
endpoint), worker B through the live mock. Each round A's first failure is made before the race
(so A's second, raced one leaves a long back-off: the schedule's base is a day here), then A's
refresh and B's transition start together from a barrier, in whatever order the scheduler
picks. Whatever the order, afterwards no back-off from A's failures holds B's newer record: once
the current access token expires, the next call sends exactly one refresh and gets a token.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from workers.common import MutableClock, connect

from mock_server import MockServer
from oob_helper import AWEBER, NotConnected, OAuthHelper, RefreshBackedOff, Settings, open_store
from oob_helper.errors import ServerError

INSTALL = "race.example"
ROUNDS = 8
DAY = 86400.0


@pytest.fixture
def mock(mock_aweber: MockServer) -> MockServer:
    mock_aweber.set_clock(frozen=True)
    return mock_aweber


@pytest.fixture
def workers(
    mock: MockServer, httpserver: HTTPServer, tmp_path: Path
) -> Iterator[tuple[OAuthHelper, OAuthHelper]]:
    httpserver.expect_request("/oauth2/token").respond_with_json({"error": "server_error"}, status=500)
    clock = MutableClock(mock.now())
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    good = Settings(
        provider=AWEBER.with_bases(mock.url, mock.api_base),
        client_id="demo-confidential",
        client_secret="demo-secret",
        store_url=url,
        refresh_backoff_base=DAY,
        refresh_backoff_max=2 * DAY,
    )
    failing = dataclasses.replace(
        good, provider=AWEBER.with_bases(httpserver.url_for("").rstrip("/"), mock.api_base)
    )
    a = OAuthHelper(failing, open_store(url, encryption_keys=()), clock=clock)
    b = OAuthHelper(good, open_store(url, encryption_keys=()), clock=clock)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def expire(helper: OAuthHelper, mock: MockServer) -> None:
    """Move the helpers' and the mock's clocks past the stored access token's expiry."""
    token = helper.status(INSTALL).token
    assert token is not None
    assert token.expires_at is not None
    clock = helper.clock
    assert isinstance(clock, MutableClock)
    clock.now = mock.set_clock(token.expires_at + 1)


def token_posts(mock: MockServer, since: int) -> int:
    return sum(1 for e in mock.events(since) if e["path"] == "/oauth2/token" and e["method"] == "POST")


def last_event_id(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


def race(first: Callable[[], object], second: Callable[[], object]) -> list[BaseException | None]:
    """Run both at once (a barrier); what each raised, or None."""
    barrier = threading.Barrier(2)
    raised: list[BaseException | None] = [None, None]

    def run(i: int, call: Callable[[], object]) -> None:
        barrier.wait(10)
        try:
            call()
        except Exception as exc:
            raised[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return raised


TRANSITIONS = ["refresh_success", "reconnect", "disconnect"]


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_a_back_off_never_outlives_the_record_it_was_for(
    mock: MockServer, workers: tuple[OAuthHelper, OAuthHelper], transition: str
) -> None:
    a, b = workers
    connect(mock, b, INSTALL)
    orders: set[str] = set()
    for round_ in range(ROUNDS):
        expire(b, mock)
        with pytest.raises(ServerError):
            a.get_token(INSTALL)  # failure 1: the next attempt is allowed at once
        moves: dict[str, Callable[[], object]] = {
            "refresh_success": lambda: b.refresh(INSTALL, override_backoff=True),
            "reconnect": lambda: connect(mock, b, INSTALL),
            "disconnect": lambda: b.disconnect(INSTALL),
        }
        raised_a, raised_b = race(lambda: a.get_token(INSTALL), moves[transition])
        assert raised_b is None, f"round {round_}: {raised_b!r}"
        # A either failed (its back-off written first) or found B's transition (nothing sent).
        assert raised_a is None or isinstance(raised_a, ServerError | NotConnected), repr(raised_a)
        orders.add("failure first" if isinstance(raised_a, ServerError) else "transition first")
        if transition == "disconnect":
            assert b.status(INSTALL).state == "not_connected"
            connect(mock, b, INSTALL)
        expire(b, mock)
        since = last_event_id(mock)
        try:
            token = b.get_token(INSTALL)
        except RefreshBackedOff as exc:
            raise AssertionError(f"round {round_} ({sorted(orders)}): a stale back-off held {exc}") from None
        assert token_posts(mock, since) == 1
        assert b.get_token(INSTALL) == token
