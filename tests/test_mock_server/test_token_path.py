"""The token endpoint's fast path: direct dispatch in the edge layer, pooled token values, JSON."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import warnings
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server import MockConfig, MockServer, MockState, create_app, entropy, oauth, routes

OOB = "urn:ietf:wg:oauth:2.0:oob"


def test_pooled_token_values_are_unique_url_safe_and_192_bits() -> None:
    values = [entropy.token_urlsafe() for _ in range(5000)]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", value) for value in values)


def test_a_forked_child_never_hands_out_its_parents_prepared_values() -> None:
    entropy.token_urlsafe()  # the parent now holds a batch of prepared values
    prepared = set(entropy._ready)  # what the parent would hand out next
    assert prepared
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report ten values, then leave without running pytest's exit code
        try:
            os.write(write, ",".join(entropy.token_urlsafe() for _ in range(10)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_values = pipe.read().split(",")
    os.waitpid(pid, 0)
    assert len(child_values) == 10
    assert not prepared & set(child_values)


def test_token_endpoint_outside_post_still_goes_through_the_router(mock_aweber: MockServer) -> None:
    response = httpx.get(mock_aweber.token_url)
    assert response.status_code == 405
    assert response.headers["x-frame-options"] == "DENY"


def test_mounted_mock_answers_token_requests_under_its_prefix() -> None:
    """Under a mount the edge layer leaves dispatch to the router (root_path rules)."""
    mock_app = create_app(MockConfig())
    with MockServer(app=Starlette(routes=[Mount("/aweber", app=mock_app)])) as server:
        response = httpx.post(
            f"{server.url}/aweber/oauth2/token",
            auth=("demo-confidential", "wrong"),
            data={"grant_type": "refresh_token", "refresh_token": "x"},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_fast_path_is_taken_from_the_route_table() -> None:
    """Exactly the table's token routes are dispatched directly, as the same endpoint objects."""
    for profile, paths in (
        ("aweber", ["/oauth2/token"]),
        ("constantcontact", ["/oauth2/token", "/oauth2/default/v1/token"]),
    ):
        table = routes.table(MockState(MockConfig(profile=profile)))
        direct = routes.direct(table)
        assert sorted(direct) == sorted(("POST", path) for path in paths)
        by_path = {route.path: route for route in table if isinstance(route, Route)}
        for (_, path), endpoint in direct.items():
            assert by_path[path].endpoint is endpoint


def test_constant_contact_token_path_is_served_directly_too() -> None:
    with MockServer(MockConfig(profile="constantcontact")) as server:
        for path in ("/oauth2/token", "/oauth2/default/v1/token"):
            response = httpx.post(f"{server.url}{path}", data={"grant_type": "refresh_token"})
            assert response.status_code == 401, path
            assert response.json()["error"] == "invalid_client"
        kinds = [(event["path"], event["status"]) for event in server.events()]
    assert kinds[-2:] == [("/oauth2/token", 401), ("/oauth2/default/v1/token", 401)]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), st.text() | st.integers(), max_size=6) | _JSON_VALUES)
def test_token_answers_are_written_as_the_json_encoder_writes_them(content: object) -> None:
    expected = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    assert oauth._json_bytes(content) == expected
    if isinstance(content, dict):
        assert json.loads(oauth._json_bytes(content)) == content


class _Finished:
    """The mock app, wrapped to signal when each request has left it and to keep what escaped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.done = threading.Event()
        self.escaped: list[BaseException] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.escaped.append(exc)
            raise
        finally:
            if scope["type"] == "http":
                self.done.set()


def test_a_client_leaving_mid_body_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    app = _Finished(create_app(MockConfig()))
    with MockServer(app=app) as mock, caplog.at_level(logging.ERROR):
        host, port = urlsplit(mock.url).hostname, urlsplit(mock.url).port
        assert host is not None
        assert port is not None
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(
                b"POST /oauth2/token HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
                b"grant_type=refresh_token"
            )
        # The mock notices the closed connection in its own time: wait for the request to leave.
        assert app.done.wait(10), "the abandoned request never finished"
        assert app.escaped == []
        (event,) = [e for e in mock.events() if e["path"] == "/oauth2/token"]
        assert event["status"] is None
        assert event["result"] == "client_disconnected"
        assert mock.errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
