"""Faults at the live mock's token endpoint: a lost refresh answer, slow and failing endpoints."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mock_server import MockServer
from oob_helper import (
    AWEBER,
    NetworkError,
    OAuthHelper,
    ProviderError,
    ReauthorizationRequired,
    Settings,
    open_store,
)
from oob_helper.transport import Transport

INSTALL = "shop.example"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(mock: MockServer, client_id: str, sleeps: list[float]) -> tuple[OAuthHelper, FakeClock]:
    clock = FakeClock(mock.now())
    transport = Transport(timeout=httpx.Timeout(5.0), sleep=sleeps.append)
    settings = Settings(provider=AWEBER.with_bases(mock.url, mock.api_base), client_id=client_id)
    return OAuthHelper(settings, open_store("memory://"), clock=clock, transport=transport), clock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def helpers() -> Iterator[list[OAuthHelper]]:
    made: list[OAuthHelper] = []
    yield made
    for h in made:
        h.close()
        h.transport.close()


def connect(mock: MockServer, helper: OAuthHelper) -> None:
    start = helper.start_authorization(INSTALL)
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
    code = mock.approve(params, "demo")["code"]
    helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)


def refreshes(mock: MockServer) -> list[str]:
    return [str(e.get("result")) for e in mock.events() if e.get("grant_type") == "refresh_token"]


@pytest.mark.parametrize("grace", [0, 30])
def test_lost_refresh_answer(
    mock_aweber: MockServer, sleeps: list[float], helpers: list[OAuthHelper], grace: int
) -> None:
    mock_aweber.add_client(
        "lossy", None, ["urn:ietf:wg:oauth:2.0:oob"], refresh_policy={"grace_seconds": grace}
    )
    helper, _ = make(mock_aweber, "lossy", sleeps)
    helpers.append(helper)
    connect(mock_aweber, helper)
    before = helper.status(INSTALL)
    mock_aweber.add_fault("/oauth2/token", drop=True)

    outcome = helper.refresh(INSTALL)
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert "not resent" in outcome.error
    assert helper.status(INSTALL) == before  # record kept as it was
    assert sleeps == []  # the spent refresh token was not sent again on its own

    if grace:
        # Inside the grace window the provider answers the old token with the pair it issued.
        assert helper.refresh(INSTALL).result == "refreshed"
        token = helper.get_token(INSTALL, check=True)
        assert helper.status(INSTALL).state == "connected"
        assert token.access_token != (before.token.access_token if before.token else None)
    else:
        # Without grace the provider has spent the only refresh token: a person must connect again.
        assert helper.refresh(INSTALL).result == "reauthorization_required"
        with pytest.raises(ReauthorizationRequired, match=INSTALL):
            helper.get_token(INSTALL)
        assert helper.status(INSTALL).state == "reauthorization_required"


def test_token_endpoint_5xx_retried_then_refreshes(
    mock_aweber: MockServer, sleeps: list[float], helpers: list[OAuthHelper]
) -> None:
    helper, _ = make(mock_aweber, "demo-public", sleeps)
    helpers.append(helper)
    connect(mock_aweber, helper)
    mock_aweber.add_fault("/oauth2/token", status=503, count=2)
    assert helper.refresh(INSTALL).result == "refreshed"
    assert len(sleeps) == 2
    assert refreshes(mock_aweber)[-1] == "ok"


@pytest.mark.parametrize(
    ("status", "sent"),
    [(503, 3), (500, 1)],
    ids=["503-resent-then-given-up", "500-not-resent"],
)
def test_token_endpoint_down_keeps_token(
    mock_aweber: MockServer, sleeps: list[float], helpers: list[OAuthHelper], status: int, sent: int
) -> None:
    """A 503 is resent (the provider says it did nothing); a 500 may hide a rotation, so the
    refresh is not resent (issue 9). Either way the stored pair is untouched."""
    helper, clock = make(mock_aweber, "demo-public", sleeps)
    helpers.append(helper)
    connect(mock_aweber, helper)
    before = helper.status(INSTALL)
    mock_aweber.add_fault("/oauth2/token", status=status, count=sent)
    clock.now += 7200
    with pytest.raises(ProviderError, match=f"HTTP {status}"):
        helper.get_token(INSTALL)
    assert not mock_aweber.faults()  # exactly ``sent`` requests reached the provider
    assert helper.status(INSTALL) == before
    assert helper.get_token(INSTALL).access_token  # the endpoint is back: refreshes now


def test_unreachable_provider(sleeps: list[float], helpers: list[OAuthHelper]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = Settings(provider=AWEBER.with_bases(base, base + "/1.0"), client_id="c")
    transport = Transport(sleep=sleeps.append)
    helper = OAuthHelper(settings, open_store("memory://"), transport=transport)
    helpers.append(helper)
    start = helper.start_authorization(INSTALL)
    with pytest.raises(NetworkError, match=re.escape(f"127.0.0.1:{port}")):
        helper.complete_authorization(INSTALL, start.attempt.attempt_id, "code")
    assert len(sleeps) == 2  # connection refused: nothing was sent, so it was tried again
