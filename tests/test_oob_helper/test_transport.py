"""The HTTP seam: bounded retries, Retry-After, no retry on 4xx or after a lost answer, no secrets logged."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore._async.http11
import httpcore._sync.http11
import httpx
import pytest
from hanging import Hanging
from notify_receivers import tls_contexts
from pytest_httpserver import HTTPServer

from oob_helper.auth import api_http_client, async_api_http_client
from oob_helper.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidToken,
    LeaseLost,
    NetworkError,
    ProviderError,
    ServerError,
    TemporarilyUnavailable,
)
from oob_helper.protocol import TokenRequest, refresh_request, revoke_request
from oob_helper.providers import AWEBER, Provider
from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token
from oob_helper.transport import Transport

NOW = 1_000.0
INSTALL = "blog.example"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider(httpserver: HTTPServer) -> Provider:
    return AWEBER.with_bases(httpserver.url_for("/"), httpserver.url_for("/1.0"))


@pytest.fixture
def transport(sleeps: Sleeps) -> Iterator[Transport]:
    t = Transport(httpx.Client(timeout=httpx.Timeout(0.5)), attempts=3, backoff=0.5, sleep=sleeps)
    yield t
    t.http.close()


def refresh(provider: Provider, secret: str | None = "SECRET-S") -> TokenRequest:
    return refresh_request(
        provider, client_id="cid", client_secret=secret, client_auth="basic", refresh_token="RT-SECRET"
    )


def test_success_no_retry(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json({"access_token": "A", "expires_in": 60})
    token = transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert token.expires_at == NOW + 60
    assert sleeps == []


def revoke(provider: Provider) -> TokenRequest:
    return revoke_request(provider, client_id="c", client_secret=None, client_auth="none", token="RT")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_spending_request_is_not_resent_after_an_answer_that_may_hide_work(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps, status: int
) -> None:
    """A gateway's 502/504 (or a 500) can come after the provider rotated the refresh token:
    resending it would trip reuse detection (issue 9, finding 4)."""
    httpserver.expect_request("/oauth2/token").respond_with_json({"error": "server_error"}, status=status)
    with pytest.raises(ServerError) as info:
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert info.value.status_code == status
    assert len(httpserver.log) == 1
    assert sleeps == []


def test_a_spending_request_is_resent_after_503_and_429_with_retry_after(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    """503, and 429 with Retry-After, say the provider did not serve the request."""
    httpserver.expect_ordered_request("/oauth2/token").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/oauth2/token").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request("/oauth2/token").respond_with_json({"access_token": "A"})
    token = transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert token.access_token == "A"
    assert sleeps == [0.5, 2.0]


def test_a_429_without_retry_after_is_not_resent(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json({"error": "slow_down"}, status=429)
    with pytest.raises(ProviderError, match="HTTP 429: slow_down"):
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert len(httpserver.log) == 1


def test_revocation_is_retried_after_any_5xx_with_backoff(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_ordered_request("/oauth2/revoke").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/oauth2/revoke").respond_with_data("boom", status=502)
    httpserver.expect_ordered_request("/oauth2/revoke").respond_with_data("", status=200)
    transport.revoke(revoke(provider))
    assert sleeps == [0.5, 1.0]


def test_5xx_retries_are_bounded(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json({"error": "busy"}, status=503)
    with pytest.raises(TemporarilyUnavailable) as info:
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert info.value.status_code == 503
    assert len(httpserver.log) == 3
    assert len(sleeps) == 2


def test_a_guard_that_raises_stops_the_next_send(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    """A lock holder whose lease was lost sends nothing more, not even a retry."""
    httpserver.expect_request("/oauth2/token").respond_with_data("busy", status=503)
    calls: list[int] = []

    def guard() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise LeaseLost("lost the refresh lock")

    with pytest.raises(LeaseLost):
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider, guard=guard)
    assert len(httpserver.log) == 1


def test_503_retry_after_honoured(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_ordered_request("/oauth2/token").respond_with_data(
        "busy", status=503, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/oauth2/token").respond_with_json({"access_token": "A"})
    transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert sleeps == [7.0]


def test_long_retry_after_not_waited(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_data(
        "busy", status=503, headers={"Retry-After": "3600"}
    )
    with pytest.raises(TemporarilyUnavailable) as info:
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert info.value.retry_after == 3600
    assert sleeps == []
    assert len(httpserver.log) == 1


def test_4xx_not_retried(
    httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/oauth2/token").respond_with_json({"error": "invalid_grant"}, status=400)
    with pytest.raises(InvalidGrant):
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert len(httpserver.log) == 1
    assert sleeps == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_connection_refused_retried_then_network_error(transport: Transport, sleeps: Sleeps) -> None:
    provider = AWEBER.with_bases(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(NetworkError, match="ConnectError") as info:
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert len(sleeps) == 2
    assert "RT-SECRET" not in str(info.value)


@pytest.fixture
def hanging(httpserver: HTTPServer) -> Iterator[Hanging]:
    hang = Hanging()
    httpserver.expect_request("/oauth2/token").respond_with_handler(hang.handler)
    httpserver.expect_request("/oauth2/revoke").respond_with_handler(hang.handler)
    yield hang
    hang.release.set()


def test_lost_refresh_answer_not_resent(
    hanging: Hanging, httpserver: HTTPServer, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    # A rotating refresh token is spent by the first request; resending would only earn invalid_grant.
    with pytest.raises(NetworkError, match="not resent"):
        transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    hanging.settle(sent=1)
    assert sleeps == []


def test_lost_revoke_answer_resent(
    hanging: Hanging, provider: Provider, transport: Transport, sleeps: Sleeps
) -> None:
    req = revoke_request(provider, client_id="c", client_secret=None, client_auth="none", token="RT")
    transport.attempts = 2
    with pytest.raises(NetworkError, match="ReadTimeout"):
        transport.revoke(req)
    hanging.settle(sent=2)
    assert sleeps == [0.5]


def test_revoke_success_and_failure(httpserver: HTTPServer, provider: Provider, transport: Transport) -> None:
    req = revoke_request(provider, client_id="c", client_secret=None, client_auth="none", token="RT")
    httpserver.expect_ordered_request("/oauth2/revoke").respond_with_data("", status=200)
    httpserver.expect_ordered_request("/oauth2/revoke").respond_with_json(
        {"error": "invalid_client"}, status=401
    )
    transport.revoke(req)
    with pytest.raises(InvalidClient, match="invalid_client"):
        transport.revoke(req)


def test_fetch_account(httpserver: HTTPServer, provider: Provider, transport: Transport) -> None:
    httpserver.expect_request("/1.0/accounts", headers={"Authorization": "Bearer AT"}).respond_with_json(
        {"entries": [{"id": 5, "company": "Co"}]}
    )
    account = transport.fetch_account(provider, "AT")
    assert (account.id, account.name) == ("5", "Co")


def test_fetch_account_refused_token(
    httpserver: HTTPServer, provider: Provider, transport: Transport
) -> None:
    httpserver.expect_request("/1.0/accounts").respond_with_json({"error": "invalid_token"}, status=401)
    with pytest.raises(InvalidToken) as info:
        transport.fetch_account(provider, "AT-SECRET")
    assert "AT-SECRET" not in str(info.value)


def test_api_get_network_error(transport: Transport) -> None:
    with pytest.raises(NetworkError, match="API"):
        transport.api_get(f"http://127.0.0.1:{closed_port()}/1.0/accounts", "AT")


def test_logs_carry_no_secrets(
    httpserver: HTTPServer, provider: Provider, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oob_helper")
    httpserver.expect_ordered_request("/oauth2/token").respond_with_data("x", status=503)
    httpserver.expect_ordered_request("/oauth2/token").respond_with_json(
        {"access_token": "AT-SECRET", "refresh_token": "RT-NEW-SECRET"}
    )
    transport.token(refresh(provider), clock=lambda: NOW, provider=provider)
    assert caplog.records, "the retry should be logged"
    text = caplog.text + repr(transport)
    for secret in ("SECRET-S", "RT-SECRET", "AT-SECRET", "RT-NEW-SECRET", "Basic "):
        assert secret not in text


def test_own_client_closed() -> None:
    t = Transport()
    t.close()
    assert t.http.is_closed
    shared = httpx.Client()
    Transport(shared).close()
    assert not shared.is_closed
    shared.close()


class _Accounts(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[str]:
    """An https:// URL on loopback, its certificate signed by a test CA (tmp_path / "ca.pem")."""
    server_tls, _ = tls_contexts(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accounts)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/1.0/accounts"
    server.shutdown()
    server.server_close()


