"""Acceptance: the provider rotates the refresh token but its answer never arrives.

The mock's ``drop`` fault does the work (the refresh token is consumed) and then closes the
connection. The helper must say NetworkError and keep the record; with no grace window the
old refresh token is gone for good (reauthorization required), with one the retry recovers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workers.common import MutableClock, Target, connect, open_helper

from mock_server.config import MockConfig
from mock_server.runner import MockServer
from oob_helper.errors import NetworkError, ReauthorizationRequired
from oob_helper.helper import OAuthHelper

INSTALL = "lost.example"
OOB = "urn:ietf:wg:oauth:2.0:oob"
TOKEN_PATH = "/oauth2/default/v1/token"
DAY = 86400


@pytest.fixture(scope="module")
def cc_server() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        yield mock


@pytest.fixture
def cc_mock(cc_server: MockServer) -> Iterator[MockServer]:
    cc_server.reset()
    cc_server.set_clock(frozen=True)
    yield cc_server
    cc_server.check_errors()


def helper_for(
    mock: MockServer, tmp_path: Path, client_id: str, secret: str | None
) -> tuple[OAuthHelper, MutableClock]:
    clock = MutableClock(mock.now())
    helper = open_helper(Target(mock.url, client_id, secret), f"sqlite:///{tmp_path / 'tokens.db'}", clock)
    try:
        connect(mock, helper, INSTALL)
    except BaseException:
        helper.close()
        raise
    return helper, clock


def lose_the_next_refresh(helper: OAuthHelper, mock: MockServer, clock: MutableClock) -> None:
    """Expire the token, drop the refresh's answer, and check the helper's reaction."""
    clock.now = mock.advance_clock(DAY + 1)
    before = helper.status(INSTALL)
    mock.add_fault(TOKEN_PATH, drop=True)
    with pytest.raises(NetworkError, match="could not get an answer") as info:
        helper.get_token(INSTALL)
    assert before.token is not None
    assert before.token.refresh_token is not None
    assert before.token.refresh_token not in str(info.value)
    assert helper.status(INSTALL) == before  # nothing written: still the old pair
    refreshes = [e for e in mock.events() if e.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1  # it did reach the provider, which spent the token


def test_without_grace_the_lost_rotation_needs_reauthorization(cc_mock: MockServer, tmp_path: Path) -> None:
    helper, clock = helper_for(cc_mock, tmp_path, "demo-public", None)
    with helper:
        lose_the_next_refresh(helper, cc_mock, clock)
        with pytest.raises(ReauthorizationRequired, match=r"lost\.example"):
            helper.get_token(INSTALL)
        record = helper.status(INSTALL)
        assert record.state == "reauthorization_required"
        assert record.reason is not None
        assert "invalid_grant" in record.reason
        assert record.token is not None  # the record is kept for the person who reconnects
        # Reconnecting brings it back.
        connect(cc_mock, helper, INSTALL)
        assert helper.status(INSTALL).state == "connected"


def test_with_a_grace_window_the_retry_recovers(cc_mock: MockServer, tmp_path: Path) -> None:
    cc_mock.add_client("graceful", None, [OOB], refresh_policy={"grace_seconds": 60})
    helper, clock = helper_for(cc_mock, tmp_path, "graceful", None)
    with helper:
        lose_the_next_refresh(helper, cc_mock, clock)
        token = helper.get_token(INSTALL)  # the same old refresh token, inside the grace window
        target = Target(cc_mock.url, "graceful", None)
        assert target.api_works(token.access_token)
        record = helper.status(INSTALL)
        assert record.state == "connected"
        assert record.token == token
        # The pair it now holds is live: the next rotation works too.
        clock.now = cc_mock.advance_clock(DAY + 1)
        assert target.api_works(helper.get_token(INSTALL).access_token)
