"""``GET /_mock/events`` filters (with clear 400s) and the handle's assertion helpers, whose
failure messages name the verdict's cause, over real HTTP (issue 11, item 3)."""

from __future__ import annotations

import re

import httpx
import pytest

from mock_server import MockServer
from mock_server.runner import ControlClient
from tests.test_mock_server.test_verdicts import CONFIDENTIAL, OOB, approve, connect, exchange, refresh


def test_events_filter_by_client_grant_type_result_reason_and_time(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("other", "other-secret", [OOB])
    tokens = connect(mock_aweber)
    other = connect(mock_aweber, ("other", "other-secret"))
    mock_aweber.advance_clock(100)
    middle = mock_aweber.now()
    assert refresh(mock_aweber, tokens["refresh_token"]).status_code == 200
    refresh(mock_aweber, tokens["refresh_token"])  # rotated: refused
    refresh(mock_aweber, other["refresh_token"], ("other", "other-secret"))

    mine = mock_aweber.events(client_id="demo-confidential")
    assert len(mine) == 3
    assert {e["client_id"] for e in mine} == {"demo-confidential"}
    refreshes = mock_aweber.events(grant_type="refresh_token")
    assert [e["client_id"] for e in refreshes] == ["demo-confidential", "demo-confidential", "other"]
    assert [e["result"] for e in mock_aweber.events(result="ok", client_id="demo-confidential")] == [
        "ok",
        "ok",
    ]
    refused = mock_aweber.refusals()
    assert [e["verdict"]["reason"] for e in refused] == ["refresh_token_rotated"]
    assert mock_aweber.events(reason="refresh_token_rotated") == refused
    assert mock_aweber.events(result="invalid_grant") == refused
    assert len(mock_aweber.events(from_=middle)) == 3
    assert len(mock_aweber.events(until=middle)) == 2
    assert mock_aweber.events(from_=middle, until=middle) == []


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("client=x", "unknown parameter 'client'"),
        ("from=soon", "'from' must be a time in unix seconds"),
        ("until=nan", "'until' must be a time in unix seconds"),
        ("result=", "'result' must not be empty"),
        ("result=ok&result=refused", "'result' was given more than once"),
        ("since=-1", "'since' must be an event id"),
    ],
)
def test_bad_event_filters_get_a_400_naming_the_problem(
    mock_aweber: MockServer, query: str, problem: str
) -> None:
    answer = httpx.get(f"{mock_aweber.url}/_mock/events?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert problem in answer.json()["error_description"]


def test_assert_refreshes_counts_and_names_the_refused_ones(mock_aweber: MockServer) -> None:
    tokens = connect(mock_aweber)
    mock_aweber.assert_refreshes("demo-confidential", 0)
    assert refresh(mock_aweber, tokens["refresh_token"]).status_code == 200
    rotation = mock_aweber.events()[-1]["request"]
    refresh(mock_aweber, tokens["refresh_token"])
    mock_aweber.assert_refreshes("demo-confidential", 1)

    with pytest.raises(AssertionError) as failed:
        mock_aweber.assert_refreshes("demo-confidential", 2)
    message = str(failed.value)
    assert "made 1 successful refresh(es), expected 2" in message
    assert "refresh_token_rotated" in message
    assert f"by token_request, request {rotation}" in message


def test_assert_no_token_reuse_names_the_request_that_used_the_code(mock_aweber: MockServer) -> None:
    mock_aweber.assert_no_token_reuse()
    code = approve(mock_aweber)
    exchange(mock_aweber, code)
    used_by = mock_aweber.events()[-1]["request"]
    mock_aweber.assert_no_token_reuse()
    exchange(mock_aweber, code)

    with pytest.raises(AssertionError) as failed:
        mock_aweber.assert_no_token_reuse()
    message = str(failed.value)
    assert "code_reused: replay of a used authorization code: the grant issued from it was revoked" in message
    assert re.search(rf"cause: by token_request, request {used_by}, at \d+\.\d{{3}}", message), message


def test_assert_refresh_token_stored_fails_for_a_client_that_kept_the_old_token(
    mock_aweber: MockServer,
) -> None:
    tokens = connect(mock_aweber)
    newest = refresh(mock_aweber, tokens["refresh_token"]).json()["refresh_token"]
    assert refresh(mock_aweber, newest).status_code == 200
    mock_aweber.assert_refresh_token_stored("demo-confidential")

    # A QA revocation is not the client's fault.
    other = connect(mock_aweber)
    mock_aweber.revoke_tokens(refresh_token=other["refresh_token"])
    refresh(mock_aweber, other["refresh_token"])
    mock_aweber.assert_refresh_token_stored()

    refresh(mock_aweber, tokens["refresh_token"])  # the first, long rotated
    with pytest.raises(AssertionError) as failed:
        mock_aweber.assert_refresh_token_stored("demo-confidential")
    message = str(failed.value)
    assert "did it store the newest one?" in message
    assert "refresh_token_rotated: reuse of a rotated refresh token" in message
    assert "cause: by token_request, request" in message


def test_the_fixture_handle_speaks_to_any_running_mock(mock_aweber: MockServer) -> None:
    # The helpers are ControlClient methods: the same checks work against a mock run elsewhere.
    remote = ControlClient(mock_aweber.url)
    try:
        tokens = connect(mock_aweber)
        refresh(mock_aweber, tokens["refresh_token"])
        remote.assert_refreshes("demo-confidential", 1)
        assert remote.events(grant_type="refresh_token")[0]["client_id"] == CONFIDENTIAL[0]
    finally:
        remote.close()
