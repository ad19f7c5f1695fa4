"""The thread runner: port 0, its URLs, a control token, surfaced server errors, clean stop."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mock_server import ControlClient, MockServer, MockServerError, create_app


def test_handle_reports_its_urls_and_stops_cleanly() -> None:
    with MockServer() as mock:
        base = mock.url
        assert base.startswith("http://127.0.0.1:")
        assert mock.authorize_url == f"{base}/oauth2/authorize"
        assert mock.token_url == f"{base}/oauth2/token"
        assert mock.revoke_url == f"{base}/oauth2/revoke"
        assert mock.api_base == f"{base}/1.0"
        assert mock.dashboard_url == f"{base}/_mock/"
        assert httpx.get(mock.dashboard_url).status_code == 200
        assert "127.0.0.1" in repr(mock)
        port = int(base.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_two_servers_run_side_by_side_with_separate_state() -> None:
    with MockServer() as first, MockServer() as second:
        assert first.url != second.url
        first.set_clock(1_000.0, frozen=True)
        second.set_clock(2_000.0, frozen=True)
        assert (first.now(), second.now()) == (1_000.0, 2_000.0)
        assert first.mock_state is not second.mock_state


def test_control_client_drives_a_server_it_did_not_start() -> None:
    with MockServer(control_token="tok-123") as mock:
        remote = ControlClient(mock.url + "/", control_token="tok-123")
        try:
            remote.set_clock(5_000.0, frozen=True)
            assert mock.now() == 5_000.0
            assert remote.advance_clock(10) == 5_010.0
        finally:
            remote.close()


def test_exceptions_inside_the_app_are_surfaced_by_check_errors() -> None:
    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("kaboom in the handler")

    app = Starlette(routes=[Route("/boom", boom)])
    with MockServer(app=app) as mock:
        assert httpx.get(f"{mock.url}/boom").status_code == 500
        assert len(mock.errors) == 1
        with pytest.raises(MockServerError, match="kaboom"):
            mock.check_errors()
        mock.check_errors()  # reported once, then cleared


def test_an_error_raised_after_the_500_was_sent_is_still_surfaced() -> None:
    # Starlette sends its 500 and then re-raises; this app widens that gap on purpose.
    release = threading.Event()

    async def late(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan: nothing to start
            return
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"boom"})
        await asyncio.to_thread(release.wait, 30)
        raise RuntimeError("raised after the answer")

    with MockServer(app=late) as mock:
        assert httpx.get(mock.url).status_code == 500
        release.set()
        with pytest.raises(MockServerError, match="raised after the answer"):
            mock.check_errors()


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MockServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            MockServer(port=port, app=create_app()).start()


def test_mock_state_needs_a_mock_app() -> None:
    with MockServer(app=Starlette()) as mock, pytest.raises(MockServerError, match="MockState"):
        _ = mock.mock_state


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run a test file in a fresh pytest, in file order, so one test can watch what another left."""
    (tmp_path / "test_pair.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_mock_aweber_fixture_is_reset_for_each_test(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
        import httpx

        def test_leaves_a_mess(mock_aweber):
            mock_aweber.set_clock(1.0, frozen=True)
            mock_aweber.add_fault("/openapi.json", status=500, count=5)

        def test_finds_it_cleaned_up(mock_aweber):
            assert not mock_aweber.clock()["frozen"]
            assert mock_aweber.mock_state.faults.list() == []
            assert httpx.get(mock_aweber.url + "/openapi.json").status_code == 200
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_mock_aweber_fixture_fails_a_test_whose_request_crashed_the_server(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
        import httpx

        def test_crashes_the_server(mock_aweber):
            def broken():
                raise RuntimeError("state exploded")

            mock_aweber.mock_state.snapshot = broken
            assert httpx.get(mock_aweber.url + "/_mock/state").status_code == 500

        def test_next_one_is_fine(mock_aweber):
            assert mock_aweber.now() > 0
        """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "state exploded" in result.stdout
    assert "1 failed, 1 passed" in result.stdout


def test_faults_and_events_since_from_python() -> None:
    with MockServer() as mock:
        httpx.get(f"{mock.url}/openapi.json")
        first = mock.events()[-1]["id"]
        mock.add_fault("/openapi.json", status=502, count=2)
        assert [f["count"] for f in mock.faults()] == [2]
        httpx.get(f"{mock.url}/openapi.json")
        assert [e["status"] for e in mock.events(since=first)] == [502]
        assert [f["count"] for f in mock.faults()] == [1]
        mock.check_errors()
