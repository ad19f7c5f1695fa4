"""pytest plugin (entry point ``pytest11``): the ``mock_aweber`` fixture.

One server per test session, reset before each test, and any exception that escaped the app
during a test fails that test (in its call phase; an exception raised by a later fixture's
teardown still errors the test there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mock_server.runner import MockServer


@pytest.fixture(scope="session")
def mock_aweber_session() -> Iterator[MockServer]:
    """The session's mock server; prefer ``mock_aweber``, which resets it per test."""
    with MockServer() as server:
        yield server


@pytest.fixture
def mock_aweber(mock_aweber_session: MockServer) -> Iterator[MockServer]:
    """A running mock AWeber server in its start state (demo user, demo clients)."""
    mock_aweber_session.errors.clear()
    mock_aweber_session.reset()
    yield mock_aweber_session
    mock_aweber_session.check_errors()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself when a request it made crashed inside the mock."""
    result = yield
    funcargs = getattr(item, "funcargs", {})
    server = funcargs.get("mock_aweber")
    if isinstance(server, MockServer):
        server.check_errors()
    return result
