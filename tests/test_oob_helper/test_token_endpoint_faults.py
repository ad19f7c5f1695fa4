"""A misbehaving token endpoint (pytest-httpserver): a clear error each time, the stored token untouched."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from hanging import Hanging
from pytest_httpserver import HTTPServer

from oob_helper.config import Settings
from oob_helper.errors import (
    MalformedResponse,
    NetworkError,
    ProviderError,
    ServerError,
    TemporarilyUnavailable,
)
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores.memory import MemoryStore
from oob_helper.tokens import InstallRecord, Token
from oob_helper.transport import Transport

NOW = 2_000_000.0
INSTALL = "site.example"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def helper(httpserver: HTTPServer, sleeps: Sleeps) -> Iterator[OAuthHelper]:
    provider = AWEBER.with_bases(httpserver.url_for("/"), httpserver.url_for("/1.0"))
    settings = Settings(provider=provider, client_id="cid", client_secret="CLIENT-SECRET")
    store = MemoryStore()
    # An expired token, so every get_token has to refresh.
    token = Token(
        access_token="OLD-ACCESS", refresh_token="OLD-REFRESH", expires_at=NOW - 1, obtained_at=NOW - 7201
    )
    store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)
    transport = Transport(httpx.Client(timeout=httpx.Timeout(0.5)), attempts=3, sleep=sleeps)
    h = OAuthHelper(settings, store, clock=lambda: NOW, transport=transport)
    yield h
    h.close()
    transport.http.close()


FAULTS = [
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_json({"error": "server_error"}, status=500),
        ServerError,
        "HTTP 500",
        id="500",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_data(
            "<html><h1>Service Unavailable</h1></html>",
            status=503,
            headers={"Retry-After": "2"},
            content_type="text/html",
        ),
        TemporarilyUnavailable,
        "HTTP 503 with an HTML page",
        id="503-retry-after",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_data(
            '{"access_token": "A", ', content_type="application/json"
        ),
        MalformedResponse,
        "not JSON",
        id="malformed-json",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_json(
            {"access_token": "A", "expires_in": "later"}
        ),
        MalformedResponse,
        "expires_in",
        id="ill-typed-field",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_json(
            {"token_type": "bearer", "expires_in": 7200}
        ),
        MalformedResponse,
        "no access_token",
        id="200-without-access-token",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_data(
            "<!doctype html><title>Login</title>", status=200, content_type="text/html"
        ),
        MalformedResponse,
        "HTML page",
        id="html-200",
    ),
    pytest.param(
        lambda s: s.expect_request("/oauth2/token").respond_with_data(
            "<html>Bad Gateway</html>", status=502, content_type="text/html"
        ),
        ServerError,
        "HTML page",
        id="html-502",
    ),
]


@pytest.mark.parametrize(("arm", "error", "message"), FAULTS)
def test_fault_gives_clear_error_and_keeps_token(
    httpserver: HTTPServer,
    helper: OAuthHelper,
    arm: object,
    error: type[ProviderError],
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="oob_helper")
    arm(httpserver)  # type: ignore[operator]
    before = helper.status(INSTALL)
    with pytest.raises(error, match=message) as info:
        helper.get_token(INSTALL)
    assert helper.status(INSTALL) == before
    outcome = helper.refresh(INSTALL)
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert message in outcome.error
    assert helper.status(INSTALL) == before
    text = str(info.value) + outcome.error + caplog.text
    for secret in ("OLD-ACCESS", "OLD-REFRESH", "CLIENT-SECRET"):
        assert secret not in text


def test_503_retry_after_then_success(httpserver: HTTPServer, helper: OAuthHelper, sleeps: Sleeps) -> None:
    httpserver.expect_ordered_request("/oauth2/token").respond_with_data(
        "busy", status=503, headers={"Retry-After": "4"}
    )
    httpserver.expect_ordered_request("/oauth2/token").respond_with_json(
        {"access_token": "NEW-ACCESS", "refresh_token": "NEW-REFRESH", "expires_in": 7200}
    )
    token = helper.get_token(INSTALL)
    assert token.access_token == "NEW-ACCESS"
    assert sleeps == [4.0]
    stored = helper.status(INSTALL)
    assert stored.token is not None
    assert stored.token.refresh_token == "NEW-REFRESH"
    assert stored.token.expires_at == NOW + 7200


def test_timeout_gives_network_error_and_keeps_token(httpserver: HTTPServer, helper: OAuthHelper) -> None:
    hang = Hanging()
    httpserver.expect_request("/oauth2/token").respond_with_handler(hang.handler)
    before = helper.status(INSTALL)
    try:
        with pytest.raises(NetworkError, match="ReadTimeout"):
            helper.get_token(INSTALL)
    finally:
        hang.release.set()
    hang.settle(sent=1)
    assert helper.status(INSTALL) == before