def test_its_own_client_loads_a_trust_store_only_for_https_and_verifies_with_it(
    httpserver: HTTPServer, https_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading certifi's bundle is most of a refresh --all's start-up against a mock on
    # http://: an http:// request loads none. An https:// one still verifies, with the trust
    # store httpx.Client would have used: certifi (which knows no test CA), or SSL_CERT_FILE.
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        load(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    httpserver.expect_request("/1.0/accounts").respond_with_json({})
    certifi = Transport()
    try:
        assert certifi.api_get(httpserver.url_for("/1.0/accounts"), "AT").status_code == 200
        assert loads == []
        with pytest.raises(NetworkError, match="ConnectError"):
            certifi.api_get(https_url, "AT")
        assert len(loads) == 1
    finally:
        certifi.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    trusting = Transport()
    try:
        assert trusting.api_get(https_url, "AT").status_code == 200
        assert trusting.api_get(https_url, "AT").status_code == 200  # one store, kept
        assert len(loads) == 2
    finally:
        trusting.close()


_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class _CountingServer:
    """A keep-alive HTTP/1.1 server on loopback that counts the connections it accepts and
    answers each round of ``width`` requests only once all of them have arrived (so that
    ``width`` connections are open at once, without timing)."""

    def __init__(self, width: int) -> None:
        self.accepted = 0
        self.barrier = threading.Barrier(width, timeout=20)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/1.0/accounts"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                _, buffered = buffered.split(b"\r\n\r\n", 1)
                self.barrier.wait()
                conn.sendall(_ANSWER)


@pytest.mark.parametrize(("keep_alive", "expected"), [(None, "more"), (32, "same")])
def test_refresh_all_keeps_one_connection_per_worker_beyond_httpx_default(
    keep_alive: int | None, expected: str
) -> None:
    # Two rounds of 32 concurrent requests: with keep_alive(32) (what `refresh --all
    # --concurrency 32` sets) the second round reuses the first round's 32 connections; with
    # httpx's default of 20, idle connections are closed once the pool holds more than 20.
    server = _CountingServer(32)
    transport = Transport()
    if keep_alive is not None:
        transport.keep_alive(keep_alive)
    between = threading.Barrier(32, timeout=20)

    def worker() -> None:
        for _ in range(2):
            assert transport.api_get(server.url, "token").status_code == 200
            between.wait()

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    transport.close()
    server.sock.close()
    assert not any(thread.is_alive() for thread in threads)
    assert (server.accepted == 32) is (expected == "same"), server.accepted
    with pytest.raises(RuntimeError, match="before the HTTP client is made"):
        transport.keep_alive(8)


def test_its_own_client_keeps_no_cookie_from_a_token_answer(
    httpserver: HTTPServer, provider: Provider
) -> None:
    # A provider (or a proxy in front of it) that sets a cookie must not link one install's
    # requests to the next: the second request carries no Cookie header.
    body = {"access_token": "AT", "refresh_token": "RT2", "token_type": "bearer", "expires_in": 7200}
    httpserver.expect_ordered_request("/oauth2/token", method="POST").respond_with_json(
        body, headers={"Set-Cookie": "session=abc; Path=/"}
    )
    httpserver.expect_ordered_request("/oauth2/token", method="POST").respond_with_json(body)
    own = Transport()
    try:
        own.token(refresh(provider), clock=lambda: NOW, provider=provider)
        own.token(refresh(provider), clock=lambda: NOW, provider=provider)
        assert len(own.http.cookies) == 0
    finally:
        own.close()
    second = httpserver.log[1][0]
    assert "Cookie" not in second.headers


class _PoolClock:
    """Stands in for the ``time`` module of httpcore's HTTP/1.1 connections, whose
    ``monotonic`` decides when an idle connection has expired: the test moves it instead of
    waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def pool_clock(monkeypatch: pytest.MonkeyPatch) -> _PoolClock:
    clock = _PoolClock()
    monkeypatch.setattr(httpcore._sync.http11, "time", clock)
    monkeypatch.setattr(httpcore._async.http11, "time", clock)
    return clock


def _get(client: httpx.Client) -> Callable[[str], None]:
    def send(url: str) -> None:
        client.get(url).raise_for_status()

    return send


def _reuse_after(idle: list[float], send: Callable[[str], None], clock: _PoolClock) -> int:
    """Connections a keep-alive server accepts for one request, then one after each ``idle``."""
    server = _CountingServer(1)
    try:
        send(server.url)
        for seconds in idle:
            clock.now += seconds
            send(server.url)
    finally:
        server.sock.close()
    return server.accepted


def test_a_connection_idle_near_a_servers_keepalive_timeout_is_not_reused(pool_clock: _PoolClock) -> None:
    # httpx's default expiry is 5 s, uvicorn's keep-alive timeout too: a refresh sent at that
    # moment meets the server's close and fails after it may have been sent (a CI storm did,
    # and a spent refresh token cannot be resent). Idle 0.2 s (a burst): reused; idle 2 s
    # (gunicorn's timeout) and 4.9 s (just under uvicorn's): a new connection each.
    transport = Transport()
    try:

        def send(url: str) -> None:
            assert transport.api_get(url, "token").status_code == 200

        assert _reuse_after([0.2, 2.0, 4.9], send, pool_clock) == 3
    finally:
        transport.close()


class _NoRefresh:
    """The stored token is valid throughout: nothing may refresh it."""

    def refresh(self, token: Token, *, guard: object = None) -> Token:
        raise AssertionError("no refresh expected")

    def revoke(self, token: Token) -> None:
        raise AssertionError("no revocation expected")


@pytest.fixture
def coordinator() -> Iterator[RefreshCoordinator]:
    store = open_store("memory://", encryption_keys=())
    token = Token(access_token="a0", expires_at=NOW + 3600, refresh_token="r0", obtained_at=NOW)
    store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)
    yield RefreshCoordinator(store, _NoRefresh(), clock=lambda: NOW)
    store.close()


def test_the_api_clients_reuse_idle_connections_for_seconds_but_not_up_to_a_5_s_timeout(
    pool_clock: _PoolClock, coordinator: RefreshCoordinator
) -> None:
    # An API POST (a new subscriber) meets the same server close as a refresh would at 5 s
    # idle; calls 3 s apart keep their connection (no new TLS handshake each time).
    with api_http_client(coordinator, INSTALL, base_url="http://unused.invalid") as client:
        assert _reuse_after([0.2, 3.0, 4.5], _get(client), pool_clock) == 2

    async def async_connections() -> int:
        server = _CountingServer(1)
        try:
            aclient = async_api_http_client(coordinator, INSTALL, base_url="http://unused.invalid")
            async with aclient:
                for idle in (0.0, 0.2, 3.0, 4.5):
                    pool_clock.now += idle
                    (await aclient.get(server.url)).raise_for_status()
        finally:
            server.sock.close()
        return server.accepted

    assert asyncio.run(async_connections()) == 2
    # A caller's own limits are kept as given.
    own = httpx.Limits(keepalive_expiry=60)
    with api_http_client(coordinator, INSTALL, base_url="http://unused.invalid", limits=own) as client:
        assert _reuse_after([4.5], _get(client), pool_clock) == 1
