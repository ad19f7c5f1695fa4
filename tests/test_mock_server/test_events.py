"""The request log: one event per request, on the mock's clock, bounded, and without secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from mock_server import MockServer, events
from mock_server.events import EventLog, flush_request_log, redact_query

SECRETS = ["sekrit-code-123", "sekrit-token-456", "sekrit-pass-789", "sekrit-verifier-0ab"]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as mock:
        yield mock


@pytest.fixture
def mock(server: MockServer) -> Iterator[MockServer]:
    server.mock_state.events.reset()
    server.clear_faults()
    yield server
    server.mock_state.clock.reset()
    server.check_errors()


def test_each_request_is_one_event_on_the_mock_clock(mock: MockServer) -> None:
    mock.set_clock(2_000_000_000.0, frozen=True)
    httpx.get(f"{mock.url}/openapi.json")
    httpx.post(f"{mock.url}/no/such/path", data={"a": "b"})
    events = mock.events()
    assert [(e["method"], e["path"], e["status"]) for e in events] == [
        ("GET", "/openapi.json", 200),
        ("POST", "/no/such/path", 404),
    ]
    assert [e["time"] for e in events] == [2_000_000_000.0, 2_000_000_000.0]
    assert events[0]["id"] < events[1]["id"]


def test_events_hold_no_secret_from_the_query_headers_or_body(
    mock: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    code, token, password, verifier = SECRETS
    with caplog.at_level(logging.INFO, logger="mock_server.requests"):
        httpx.post(
            f"{mock.url}/oauth2/token",
            params={
                "grant_type": "authorization_code",
                "code": code,
                "client_secret": token,
                "refresh_token": token,
                "access_token": token,
                "password": password,
                "code_verifier": verifier,
                "client_id": "demo-public",
            },
            headers={"Authorization": f"Bearer {token}", "Cookie": f"session={token}"},
            data={"code": code, "password": password},
        )
        flush_request_log()  # lines are written in batches, off the request path
    [event] = mock.events()
    dumped = json.dumps(event)
    for secret in SECRETS:
        assert secret not in dumped
        assert secret not in caplog.text
    assert "grant_type=authorization_code" in event["query"]
    assert "client_id=demo-public" in event["query"]
    assert "code=[redacted]" in event["query"]
    # The one log line per request is there too, and says what was asked.
    assert "POST /oauth2/token?grant_type=authorization_code" in caplog.text


def test_events_show_injected_faults(mock: MockServer) -> None:
    mock.add_fault("/openapi.json", status=503)
    httpx.get(f"{mock.url}/openapi.json")
    [event] = mock.events()
    assert event["status"] == 503
    assert event["fault"] == "status"


def test_handler_annotations_reach_the_event(mock: MockServer) -> None:
    httpx.post(
        mock.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "sekrit-token-456", "client_id": "demo-public"},
    )
    [event] = mock.events()
    assert (event["grant_type"], event["client_id"], event["result"]) == (
        "refresh_token",
        "demo-public",
        "invalid_grant",
    )


def test_annotation_fields_with_secret_names_are_redacted() -> None:
    log = EventLog()
    annotation = {"grant_type": "refresh_token", "refresh_token": "sekrit-token-456"}
    log.record_request((1.0, "POST", "/oauth2/token", b"", 200, 0.001, annotation))
    [event] = log.list()
    assert event["grant_type"] == "refresh_token"
    assert event["refresh_token"] == "[redacted]"


def test_event_log_is_bounded_newest_last() -> None:
    log = EventLog(maxlen=3)
    for n in range(5):
        log.record({"n": n})
    assert [e["n"] for e in log.list()] == [2, 3, 4]
    assert len(log) == 3
    assert [e["n"] for e in log.list(since=4)] == [4]
    log.reset()
    assert log.list() == []
    assert log.record({"n": 9})["id"] == 6


def test_default_event_log_keeps_the_last_thousand() -> None:
    log = EventLog()
    for n in range(1005):
        log.record({"n": n})
    kept = log.list()
    assert len(kept) == 1000
    assert kept[0]["n"] == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("a=1&b=2", "a=1&b=2"),
        ("code=abc&state=s", "code=[redacted]&state=s"),
        ("ws.op=find&access_token=t", "ws.op=find&access_token=[redacted]"),
        ("token_type_hint=refresh_token&token=t", "token_type_hint=refresh_token&token=[redacted]"),
        ("Client_Secret=x", "Client_Secret=[redacted]"),
    ],
)
def test_redact_query(query: str, expected: str) -> None:
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    "raw",
    [
        (1.0, "POST", "/oauth2/token", b"", 200, 0.001, None),
        (
            1.0,
            "POST",
            "/oauth2/token",
            b"",
            200,
            0.001,
            {"grant_type": "refresh_token", "client_id": "c", "request": 7},
        ),
        (
            1.0,
            "GET",
            "/oauth2/authorize",
            b"code=abc&state=s&x",
            302,
            0.0,
            {"refresh_token": "rt", "result": None},
        ),
        (1.0, "GET", "/1.0/accounts", b"&", None, 0.0, {"status": 503, "fault": "outage"}),
        (1.0, "GET", "/1.0/accounts", b"a=1", None, 0.0, {"secret_key": None, "path": "/shadow"}),
        (1.0, "GET", "/1.0/accounts", b"", None, 0.0, {}),
    ],
)
def test_request_line_fast_path_matches_the_event_dict(raw: events.RawRequest) -> None:
    """The log line built without the event dict says exactly what the dict says, redacted."""
    line = events._line(raw)
    assert line == events._slow_line(raw)
    for secret in ("abc", "rt"):
        assert f"={secret}" not in line
