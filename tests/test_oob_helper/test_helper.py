"""The facade against a scripted provider (pytest-httpserver): start, complete, status, disconnect."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from oob_helper.config import Settings
from oob_helper.errors import (
    AttemptExpired,
    AttemptNotFound,
    AuthorizationDenied,
    ConfigurationError,
    InvalidPaste,
    InvalidRequest,
    NotConnected,
    ServerError,
    StateMismatch,
)
from oob_helper.helper import OAuthHelper, api_client
from oob_helper.providers import AWEBER, OOB_REDIRECT_URI
from oob_helper.stores.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_helper(server: HTTPServer, clock: Clock, *, secret: str | None = None) -> OAuthHelper:
    provider = AWEBER.with_bases(server.url_for("/"), server.url_for("/1.0"))
    settings = Settings(provider=provider, client_id="cid", client_secret=secret)
    return OAuthHelper(settings, MemoryStore(), clock=clock)


@pytest.fixture
def helper(httpserver: HTTPServer, clock: Clock) -> Iterator[OAuthHelper]:
    h = make_helper(httpserver, clock)
    yield h
    h.close()


TOKEN = {"access_token": "AT-1", "refresh_token": "RT-1", "token_type": "bearer", "expires_in": 7200}
ACCOUNTS = {"entries": [{"id": 1234, "company": "Demo Co"}], "total_size": 1}


def serve_provider(server: HTTPServer) -> None:
    server.expect_request("/oauth2/token", method="POST").respond_with_json(TOKEN)
    server.expect_request("/1.0/accounts").respond_with_json(ACCOUNTS)


def test_start_builds_url_and_saves_attempt(helper: OAuthHelper) -> None:
    start = helper.start_authorization("site.example")
    query = parse_qs(urlsplit(start.authorize_url).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["cid"]
    assert query["redirect_uri"] == [OOB_REDIRECT_URI]
    assert query["scope"] == [" ".join(AWEBER.default_scopes)]
    assert query["state"] == [start.attempt.state]
    assert query["code_challenge_method"] == ["S256"]
    assert start.attempt.code_verifier is not None
    assert start.attempt.expires_at == start.attempt.created_at + 600
    assert start.attempt.state not in repr(start)
    assert start.attempt.code_verifier not in repr(start)


def test_confidential_aweber_sends_no_pkce(httpserver: HTTPServer, clock: Clock) -> None:
    h = make_helper(httpserver, clock, secret="shh")
    start = h.start_authorization("site.example")
    assert "code_challenge" not in start.authorize_url
    assert start.attempt.code_verifier is None
    h.close()


def test_complete_public_stores_connected_record(
    httpserver: HTTPServer, helper: OAuthHelper, clock: Clock
) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("site.example")
    record = helper.complete_authorization("site.example", start.attempt.attempt_id, '  "the-code"\n')
    assert record.state == "connected"
    assert record.account_id == "1234"
    assert record.account_name == "Demo Co"
    assert record.token is not None
    assert record.token.expires_at == clock.now + 7200
    assert record.version == 1
    form = parse_qs(httpserver.log[0][0].get_data(as_text=True))
    assert form["code"] == ["the-code"]
    assert form["client_id"] == ["cid"]
    assert form["code_verifier"] == [start.attempt.code_verifier]
    assert "Authorization" not in httpserver.log[0][0].headers
    assert httpserver.log[1][0].headers["Authorization"] == "Bearer AT-1"
    assert helper.status("site.example") == record
    assert helper.installs() == [record]
    assert helper.get_token("site.example").access_token == "AT-1"


def test_complete_confidential_uses_basic(httpserver: HTTPServer, clock: Clock) -> None:
    serve_provider(httpserver)
    h = make_helper(httpserver, clock, secret="shh")
    start = h.start_authorization("a")
    h.complete_authorization("a", start.attempt.attempt_id, "code")
    request = httpserver.log[0][0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:shh").decode()
    form = parse_qs(request.get_data(as_text=True))
    assert "client_secret" not in form
    assert "code_verifier" not in form
    h.close()


def test_attempt_is_single_use(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")
    with pytest.raises(AttemptNotFound, match="start connecting again"):
        helper.complete_authorization("a", start.attempt.attempt_id, "code")


def test_attempt_for_another_install_is_not_found(helper: OAuthHelper) -> None:
    start = helper.start_authorization("a")
    with pytest.raises(AttemptNotFound):
        helper.complete_authorization("b", start.attempt.attempt_id, "code")


def test_unknown_attempt(helper: OAuthHelper) -> None:
    with pytest.raises(AttemptNotFound):
        helper.complete_authorization("a", "nope", "code")


def test_expired_attempt(helper: OAuthHelper, clock: Clock) -> None:
    start = helper.start_authorization("a")
    clock.now += 601
    with pytest.raises(AttemptExpired, match="start connecting again"):
        helper.complete_authorization("a", start.attempt.attempt_id, "code")


def test_bad_paste_does_not_spend_the_attempt(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    with pytest.raises(InvalidPaste, match="nothing was pasted"):
        helper.complete_authorization("a", start.attempt.attempt_id, "   ")
    assert helper.complete_authorization("a", start.attempt.attempt_id, "code").state == "connected"


def test_pasted_redirect_url_state_checked(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    with pytest.raises(StateMismatch):
        helper.complete_authorization("a", start.attempt.attempt_id, "https://app/cb?code=c&state=other")
    start = helper.start_authorization("a")
    url = f"https://app/cb?state={start.attempt.state}&code=c1"
    assert helper.complete_authorization("a", start.attempt.attempt_id, url).state == "connected"
    assert parse_qs(httpserver.log[0][0].get_data(as_text=True))["code"] == ["c1"]


def test_denied(helper: OAuthHelper) -> None:
    start = helper.start_authorization("a")
    with pytest.raises(AuthorizationDenied):
        helper.complete_authorization("a", start.attempt.attempt_id, "https://app/cb?error=access_denied")


def test_invalid_code_from_provider(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json(
        {"error": "invalid_request", "error_description": "Invalid code"}, status=400
    )
    start = helper.start_authorization("a")
    with pytest.raises(InvalidRequest) as info:
        helper.complete_authorization("a", start.attempt.attempt_id, "secret-code-value")
    assert info.value.status_code == 400
    assert "secret-code-value" not in str(info.value)
    assert helper.status("a").state == "not_connected"


def test_account_failure_still_stores_tokens(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json(TOKEN)
    httpserver.expect_request("/1.0/accounts").respond_with_data("oops", status=500)
    start = helper.start_authorization("a")
    record = helper.complete_authorization("a", start.attempt.attempt_id, "code")
    assert record.state == "connected"
    assert record.account_id is None


@pytest.mark.parametrize("install", ["", " a", "a\nb", "x" * 201])
def test_bad_install_names(helper: OAuthHelper, install: str) -> None:
    with pytest.raises(ConfigurationError, match="install name"):
        helper.start_authorization(install)


def test_status_of_unknown_install(helper: OAuthHelper) -> None:
    assert helper.status("nobody").state == "not_connected"
    with pytest.raises(NotConnected):
        helper.get_token("nobody")
    with pytest.raises(NotConnected):
        helper.disconnect("nobody")


def revoke_handler(seen: list[dict[str, list[str]]], status: int = 200) -> object:
    def handler(request: Request) -> Response:
        seen.append(parse_qs(request.get_data(as_text=True)))
        body = "" if status == 200 else json.dumps({"error": "server_error"})
        return Response(body, status=status, content_type="application/json")

    return handler


def test_disconnect_revokes_then_forgets(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    seen: list[dict[str, list[str]]] = []
    httpserver.expect_request("/oauth2/revoke").respond_with_handler(revoke_handler(seen))  # type: ignore[arg-type]
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")
    helper.disconnect("a")
    assert seen == [{"token": ["RT-1"], "token_type_hint": ["refresh_token"], "client_id": ["cid"]}]
    assert helper.status("a").state == "not_connected"


def test_failed_revoke_keeps_record_unless_forced(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    seen: list[dict[str, list[str]]] = []
    httpserver.expect_request("/oauth2/revoke").respond_with_handler(revoke_handler(seen, 400))  # type: ignore[arg-type]
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")
    with pytest.raises(ServerError, match="server_error"):
        helper.disconnect("a")
    assert helper.status("a").state == "connected"
    helper.disconnect("a", force=True)
    assert helper.status("a").state == "not_connected"


def test_helper_repr_has_no_secret(httpserver: HTTPServer, clock: Clock) -> None:
    h = make_helper(httpserver, clock, secret="very-secret")
    assert "very-secret" not in repr(h)
    h.close()


def env_for(server: HTTPServer, tmp_path: object) -> dict[str, str]:
    return {
        "OOB_HELPER_CLIENT_ID": "cid",
        "OOB_HELPER_AUTH_BASE": server.url_for("/").rstrip("/"),
        "OOB_HELPER_API_BASE": server.url_for("/1.0"),
        "OOB_HELPER_STORE": f"sqlite:///{tmp_path}/tokens.db",
    }


def test_from_env_and_the_one_line_client(httpserver: HTTPServer, tmp_path: object) -> None:
    serve_provider(httpserver)
    environ = env_for(httpserver, tmp_path)
    with OAuthHelper.from_env(environ) as h:
        start = h.start_authorization("a")
        h.complete_authorization("a", start.attempt.attempt_id, "code")
    with api_client("a", environ=environ) as api:
        response = api.get("/accounts")
    assert response.status_code == 200
    assert httpserver.log[-1][0].headers["Authorization"] == "Bearer AT-1"


def test_from_env_reports_missing_settings() -> None:
    with pytest.raises(ConfigurationError, match="client id"):
        OAuthHelper.from_env({})


def test_async_client(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")

    async def call() -> int:
        async with helper.async_client("a") as api:
            return (await api.get("/accounts")).status_code

    assert asyncio.run(call()) == 200
    assert httpserver.log[-1][0].headers["Authorization"] == "Bearer AT-1"


def test_check_ignores_rate_limit(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")
    httpserver.clear()
    limited = {"error": {"status": 403, "message": "Rate Limit Error", "type": "ForbiddenError"}}
    httpserver.expect_request("/1.0/accounts").respond_with_json(limited, status=403)
    assert helper.get_token("a", check=True).access_token == "AT-1"
    assert [r.path for r, _ in httpserver.log] == ["/1.0/accounts"]  # no refresh


def test_check_refreshes_once_on_401(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    serve_provider(httpserver)
    start = helper.start_authorization("a")
    helper.complete_authorization("a", start.attempt.attempt_id, "code")
    httpserver.clear()
    httpserver.expect_request("/1.0/accounts").respond_with_json(
        {"error": {"status": 401, "type": "UnauthorizedError", "message": "Invalid Token"}}, status=401
    )
    httpserver.expect_request("/oauth2/token").respond_with_json({"access_token": "AT-2", "expires_in": 7200})
    token = helper.get_token("a", check=True)
    assert token.access_token == "AT-2"
    assert token.refresh_token == "RT-1"  # no refresh token in the answer: the old one is kept
    assert [r.path for r, _ in httpserver.log] == ["/1.0/accounts", "/oauth2/token"]
    assert helper.status("a").token == token


def test_start_purges_abandoned_attempts(helper: OAuthHelper, clock: Clock) -> None:
    old = helper.start_authorization("a")
    clock.now += 601
    helper.start_authorization("b")
    clock.now -= 601  # even back inside its lifetime, the abandoned attempt is gone
    with pytest.raises(AttemptNotFound):
        helper.complete_authorization("a", old.attempt.attempt_id, "code")


def test_attempt_ids_can_be_passed_as_a_command_line_argument(helper: OAuthHelper) -> None:
    # `oob-helper connect --attempt ID`: an id starting with "-" would be read as an option.
    ids = [helper.start_authorization(f"site{n}.example").attempt.attempt_id for n in range(200)]
    assert all(re.fullmatch(r"[0-9a-f]{48}", attempt_id) for attempt_id in ids)
