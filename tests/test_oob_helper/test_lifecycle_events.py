"""Lifecycle events from the record owner, against the live mock (issue 13, part 1).

Each transition emits exactly one event, after it was stored; failures are reported with
whether they may pass on their own; subscribers (sync and async) that raise never break a
refresh; no event carries a token, code or secret.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from workers.common import aweber_helper

from mock_server.runner import MockServer
from oob_helper.errors import ProviderError, ReauthorizationRequired
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent, Subscribers

INSTALL = "events.example"


@pytest.fixture
def helper(mock_aweber: MockServer, tmp_path: Path) -> Iterator[OAuthHelper]:
    with aweber_helper(mock_aweber, tmp_path / "tokens.db") as h:
        yield h


@pytest.fixture
def seen(helper: OAuthHelper) -> list[LifecycleEvent]:
    events: list[LifecycleEvent] = []
    helper.subscribe(events.append)
    return events


def connect(mock: MockServer, helper: OAuthHelper) -> str:
    start = helper.start_authorization(INSTALL)
    code: str = mock.approve(dict(parse_qsl(urlsplit(start.authorize_url).query)))["code"]
    helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)
    return code


def kinds(events: list[LifecycleEvent]) -> list[str]:
    return [e.kind for e in events]


def test_each_transition_emits_one_event_after_it_is_stored(
    mock_aweber: MockServer, helper: OAuthHelper, seen: list[LifecycleEvent]
) -> None:
    stored_at_event: list[str] = []
    helper.subscribe(lambda e: stored_at_event.append(helper.status(INSTALL).state))
    connect(mock_aweber, helper)
    assert kinds(seen) == ["connected"]
    grant = helper.status(INSTALL).grant_id
    assert seen[0].grant_id == grant
    assert seen[0].account_id == helper.status(INSTALL).account_id
    assert helper.refresh(INSTALL).result == "refreshed"
    helper.disconnect(INSTALL)
    assert kinds(seen) == ["connected", "refreshed", "disconnected"]
    assert all(e.install == INSTALL for e in seen)
    assert all(e.grant_id == grant for e in seen)
    # Subscribers run after the write: they already see the new state.
    assert stored_at_event == ["connected", "connected", "not_connected"]


def test_a_failed_refresh_says_whether_it_may_pass(
    mock_aweber: MockServer, helper: OAuthHelper, seen: list[LifecycleEvent]
) -> None:
    connect(mock_aweber, helper)
    busy = {"error": "temporarily_unavailable", "error_description": "try later"}
    mock_aweber.add_fault("/oauth2/token", status=503, count=3, body=busy)
    assert helper.refresh(INSTALL).result == "failed"
    failed = seen[-1]
    assert (failed.kind, failed.transient, failed.error) == (
        "refresh_failed",
        True,
        "temporarily_unavailable",
    )
    assert "503" in (failed.reason or "")
    mock_aweber.add_fault("/oauth2/token", status=401, count=1, body={"error": "invalid_client"})
    assert helper.refresh(INSTALL).result == "failed"
    assert (seen[-1].kind, seen[-1].transient, seen[-1].error) == ("refresh_failed", False, "invalid_client")
    assert helper.status(INSTALL).state == "connected"  # a failure alone changes no record


def test_a_revoked_grant_emits_reauthorization_required_once(
    mock_aweber: MockServer, helper: OAuthHelper, seen: list[LifecycleEvent]
) -> None:
    connect(mock_aweber, helper)
    mock_aweber.revoke_tokens(client_id="demo-confidential")
    assert helper.refresh(INSTALL).result == "reauthorization_required"
    assert helper.refresh(INSTALL).result == "reauthorization_required"  # already marked: no event
    with pytest.raises(ReauthorizationRequired):
        helper.get_token(INSTALL)
    assert kinds(seen) == ["connected", "reauthorization_required"]
    assert "invalid_grant" in (seen[-1].reason or "")


def test_subscribers_that_raise_never_break_a_refresh(
    mock_aweber: MockServer, helper: OAuthHelper, seen: list[LifecycleEvent], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("the subscriber is broken")

    async def broken_async(event: LifecycleEvent) -> None:
        raise RuntimeError("the async subscriber is broken")

    helper.subscribe(broken)
    helper.subscribe(broken_async)
    connect(mock_aweber, helper)
    assert helper.refresh(INSTALL).result == "refreshed"
    helper.records.events.drain()
    assert kinds(seen) == ["connected", "refreshed"]
    failures = [r for r in caplog.records if "subscriber failed" in r.getMessage()]
    assert len(failures) == 4  # two subscribers, two events: each logged, none raised


def test_async_subscribers_run_off_the_callers_thread(mock_aweber: MockServer, helper: OAuthHelper) -> None:
    ran: list[tuple[str, str]] = []
    done = threading.Event()

    async def record(event: LifecycleEvent) -> None:
        await asyncio.sleep(0)
        ran.append((event.kind, threading.current_thread().name))
        done.set()

    unsubscribe = helper.subscribe(record)
    connect(mock_aweber, helper)
    assert done.wait(10)
    assert ran == [("connected", "oob-helper-events")]
    unsubscribe()
    helper.refresh(INSTALL)
    helper.records.events.drain()
    assert len(ran) == 1  # unsubscribed: no more calls


def test_no_event_carries_a_token_code_or_secret(
    mock_aweber: MockServer, helper: OAuthHelper, seen: list[LifecycleEvent]
) -> None:
    code = connect(mock_aweber, helper)
    first = helper.status(INSTALL).token
    helper.refresh(INSTALL)
    second = helper.status(INSTALL).token
    mock_aweber.add_fault("/oauth2/token", status=502, count=1)
    helper.refresh(INSTALL)
    helper.disconnect(INSTALL)
    assert first is not None
    assert second is not None
    secrets = [code, "demo-secret", first.access_token, second.access_token]
    secrets += [t for t in (first.refresh_token, second.refresh_token) if t]
    text = json.dumps([e.to_dict() for e in seen]) + repr(seen)
    assert len(seen) == 4
    assert [s for s in secrets if s in text] == []


def test_no_subscribers_costs_nothing() -> None:
    assert not Subscribers()
    Subscribers().emit(LifecycleEvent(kind="connected", install="x", at=0.0))  # no loop is started
    bus = Subscribers()
    bus.emit(LifecycleEvent(kind="connected", install="x", at=0.0))
    assert bus._loop is None


def test_provider_errors_are_classified() -> None:
    from oob_helper.errors import NetworkError, ServerError  # noqa: PLC0415
    from oob_helper.lifecycle import is_transient  # noqa: PLC0415

    assert is_transient(NetworkError("down"))
    assert is_transient(ServerError("boom", status_code=500))
    assert is_transient(ProviderError("slow down", error="slow_down", status_code=429))
    assert not is_transient(ProviderError("no", error="invalid_client", status_code=401))
