"""The JSON control API over real HTTP: clock, faults, events, the control token, bad bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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
        ("clock/advance", b"\xff\xfe{", "not valid JSON"),
        ("clock/advance", b"[" * 50_000, "nested too deeply"),
        ("clock/advance", b'{"seconds": 1}' + b" " * 70_000, "larger than"),
        ("clock/set", {}, "'now'"),
        ("clock/set", {"now": "tomorrow"}, "'now'"),
        ("clock/set", {"frozen": "yes"}, "'frozen'"),
        ("clients", {"client_id": "x"}, "'redirect_uris'"),
        ("clients", {"client_id": 5, "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"]}, "'client_id'"),
        # "$" matched before a final newline: the id must match whole.
        ("clients", {"client_id": "app\n", "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"]}, "client_id must"),
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


OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"


def exchange(
    mock: MockServer,
    code: str,
    *,
    client: str = "demo-confidential",
    secret: str = "demo-secret",
    redirect_uri: str = OOB,
) -> Any:
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(client, secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


def grant(
    mock: MockServer, client: str = "demo-confidential", secret: str = "demo-secret", user: str = "demo"
) -> Any:
    approved = mock.approve(
        {"client_id": client, "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}, user
    )
    assert approved["redirect"] is None
    return exchange(mock, approved["code"], client=client, secret=secret)


def test_add_client_and_user_then_approve_headlessly(mock_aweber: MockServer) -> None:
    client = mock_aweber.add_client("ci-app", "ci-secret", [OOB, CALLBACK], name="CI app")
    assert client["client_id"] == "ci-app"
    assert "ci-secret" not in str(client)
    user = mock_aweber.add_user("ci-user", "ci-pass")
    assert user["username"] == "ci-user"
    assert isinstance(user["account_id"], int)
    state = mock_aweber.state()
    assert "ci-app" in [c["client_id"] for c in state["clients"]]
    assert "ci-user" in [u["username"] for u in state["users"]]
    approved = mock_aweber.approve(
        {
            "client_id": "ci-app",
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "account.read",
            "state": "xyz",
        },
        "ci-user",
    )
    assert approved["redirect"].startswith(f"{CALLBACK}?")
    assert "state=xyz" in approved["redirect"]
    assert f"code={approved['code']}" in approved["redirect"]
    tokens = exchange(
        mock_aweber, approved["code"], client="ci-app", secret="ci-secret", redirect_uri=CALLBACK
    )
    assert tokens["token_type"] == "bearer"


def test_public_client_via_the_control_api(mock_aweber: MockServer) -> None:
    created = httpx.post(
        f"{mock_aweber.url}/_mock/clients",
        json={"client_id": "pub", "client_secret": None, "redirect_uris": [OOB], "name": "Pub"},
    )
    assert created.status_code == 201
    assert created.json()["public"] is True


def test_duplicate_or_invalid_registrations_are_400(mock_aweber: MockServer) -> None:
    again = httpx.post(f"{mock_aweber.url}/_mock/users", json={"username": "demo", "password": "x"})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    bad_uri = httpx.post(
        f"{mock_aweber.url}/_mock/clients",
        json={"client_id": "x", "client_secret": None, "redirect_uris": ["javascript:alert(1)"], "name": "n"},
    )
    assert bad_uri.status_code == 400


def test_approve_reports_the_authorize_error(mock_aweber: MockServer) -> None:
    unknown = httpx.post(
        f"{mock_aweber.url}/_mock/approve",
        json={"client_id": "nobody", "redirect_uri": OOB, "response_type": "code", "username": "demo"},
    )
    assert unknown.status_code >= 400
    assert unknown.status_code < 500
    assert unknown.json()["error"] in ("invalid_client", "invalid_request")
    no_pkce = httpx.post(
        f"{mock_aweber.url}/_mock/approve",
        json={
            "client_id": "demo-public",
            "redirect_uri": OOB,
            "response_type": "code",
            "scope": "account.read",
            "username": "demo",
        },
    )
    assert 400 <= no_pkce.status_code < 500
    assert (
        "PKCE" in no_pkce.json()["error_description"]
        or "code_challenge" in no_pkce.json()["error_description"]
    )


def test_expire_tokens_by_filter(mock_aweber: MockServer) -> None:
    mock_aweber.add_user("erin", "pw")
    first = grant(mock_aweber)
    grant(mock_aweber, user="erin")
    assert mock_aweber.expire_tokens(access_token="not-a-token") == 0
    assert mock_aweber.expire_tokens(access_token=first["access_token"]) == 1
    assert mock_aweber.expire_tokens(username="demo") == 0  # already expired
    assert mock_aweber.expire_tokens(client_id="demo-confidential") == 1
    answer = httpx.post(f"{mock_aweber.url}/_mock/tokens/expire", json={})
    assert answer.json() == {"expired": 0}
    api = httpx.get(
        mock_aweber.api_base + "/accounts", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert api.status_code == 401


def test_revoke_tokens_ends_access_and_refresh(mock_aweber: MockServer) -> None:
    tokens = grant(mock_aweber)
    assert mock_aweber.revoke_tokens(username="nobody") == 0
    assert mock_aweber.revoke_tokens(client_id="demo-confidential") == 2
    refresh = httpx.post(
        mock_aweber.token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("demo-confidential", "demo-secret"),
    )
    assert 400 <= refresh.status_code < 500
    assert httpx.post(f"{mock_aweber.url}/_mock/tokens/revoke").json() == {"revoked": 0}


def test_state_redacts_token_values(mock_aweber: MockServer) -> None:
    tokens = grant(mock_aweber)
    text = json.dumps(mock_aweber.state())
    assert tokens["access_token"] not in text
    assert tokens["refresh_token"] not in text
    assert "demo-secret" not in text
    assert mock_aweber.state()["faults"] == []


def test_reset_goes_back_to_the_start_state(mock_aweber: MockServer) -> None:
    mock_aweber.add_user("frank", "pw")
    grant(mock_aweber)
    mock_aweber.set_clock(5.0, frozen=True)
    mock_aweber.add_fault("/openapi.json", status=500)
    response = httpx.post(f"{mock_aweber.url}/_mock/reset")
    assert response.status_code == 204
    assert response.content == b""
    state = mock_aweber.state()
    assert [u["username"] for u in state["users"]] == ["demo"]
    assert state["tokens"] == []
    assert state["faults"] == []
    assert mock_aweber.events() == []
    assert mock_aweber.clock()["frozen"] is False
