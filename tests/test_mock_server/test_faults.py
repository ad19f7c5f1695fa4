"""Fault injection over real HTTP: injected statuses, delays, and dropped responses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server import MockServer
from mock_server.faults import FaultSpecError, FaultTable, parse_fault


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as mock:
        yield mock


@pytest.fixture
def mock(server: MockServer) -> Iterator[MockServer]:
    server.clear_faults()
    server.mock_state.events.reset()  # tests read the log; another test's drop must not show
    yield server
    server.check_errors()


def test_status_fault_answers_for_count_calls_then_stops(mock: MockServer) -> None:
    mock.add_fault("/openapi.json", count=2, status=503)
    first = httpx.get(f"{mock.url}/openapi.json")
    second = httpx.get(f"{mock.url}/openapi.json")
    third = httpx.get(f"{mock.url}/openapi.json")
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json()["error"] == "injected_fault"
    assert "openapi" in third.json()


def test_status_fault_sends_the_given_json_or_text_body(mock: MockServer) -> None:
    envelope = {"error": {"status": 503, "type": "ServiceUnavailableError", "message": "down"}}
    mock.add_fault("/openapi.json", status=503, body=envelope)
    mock.add_fault("/openapi.json", status=502, body="Bad Gateway")
    json_answer = httpx.get(f"{mock.url}/openapi.json")
    text_answer = httpx.get(f"{mock.url}/openapi.json")
    assert json_answer.status_code == 503
    assert json_answer.headers["content-type"] == "application/json"
    assert json_answer.json() == envelope
    assert text_answer.status_code == 502
    assert text_answer.headers["content-type"].startswith("text/plain")
    assert text_answer.text == "Bad Gateway"


def test_faults_match_the_exact_path_only(mock: MockServer) -> None:
    mock.add_fault("/openapi.json/", status=500)
    assert httpx.get(f"{mock.url}/openapi.json").status_code == 200
    assert len(mock.mock_state.faults.list()) == 1


def test_delay_fault_waits_then_answers_normally(mock: MockServer) -> None:
    mock.add_fault("/openapi.json", delay_ms=30)
    response = httpx.get(f"{mock.url}/openapi.json")
    assert response.status_code == 200
    assert "openapi" in response.json()
    event = mock.events()[-1]
    assert event["fault"] == "delay"
    assert mock.mock_state.faults.list() == []


def test_drop_fault_runs_the_handler_and_closes_the_connection(
    mock: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    mock.add_fault("/openapi.json", drop=True)
    # uvicorn's loggers do not propagate to the root, so listen on them directly.
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{mock.url}/openapi.json")
        # The server finishes the request cycle after the client has seen the close.
        assert httpx.get(f"{mock.url}/openapi.json").status_code == 200
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    # The handler ran to completion: the log records the answer the client never saw.
    [event] = [e for e in mock.events() if e.get("fault") == "drop"]
    assert event["path"] == "/openapi.json"
    assert event["fault"] == "drop"
    assert event["status"] == 200
    # No 500 was attempted and nothing was logged as an error by the server.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert mock.errors == []


def test_drop_fault_on_a_kept_alive_connection(mock: MockServer) -> None:
    with httpx.Client(base_url=mock.url) as client:
        assert client.get("/openapi.json").status_code == 200
        mock.add_fault("/openapi.json", drop=True)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/openapi.json")
        assert client.get("/openapi.json").status_code == 200


def test_fault_table_uses_faults_in_arming_order() -> None:
    table = FaultTable()
    first = table.add({"path": "/p", "count": 2, "status": 500})
    second = table.add({"path": "/p", "drop": True})
    taken = [table.take("/p"), table.take("/p"), table.take("/p"), table.take("/p")]
    assert [f.id if f else None for f in taken] == [first.id, first.id, second.id, None]
    table.add({"path": "/q", "delay_ms": 5})
    table.reset()
    assert table.take("/q") is None
    assert table.list() == []


@pytest.mark.parametrize(
    "spec",
    [
        None,
        [],
        {"path": "/p", "status": 500, "count": True},
        {"path": "/p", "status": 600},
        {"path": "/p", "status": 500.0},
        {"path": "/p", "delay_ms": 60_001},
        {"path": "/p", "delay_ms": True},
        {"path": "/p", "drop": "true"},
        {"path": "/_mock", "drop": True},
        {"path": 7, "drop": True},
    ],
)
def test_parse_fault_refuses_bad_specs(spec: object) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


AUTH = ("demo-confidential", "demo-secret")


def _first_pair(mock: MockServer) -> dict[str, Any]:
    """A code approved headlessly and exchanged: the first token answer."""
    oob = "urn:ietf:wg:oauth:2.0:oob"
    approved = mock.approve(
        {
            "client_id": "demo-confidential",
            "redirect_uri": oob,
            "response_type": "code",
            "scope": "account.read",
        }
    )
    answer: dict[str, Any] = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": oob},
        auth=AUTH,
    ).json()
    return answer


def test_dropped_refresh_still_consumes_the_refresh_token(mock_aweber: MockServer) -> None:
    first = _first_pair(mock_aweber)
    mock_aweber.add_fault("/oauth2/token", drop=True)
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(mock_aweber.token_url, data=refresh, auth=AUTH)
    # The server did the work: the event says so, and the old refresh token is spent (the
    # aweber profile's default stops the previous one working once it has rotated).
    [event] = [e for e in mock_aweber.events() if e.get("fault") == "drop"]
    assert event["status"] == 200
    assert event["grant_type"] == "refresh_token"
    retry = httpx.post(mock_aweber.token_url, data=refresh, auth=AUTH)
    assert retry.status_code == 400
    assert retry.json()["error"] in ("invalid_grant", "invalid_request")
    live = [t for t in mock_aweber.state()["tokens"] if t["type"] == "refresh"]
    assert len(live) == 1


def test_a_status_fault_after_the_work_answers_502_once_the_refresh_rotated(mock_aweber: MockServer) -> None:
    """``after_work``: the handler runs (the refresh token rotates), then the 502 replaces its
    answer, as a gateway error that hides work the server did."""
    first = _first_pair(mock_aweber)
    fault = mock_aweber.add_fault("/oauth2/token", status=502, after_work=True)
    assert fault["after_work"] is True
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    answer = httpx.post(mock_aweber.token_url, data=refresh, auth=AUTH)
    assert answer.status_code == 502
    assert "access_token" not in answer.text
    retry = httpx.post(mock_aweber.token_url, data=refresh, auth=AUTH)
    assert retry.status_code == 400  # the first one rotated it: the old refresh token is spent


@pytest.mark.parametrize(
    "spec",
    [{"path": "/x", "drop": True, "after_work": False}, {"path": "/x", "status": 502, "after_work": 1}],
)
def test_after_work_is_a_boolean_and_a_drop_is_always_after_the_work(spec: object) -> None:
    with pytest.raises(FaultSpecError, match="after_work"):
        parse_fault(spec)


def test_a_drop_says_it_comes_after_the_work() -> None:
    assert parse_fault({"path": "/x", "drop": True}).as_dict()["after_work"] is True
    assert parse_fault({"path": "/x", "drop": True, "after_work": True}).after_work is True
