"""Acceptance (issues 5 and 9): the cross-process refresh storm against Redis and PostgreSQL.

The same storm as test_race.py (which runs on SQLite): 8 worker processes standing in for
separate hosts, each with 4 threads and 4 asyncio tasks, ask for a token on one expired install
at the same moment, against the mock's rotating constantcontact profile (single-use refresh
tokens with reuse detection). Exactly one refresh per storm reaches the provider; 50 storms per
backend.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import Backend, make_backend
from test_race import STORMS, run_storms

from mock_server.config import MockConfig
from mock_server.runner import MockServer


@pytest.fixture
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        mock.set_clock(frozen=True)
        yield mock
        mock.check_errors()


@pytest.fixture(params=["redis", "redis-cluster", "postgresql", "postgresql-pgbouncer"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_storm_reaches_the_provider_exactly_once(cc_mock: MockServer, backend: Backend) -> None:
    run_storms(cc_mock, backend.url, STORMS)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_refresh_held_past_a_short_lease_keeps_the_lock(cc_mock: MockServer, backend: Backend) -> None:
    """Issue 9: each storm's refresh is held 2.5 s by the mock while the workers' lease is 1 s;
    without renewal a second worker would send the same single-use refresh token (and reuse
    detection would revoke the grant). 20 storms per backend."""
    run_storms(cc_mock, backend.url, 20, lease=1.0, hold_ms=2500)
