"""pytest plugin (entry point ``pytest11``): the ``mock_aweber`` fixture.

By default one in-process server per test session (per xdist worker), reset before each test,
and any exception that escaped the app during a test fails that test (in its call phase; an
exception raised by a later fixture's teardown still errors the test there).

Settings (command line, or the ini file, or the environment):

- ``--mock-aweber-url URL`` (``mock_aweber_url``, ``MOCK_AWEBER_URL``): use a mock that is
  already running, e.g. a CI service container, instead of starting one.
- ``--mock-aweber-sandbox`` (``mock_aweber_sandbox = true``, ``MOCK_AWEBER_SANDBOX=1``): give
  each test its own sandbox (``POST /_mock/sandboxes``), deleted after it, instead of resetting
  the shared world: tests and xdist workers sharing one server never see each other's clock,
  tokens, faults or events.
- ``--mock-aweber-control-token TOKEN`` (``MOCK_AWEBER_CONTROL_TOKEN``): the running mock's
  control token, when it has one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mock_server.runner import ControlClient, MockServer

_TRUE = {"1", "true", "yes", "on"}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options and ini settings."""
    group = parser.getgroup("mock-aweber")
    group.addoption("--mock-aweber-url", default=None, help="use this running mock instead of starting one")
    group.addoption(
        "--mock-aweber-sandbox",
        action="store_true",
        default=None,
        help="give each test its own sandbox on the (shared) mock instead of resetting it",
    )
    group.addoption("--mock-aweber-control-token", default=None, help="the running mock's control token")
    parser.addini("mock_aweber_url", "a running mock's base URL", default="")
    parser.addini("mock_aweber_sandbox", "each test in its own sandbox", type="bool", default=False)


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"--mock-aweber-{name.replace('_', '-')}") or os.environ.get(
        f"MOCK_AWEBER_{name.upper()}"
    )
    if not value and name == "url":
        value = str(config.getini("mock_aweber_url") or "")
    return str(value) if value else None


def _sandboxed(config: pytest.Config) -> bool:
    if config.getoption("--mock-aweber-sandbox"):
        return True
    if os.environ.get("MOCK_AWEBER_SANDBOX", "").strip().lower() in _TRUE:
        return True
    return bool(config.getini("mock_aweber_sandbox"))


@pytest.fixture(scope="session")
def mock_aweber_session(pytestconfig: pytest.Config) -> Iterator[ControlClient]:
    """The session's mock (started here, or the running one configured); prefer ``mock_aweber``."""
    url = _setting(pytestconfig, "url")
    if url is None:
        with MockServer() as server:
            yield server
        return
    client = ControlClient(url, control_token=_setting(pytestconfig, "control_token"))
    try:
        client.clock()  # fail here, once, with the reason, rather than in every test
    except Exception as exc:
        client.close()
        pytest.exit(f"mock-aweber at {url} is not usable ({exc}); start it or fix --mock-aweber-url", 2)
    yield client
    client.close()


@pytest.fixture
def mock_aweber(mock_aweber_session: ControlClient, pytestconfig: pytest.Config) -> Iterator[ControlClient]:
    """A mock AWeber in its start state (demo user, demo clients): the session's world reset,
    or a fresh sandbox of it when configured so."""
    if isinstance(mock_aweber_session, MockServer):
        mock_aweber_session.errors.clear()
    if _sandboxed(pytestconfig):
        with mock_aweber_session.sandbox() as box:
            yield box
    else:
        mock_aweber_session.reset()
        yield mock_aweber_session
    if isinstance(mock_aweber_session, MockServer):
        mock_aweber_session.check_errors()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself when a request it made crashed inside the mock."""
    result = yield
    funcargs = getattr(item, "funcargs", {})
    server = funcargs.get("mock_aweber_session")
    if isinstance(server, MockServer) and "mock_aweber" in funcargs:
        server.check_errors()
    return result
