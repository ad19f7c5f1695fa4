"""The JSON control API over real HTTP: clock, faults, events, the control token, bad bodies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mock_server import ControlClient, MockServer, MockServerError, create_app


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as mock:
        yield mock


@pytest.fixture
def mock(server: MockServer) -> Iterator[MockServer]:
    server.clear_faults()
    server.set_clock(frozen=False)
    server.mock_state.clock.reset()
    yield server
    server.check_errors()


def test_clock_reads_advances_sets_and_freezes(mock: MockServer) -> None:
    start = mock.clock()
    assert isinstance(start["now"], float)
    assert start["frozen"] is False
    frozen_at = mock.set_clock(1_800_000_000.0, frozen=True)
    assert frozen_at == 1_800_000_000.0
    assert mock.clock() == {"now": 1_800_000_000.0, "frozen": True}
    assert mock.advance_clock(7201) == 1_800_007_201.0
    assert mock.now() == 1_800_007_201.0
    assert mock.advance_clock(-1.5) == 1_800_007_199.5
    # Unfreezing keeps the time and lets it run on from there.
    mock.set_clock(frozen=False)
    assert mock.clock()["frozen"] is False
    assert mock.now() >= 1_800_007_199.5
    assert mock.mock_state.clock.now() >= 1_800_007_199.5


def test_clock_advance_answers_the_new_time_as_json(mock: MockServer) -> None:
    mock.set_clock(1000.0, frozen=True)
    response = httpx.post(f"{mock.url}/_mock/clock/advance", json={"seconds": 60})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["now"] == 1060.0


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("clock/advance", None, "JSON object"),
        ("clock/advance", b"not json", "not valid JSON"),
        ("clock/advance", b"[1, 2]", "JSON object"),
        ("clock/advance", {}, "'seconds'"),
        ("clock/advance", {"seconds": "ten"}, "'seconds'"),
        ("clock/advance", {"seconds": True}, "'seconds'"),
        ("clock/advance", {"seconds": 1, "minutes": 2}, "'minutes'"),
        ("clock/advance", b'{"seconds": NaN}', "'seconds'"),
        ("clock/set", {}, "'now'"),
        ("clock/set", {"now": "tomorrow"}, "'now'"),
        ("clock/set", {"frozen": "yes"}, "'frozen'"),
        ("clients", {"client_id": "x"}, "'redirect_uris'"),
        ("clients", {"client_id": 5, "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"]}, "'client_id'"),
        ("clients", {"client_id": "x", "redirect_uris": [], "name": "n"}, "'redirect_uris'"),
        ("clients", {"client_id": "x", "redirect_uris": ["u"], "colour": "red"}, "'colour'"),
        ("users", {"username": "bob"}, "'password'"),
        ("users", {"username": "", "password": "pw"}, "'username'"),
        ("approve", {"client_id": "demo-public"}, "'username'"),
        ("approve", {"client_id": ["a"], "username": "demo"}, "'client_id'"),
        ("tokens/expire", {"client": "x"}, "'client'"),
        ("tokens/revoke", {"username": 3}, "'username'"),
        ("faults", {}, "'path'"),
        ("faults", {"path": "/oauth2/token", "count": 1}, "exactly one"),
        ("faults", {"path": "oauth2/token", "status": 500}, "'path'"),
        ("faults", {"path": "/_mock/clock", "status": 500}, "'path'"),
        ("faults", {"path": "/x", "count": 0, "status": 500}, "'count'"),
        ("faults", {"path": "/x", "count": "2", "status": 500}, "'count'"),
        ("faults", {"path": "/x", "status": 99}, "'status'"),
        ("faults", {"path": "/x", "status": 500, "drop": True}, "exactly one"),
        ("faults", {"path": "/x", "delay_ms": -5}, "'delay_ms'"),
        ("faults", {"path": "/x", "delay_ms": "slow"}, "'delay_ms'"),
        ("faults", {"path": "/x", "drop": False}, "'drop'"),
        ("faults", {"path": "/x", "drop": True, "body": {}}, "'body'"),
        ("faults", {"path": "/x", "status": 500, "extra": 1}, "'extra'"),
    ],
)
def test_bad_bodies_get_400_naming_the_problem(mock: MockServer, path: str, body: object, named: str) -> None:
    url = f"{mock.url}/_mock/{path}"
    if body is None or isinstance(body, bytes):
        response = httpx.post(url, content=body or b"", headers={"content-type": "application/json"})
    else:
        response = httpx.post(url, json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert named in answer["error_description"]


def test_unknown_control_path_is_404_and_wrong_method_405(mock: MockServer) -> None:
    assert httpx.get(f"{mock.url}/_mock/nothing-here").status_code == 404
    assert httpx.get(f"{mock.url}/_mock/reset").status_code == 405


def test_faults_are_listed_and_cleared(mock: MockServer) -> None:
    armed = mock.add_fault("/openapi.json", count=3, status=503)
    assert armed["path"] == "/openapi.json"
    assert armed["count"] == 3
    assert armed["status"] == 503
    listed = httpx.get(f"{mock.url}/_mock/faults").json()
    assert [f["id"] for f in listed] == [armed["id"]]
    response = httpx.delete(f"{mock.url}/_mock/faults")
    assert response.status_code == 204
    assert httpx.get(f"{mock.url}/_mock/faults").json() == []
    assert httpx.get(f"{mock.url}/openapi.json").status_code == 200


def test_events_can_be_read_since_an_id(mock: MockServer) -> None:
    httpx.get(f"{mock.url}/openapi.json")
    last = mock.events()[-1]["id"]
    httpx.get(f"{mock.url}/openapi.json?n=2")
    newer = httpx.get(f"{mock.url}/_mock/events", params={"since": last}).json()
    assert [e["query"] for e in newer] == ["n=2"]
    bad = httpx.get(f"{mock.url}/_mock/events", params={"since": "yesterday"})
    assert bad.status_code == 400


def test_control_calls_are_not_logged_as_events(mock: MockServer) -> None:
    mock.clock()
    mock.events()
    assert all(not e["path"].startswith("/_mock") for e in mock.events())


CONTROL_CALLS = [
    ("GET", "clock", None),
    ("POST", "clock/advance", {"seconds": 1}),
    ("POST", "clock/set", {"frozen": True}),
    ("POST", "clients", {"client_id": "c", "client_secret": None, "redirect_uris": ["u"], "name": "n"}),
    ("POST", "users", {"username": "u", "password": "p"}),
    ("POST", "approve", {"client_id": "demo-public", "username": "demo"}),
    ("POST", "tokens/expire", {}),
    ("POST", "tokens/revoke", {}),
    ("POST", "faults", {"path": "/openapi.json", "status": 500}),
    ("GET", "faults", None),
    ("DELETE", "faults", None),
    ("GET", "events", None),
    ("GET", "state", None),
    ("POST", "reset", None),
]


@pytest.fixture(scope="module")
def guarded() -> Iterator[MockServer]:
    with MockServer(control_token="s3cret-control") as mock:
        yield mock


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer s3cret-contro", "Basic czNjcmV0LWNvbnRyb2w=", "s3cret-control"],
)
def test_every_control_call_needs_the_control_token(
    guarded: MockServer, method: str, path: str, body: object, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, f"{guarded.url}/_mock/{path}", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "s3cret-control" not in response.text


def test_the_control_token_opens_the_control_api(guarded: MockServer) -> None:
    # The handle sends the token it was started with.
    assert guarded.advance_clock(0) > 0
    assert isinstance(guarded.events(), list)
    outsider = ControlClient(guarded.url)
    with pytest.raises(MockServerError, match="401"):
        outsider.clock()
    outsider.close()
    guarded.check_errors()


def test_no_control_removes_the_whole_prefix() -> None:
    with MockServer(app=create_app(enable_control=False)) as mock:
        for method, path, body in CONTROL_CALLS:
            response = httpx.request(method, f"{mock.url}/_mock/{path}", json=body)
            assert response.status_code in (404, 405), path
        assert httpx.get(f"{mock.url}/_mock/").status_code == 404
        mock.check_errors()
