"""Every pair of record transitions that can meet, black-box against the live mock (issue 9).

The mock's delay fault holds a refresh in flight; meanwhile another transition runs: a
reconnect to another account, a disconnect. Afterwards the record must name one grant only,
its token must work for that grant's account, and no pair issued for a replaced grant may stay
alive at the provider (the mock's state lists every live token with its user). The mock's
``after_work`` and ``drop`` faults lose an answer after the provider did the work: the helper
must never resend a code exchange or a rotating refresh.

Pairs covered here and elsewhere:
- refresh x refresh: test_race.py, test_store_race.py (storms);
- refresh x reconnect, refresh x disconnect: here;
- refresh x an expiring lease: test_store_race.py (held longer than a short lease) and
  test_store_lease.py;
- reconnect x disconnect, reconnect x reconnect: here;
- a lost answer x the retry that would follow: here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from workers.common import MutableClock, Target, open_helper

from mock_server.runner import MockServer
from oob_helper.errors import NetworkError, ProviderError, ReauthorizationRequired, VersionConflict
from oob_helper.helper import OAuthHelper
from oob_helper.tokens import InstallRecord, RefreshResult
from oob_helper.web.problems import facade_problem

INSTALL = "race.example"
TOKEN_PATH = "/oauth2/token"
HOLD_MS = 3000
ROUNDS = 20


@pytest.fixture
def other_account(mock_aweber: MockServer) -> str:
    """A second mock user with an account of its own; returns its account id."""
    user = mock_aweber.add_user("other", "other-password")
    return str(user["account_id"])


@pytest.fixture
def helper(mock_aweber: MockServer, tmp_path: Path) -> Iterator[OAuthHelper]:
    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, f"sqlite:///{tmp_path / 'tokens.db'}", MutableClock(mock_aweber.now())) as h:
        yield h


def connect_as(mock: MockServer, helper: OAuthHelper, username: str) -> InstallRecord:
    start = helper.start_authorization(INSTALL)
    params = dict(parse_qsl(urlsplit(start.authorize_url).query))
    code = mock.approve(params, username=username)["code"]
    return helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)


def live_tokens(mock: MockServer, username: str) -> list[dict[str, Any]]:
    return [t for t in mock.state()["tokens"] if t["username"] == username]


def account_ids_seen_by(mock: MockServer, access_token: str) -> list[str]:
    response = httpx.get(mock.api_base + "/accounts", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    return [str(entry["id"]) for entry in response.json()["entries"]]


class Held:
    """A transition running in a thread while the mock holds its request to ``path`` (by
    default the token endpoint; test_clone_races.py holds revokes too)."""

    def __init__(self, mock: MockServer, action: Callable[[], object], path: str = TOKEN_PATH) -> None:
        self.mock = mock
        self.result: object = None
        self.error: BaseException | None = None
        mock.add_fault(path, count=1, delay_ms=HOLD_MS)

        def run() -> None:
            try:
                self.result = action()
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()
        self._wait_until_inside_the_mock()

    def _wait_until_inside_the_mock(self) -> None:
        # The fault is used up the moment the held request reaches the mock: then it is in flight.
        deadline = time.monotonic() + 30
        while self.mock.faults():
            assert time.monotonic() < deadline, "the held request never reached the mock"
            self.thread.join(0.01)

    def join(self) -> object:
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_reconnect_during_a_held_refresh_never_crosses_grants(
    mock_aweber: MockServer, helper: OAuthHelper, other_account: str
) -> None:
    demo_account = connect_as(mock_aweber, helper, "demo").account_id
    for round_ in range(ROUNDS):
        if helper.status(INSTALL).account_id != demo_account:
            connect_as(mock_aweber, helper, "demo")
        refreshing = Held(mock_aweber, lambda: helper.refresh(INSTALL))
        reconnected = connect_as(mock_aweber, helper, "other")
        outcome = refreshing.join()
        assert isinstance(outcome, object)
        record = helper.status(INSTALL)
        assert record.account_id == other_account, f"round {round_}"
        assert record.grant_id == reconnected.grant_id, f"round {round_}"
        assert record.token is not None
        assert account_ids_seen_by(mock_aweber, record.token.access_token) == [other_account]
        # Nothing of the replaced grant is alive: the refreshed (orphan) pair was revoked.
        assert live_tokens(mock_aweber, "demo") == [], f"round {round_}"
        refresh_events = [
            e
            for e in mock_aweber.events()
            if e.get("grant_type") == "refresh_token" and e.get("result") != "ok"
        ]
        assert refresh_events == [], f"round {round_}: a refresh was refused"
        # The stored grant still refreshes: its refresh token is the live one.
        assert helper.refresh(INSTALL).result == "refreshed"


def test_a_disconnect_during_a_held_refresh_revokes_every_pair(
    mock_aweber: MockServer, helper: OAuthHelper
) -> None:
    connect_as(mock_aweber, helper, "demo")
    refreshing = Held(mock_aweber, lambda: helper.refresh(INSTALL))
    helper.disconnect(INSTALL)
    outcome = refreshing.join()
    assert getattr(outcome, "result", None) in ("refreshed", "failed")
    assert helper.status(INSTALL).state == "not_connected"
    assert live_tokens(mock_aweber, "demo") == []


def test_a_reconnect_during_a_held_disconnect_is_kept(
    mock_aweber: MockServer, helper: OAuthHelper, other_account: str
) -> None:
    """The disconnect revokes what it read; the reconnect that follows it is kept and works."""
    connect_as(mock_aweber, helper, "demo")
    mock_aweber.add_fault("/oauth2/revoke", count=1, delay_ms=HOLD_MS)
    disconnecting = threading.Thread(target=helper.disconnect, args=(INSTALL,))
    disconnecting.start()
    deadline = time.monotonic() + 30
    while mock_aweber.faults():
        assert time.monotonic() < deadline
        disconnecting.join(0.01)
    reconnected = connect_as(mock_aweber, helper, "other")
    disconnecting.join(60)
    record = helper.status(INSTALL)
    assert record.state == "connected"
    assert record.grant_id == reconnected.grant_id
    assert record.token is not None
    assert account_ids_seen_by(mock_aweber, record.token.access_token) == [other_account]
    assert live_tokens(mock_aweber, "demo") == []


def test_reconnecting_replaces_and_revokes_the_earlier_grant(
    mock_aweber: MockServer, helper: OAuthHelper, other_account: str
) -> None:
    first = connect_as(mock_aweber, helper, "demo")
    second = connect_as(mock_aweber, helper, "other")
    assert first.grant_id != second.grant_id
    assert live_tokens(mock_aweber, "demo") == []
    assert len(live_tokens(mock_aweber, "other")) == 2  # its access and refresh token


# -- a lost answer is never resent ---------------------------------------------------------------


def token_requests(mock: MockServer, grant_type: str) -> list[dict[str, Any]]:
    return [e for e in mock.events() if e.get("path") == TOKEN_PATH and e.get("grant_type") == grant_type]


@pytest.mark.parametrize(
    "fault", [{"status": 502, "after_work": True}, {"status": 504, "after_work": True}, {"drop": True}]
)
def test_a_lost_code_exchange_answer_is_not_resent(
    mock_aweber: MockServer, helper: OAuthHelper, fault: dict[str, Any]
) -> None:
    start = helper.start_authorization(INSTALL)
    code = mock_aweber.approve(dict(parse_qsl(urlsplit(start.authorize_url).query)))["code"]
    mock_aweber.add_fault(TOKEN_PATH, count=3, **fault)
    with pytest.raises((ProviderError, NetworkError)) as info:
        helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)
    assert "access_token" not in str(info.value)
    assert len(token_requests(mock_aweber, "authorization_code")) == 1
    assert helper.status(INSTALL).state == "not_connected"


@pytest.mark.parametrize("fault", [{"status": 502, "after_work": True}, {"drop": True}])
def test_a_lost_refresh_answer_is_not_resent_and_says_so(
    mock_aweber: MockServer, helper: OAuthHelper, fault: dict[str, Any]
) -> None:
    connect_as(mock_aweber, helper, "demo")
    before = helper.status(INSTALL)
    mock_aweber.add_fault(TOKEN_PATH, count=3, **fault)
    outcome = helper.refresh(INSTALL)
    assert outcome.result == "failed"
    assert outcome.error
    assert len(token_requests(mock_aweber, "refresh_token")) == 1
    assert helper.status(INSTALL) == before  # the stored pair is untouched
    mock_aweber.clear_faults()
    # Without a grace window the rotated-away refresh token is gone for good, and the helper
    # says so plainly (a person must connect again).
    again: RefreshResult = helper.refresh(INSTALL).result
    assert again == "reauthorization_required"
    with pytest.raises(ReauthorizationRequired):
        helper.get_token(INSTALL)


def test_a_lost_refresh_answer_recovers_through_the_grace_window(
    mock_aweber: MockServer, helper: OAuthHelper
) -> None:
    mock_aweber.add_client(
        "grace-client", "grace-secret", ["urn:ietf:wg:oauth:2.0:oob"], refresh_policy={"grace_seconds": 30}
    )
    target = Target(mock_aweber.url, "grace-client", "grace-secret", profile="aweber")
    with open_helper(target, "memory://", MutableClock(mock_aweber.now())) as graceful:
        connect_as(mock_aweber, graceful, "demo")
        mock_aweber.add_fault(TOKEN_PATH, count=1, status=502, after_work=True)
        assert graceful.refresh(INSTALL).result == "failed"
        assert len(token_requests(mock_aweber, "refresh_token")) == 1
        assert graceful.refresh(INSTALL).result == "refreshed"  # the old token still works, once
        token = graceful.get_token(INSTALL, check=True)
        assert account_ids_seen_by(mock_aweber, token.access_token)


def test_a_disconnect_that_lost_to_a_reconnect_says_so_on_the_page() -> None:
    """Only possible after a lost lease: the page names what happened, not "revoked"."""
    message = (
        "install 'race.example' was connected again while it was being disconnected: the old "
        "connection was revoked and the new one kept; disconnect again to remove it"
    )
    page = facade_problem(VersionConflict(message), "AWeber")
    assert page.status_code == 409
    assert "connected again" in page.message
