"""OAuthHelperAuth in real use: the helper's httpx clients against the live mock's API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers.common import MutableClock, Target, connect, open_helper

from mock_server.runner import MockServer
from oob_helper.helper import OAuthHelper

INSTALL = "shop.example"


@pytest.fixture
def setup(mock_aweber: MockServer, tmp_path: Path) -> Iterator[tuple[OAuthHelper, MutableClock, MockServer]]:
    mock_aweber.set_clock(frozen=True)
    clock = MutableClock(mock_aweber.now())
    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, f"sqlite:///{tmp_path / 'tokens.db'}", clock) as helper:
        connect(mock_aweber, helper, INSTALL)
        yield helper, clock, mock_aweber


def token_events(mock: MockServer, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in mock.events() if e["id"] > since and e.get("grant_type") == "refresh_token"]


def last_id(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


def test_a_revoked_access_token_is_refreshed_once_and_the_request_retried(
    setup: tuple[OAuthHelper, MutableClock, MockServer],
) -> None:
    helper, _, mock = setup
    before = helper.status(INSTALL)
    assert mock.expire_tokens() >= 1  # the API now says 401 although our clock says valid
    since = last_id(mock)
    with helper.client(INSTALL) as client:
        response = client.get("/accounts")
        assert response.status_code == 200
        assert response.json()["entries"]
        assert client.get("/accounts").status_code == 200
    assert len(token_events(mock, since)) == 1
    after = helper.status(INSTALL)
    assert after.version == before.version + 1
    assert after.token != before.token


def test_an_expiring_token_is_refreshed_before_the_request(
    setup: tuple[OAuthHelper, MutableClock, MockServer],
) -> None:
    helper, clock, mock = setup
    record = helper.status(INSTALL)
    assert record.token is not None
    assert record.token.expires_at is not None
    clock.now = mock.set_clock(record.token.expires_at - 60, frozen=True)
    since = last_id(mock)
    with helper.client(INSTALL) as client:
        assert client.get("/accounts").status_code == 200
    paths = [(e.get("path"), e.get("status")) for e in mock.events() if e["id"] > since]
    assert paths[0][0] == "/oauth2/token"  # the refresh went first: no 401 round trip
    assert [p for p in paths if p[1] == 401] == []


def test_the_rate_limit_403_is_not_a_refresh_reason(
    setup: tuple[OAuthHelper, MutableClock, MockServer],
) -> None:
    helper, _, mock = setup
    since = last_id(mock)
    with helper.client(INSTALL) as client:
        for _ in range(200):
            response = client.get("/accounts")
            if response.status_code != 200:
                break
    assert response.status_code == 403
    assert "Rate Limit" in response.text
    assert token_events(mock, since) == []


def test_the_async_client_refreshes_after_a_401(setup: tuple[OAuthHelper, MutableClock, MockServer]) -> None:
    helper, _, mock = setup
    mock.expire_tokens()
    since = last_id(mock)

    async def fetch() -> list[int]:
        async with helper.async_client(INSTALL) as client:
            answers = await asyncio.gather(*(client.get("/accounts") for _ in range(8)))
        return [a.status_code for a in answers]

    assert asyncio.run(fetch()) == [200] * 8
    assert len(token_events(mock, since)) == 1
