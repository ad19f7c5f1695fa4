"""The web helper's error pages that only a live failure reaches: an attempt that expired in the
helper (410) and a token store that went away (503). Same harness as test_web_bad_input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.servers import RedisServer
from test_web_bad_input import Web, approve, assert_refused, connect, running_web

from mock_server.runner import MockServer
from oob_helper.providers import AWEBER


@pytest.fixture
def web(mock_aweber: MockServer) -> Iterator[Web]:
    mock_aweber.set_clock(1_900_000_000.0, frozen=True)
    with running_web(AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base)) as running:
        yield running


def test_an_attempt_expired_in_the_helper_is_a_410_page(web: Web, mock_aweber: MockServer) -> None:
    form = web.a.form()
    code = approve(mock_aweber, form)
    # The signed attempt reference counts whole seconds, the helper's attempt does not: half a
    # second past the 10 minutes the reference still passes and the helper refuses the attempt.
    web.clock.advance(600.5)
    response = web.a.submit(code, form)
    assert_refused(response, 410, "This connection attempt expired", "Start again")
    assert web.snapshot() == []


def test_a_token_store_that_went_away_is_a_503_page(mock_aweber: MockServer) -> None:
    mock_aweber.set_clock(1_900_000_000.0, frozen=True)
    redis = RedisServer(persistent=True).start()
    try:
        provider = AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base)
        with running_web(provider, store_url=redis.url) as web:
            connect(web, mock_aweber, web.a)
            redis.stop()
            assert_refused(web.a.get("/"), 503, "The token store is unavailable", "Try again shortly")
            redis.start()  # persistent: the connection is still there once the store is back
            assert "Connected" in web.a.get("/").text
    finally:
        redis.cleanup()
