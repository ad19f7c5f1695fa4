"""OAuthHelperAuth driven by hand, as httpx's own tests/test_auth.py drives its flows."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oob_helper.auth import OAuthHelperAuth
from oob_helper.errors import InvalidGrant, ReauthorizationRequired
from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores import TokenStore, open_store
from oob_helper.tokens import InstallRecord, Token

T0 = 1_800_000_000.0
INSTALL = "blog.example"


class Refresher:
    """A scripted token endpoint."""

    def __init__(self) -> None:
        self.calls = 0
        self.counter = itertools.count(1)
        self.refuse = False

    def revoke(self, token: Token) -> None:
        """Revocation is not what these tests look at."""

    def refresh(self, token: Token, *, guard: object = None) -> Token:
        self.calls += 1
        if self.refuse:
            raise InvalidGrant("refused", error_description="The refresh token is invalid or expired.")
        n = next(self.counter)
        return Token(access_token=f"a{n}", expires_at=T0 + 7200, refresh_token=f"r{n}", obtained_at=T0)


@pytest.fixture
def store() -> Iterator[TokenStore]:
    store = open_store("memory://", encryption_keys=())
    token = Token(access_token="a0", expires_at=T0 + 3600, refresh_token="r0", obtained_at=T0 - 3600)
    store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)
    yield store
    store.close()


@pytest.fixture
def refresher() -> Refresher:
    return Refresher()


@pytest.fixture
def auth(store: TokenStore, refresher: Refresher) -> OAuthHelperAuth:
    coordinator = RefreshCoordinator(store, refresher, clock=lambda: T0, jitter=0.0)
    return OAuthHelperAuth(coordinator, INSTALL)


def response(status: int, body: Any = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {})


def test_a_success_sends_the_bearer_token_once(auth: OAuthHelperAuth, refresher: Refresher) -> None:
    request = httpx.Request("GET", "https://api.example/1.0/accounts")
    flow = auth.sync_auth_flow(request)
    sent = next(flow)
    assert sent.headers["Authorization"] == "Bearer a0"
    with pytest.raises(StopIteration):
        flow.send(response(200))
    assert refresher.calls == 0


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_token", "error_description": "Auth Error"},
        {"error": {"status": 401, "type": "UnauthorizedError", "message": "Invalid Token"}},
        "not json at all",
    ],
    ids=["rfc6750", "aweber-envelope", "other"],
)
def test_a_401_refreshes_once_and_retries_once(
    auth: OAuthHelperAuth, refresher: Refresher, store: TokenStore, body: Any
) -> None:
    request = httpx.Request("POST", "https://api.example/1.0/x", json={"name": "n"})
    flow = auth.sync_auth_flow(request)
    assert next(flow).headers["Authorization"] == "Bearer a0"
    retry = flow.send(response(401, body))
    assert retry.headers["Authorization"] == "Bearer a1"
    assert retry.content == b'{"name":"n"}'
    with pytest.raises(StopIteration):
        flow.send(response(200))
    assert refresher.calls == 1
    record = store.get(INSTALL)
    assert record is not None
    assert record.token is not None
    assert record.token.refresh_token == "r1"


def test_a_second_401_is_returned_as_is(auth: OAuthHelperAuth, refresher: Refresher) -> None:
    flow = auth.sync_auth_flow(httpx.Request("GET", "https://api.example/1.0/accounts"))
    next(flow)
    flow.send(response(401, {"error": "invalid_token"}))
    with pytest.raises(StopIteration):
        flow.send(response(401, {"error": "invalid_token"}))
    assert refresher.calls == 1


def test_rate_limit_403_is_not_a_refresh_reason(auth: OAuthHelperAuth, refresher: Refresher) -> None:
    flow = auth.sync_auth_flow(httpx.Request("GET", "https://api.example/1.0/accounts"))
    next(flow)
    body = {"error": {"status": 403, "type": "ForbiddenError", "message": "Rate Limit Error"}}
    with pytest.raises(StopIteration):
        flow.send(response(403, body))
    assert refresher.calls == 0


def test_an_expiring_token_is_refreshed_before_the_request(store: TokenStore, refresher: Refresher) -> None:
    coordinator = RefreshCoordinator(store, refresher, clock=lambda: T0 + 3500, jitter=0.0)
    flow = OAuthHelperAuth(coordinator, INSTALL).sync_auth_flow(httpx.Request("GET", "https://api.example/"))
    assert next(flow).headers["Authorization"] == "Bearer a1"
    assert refresher.calls == 1


def test_a_refused_refresh_after_401_raises_reauthorization_required(
    auth: OAuthHelperAuth, refresher: Refresher
) -> None:
    refresher.refuse = True
    flow = auth.sync_auth_flow(httpx.Request("GET", "https://api.example/"))
    next(flow)
    with pytest.raises(ReauthorizationRequired, match="blog"):
        flow.send(response(401, {"error": "invalid_token"}))


def test_the_async_flow_refreshes_in_a_worker_thread(auth: OAuthHelperAuth, refresher: Refresher) -> None:
    threads: list[str] = []

    class Recording(Refresher):
        def refresh(self, token: Token, *, guard: object = None) -> Token:
            threads.append(threading.current_thread().name)
            return refresher.refresh(token)

    auth.coordinator.grant = Recording()

    async def drive() -> list[str]:
        flow = auth.async_auth_flow(httpx.Request("GET", "https://api.example/"))
        headers = [(await flow.__anext__()).headers["Authorization"]]
        headers.append((await flow.asend(response(401))).headers["Authorization"])
        with pytest.raises(StopAsyncIteration):
            await flow.asend(response(200))
        return headers

    assert asyncio.run(drive()) == ["Bearer a0", "Bearer a1"]
    assert refresher.calls == 1
    assert threads
    assert threads[0] != threading.main_thread().name


def test_the_async_flow_does_not_block_the_event_loop(store: TokenStore) -> None:
    """While a refresh waits on the provider, other coroutines on the loop keep running."""
    loop_ran = threading.Event()

    class SlowProvider(Refresher):
        def refresh(self, token: Token, *, guard: object = None) -> Token:
            # Only a coroutine on the event loop sets this; if the refresh ran on the loop's
            # thread the loop could not run it and this would time out.
            assert loop_ran.wait(10), "the event loop was blocked during the refresh"
            return Token(access_token="a1", expires_at=T0 + 7200, refresh_token="r1", obtained_at=T0)

    coordinator = RefreshCoordinator(store, SlowProvider(), clock=lambda: T0 + 3500, jitter=0.0)
    auth = OAuthHelperAuth(coordinator, INSTALL)

    async def drive() -> str:
        async def other_work() -> None:
            loop_ran.set()

        flow = auth.async_auth_flow(httpx.Request("GET", "https://api.example/"))
        request, _ = await asyncio.gather(flow.__anext__(), other_work())
        await flow.aclose()
        return str(request.headers["Authorization"])

    assert asyncio.run(drive()) == "Bearer a1"


def test_a_real_client_retries_after_401(auth: OAuthHelperAuth, refresher: Refresher) -> None:
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer a0":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"ok": True})

    with httpx.Client(transport=httpx.MockTransport(api), auth=auth) as client:
        assert client.get("https://api.example/1.0/accounts").json() == {"ok": True}
        assert client.get("https://api.example/1.0/accounts").status_code == 200
    assert seen == ["Bearer a0", "Bearer a1", "Bearer a1"]
    assert refresher.calls == 1


def test_repr_names_the_install_only(auth: OAuthHelperAuth) -> None:
    assert repr(auth) == "OAuthHelperAuth(install='blog.example')"
