"""The coordinator's per-install token cache: served without a store read, and never for too long.

Store reads are counted on a real MemoryStore (a subclass counting ``get``) or on two real
SQLite stores over one file (two "processes"); time is the injected clock. The provider is a
scripted Refresher or, for the facade, pytest-httpserver.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from oob_helper.auth import OAuthHelperAuth
from oob_helper.config import Settings
from oob_helper.errors import InvalidGrant, NotConnected, ReauthorizationRequired
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores.memory import MemoryStore
from oob_helper.stores.sqlite import SQLiteStore
from oob_helper.tokens import InstallRecord, Token

T0 = 1_800_000_000.0
INSTALL = "blog.example"


class Clock:
    """Time passed in by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """A real MemoryStore that counts its reads (and may run a hook inside one)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.readers: list[str] = []
        self.during_get: Callable[[], None] | None = None

    def get(self, install: str) -> InstallRecord | None:
        self.gets += 1
        self.readers.append(threading.current_thread().name)
        record = super().get(install)
        if self.during_get is not None:
            hook, self.during_get = self.during_get, None
            hook()
        return record


class Refresher:
    """A scripted token endpoint with rotation."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0
        self.counter = itertools.count(1)
        self.refuse = False

    def revoke(self, token: Token) -> None:
        """Revocation is not what these tests look at."""

    def refresh(self, token: Token, *, guard: object = None) -> Token:
        self.calls += 1
        if self.refuse:
            raise InvalidGrant("refused", error="invalid_grant", status_code=400)
        n = next(self.counter)
        now = self.clock()
        return Token(access_token=f"a{n}", expires_at=now + 7200, refresh_token=f"r{n}", obtained_at=now)


def connect(store: MemoryStore | SQLiteStore, expires_at: float = T0 + 3600) -> None:
    token = Token(access_token="a0", expires_at=expires_at, refresh_token="r0", obtained_at=T0 - 3600)
    store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> Iterator[CountingStore]:
    s = CountingStore()
    connect(s)
    yield s
    s.close()


def make(store: MemoryStore | SQLiteStore, clock: Clock, **kw: float) -> RefreshCoordinator:
    kw.setdefault("jitter", 0.0)
    return RefreshCoordinator(store, Refresher(clock), clock=clock, **kw)


def test_a_valid_token_is_served_without_reading_the_store(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    tokens = [coord.valid_token(INSTALL).access_token for _ in range(50)]
    assert tokens == ["a0"] * 50
    assert store.gets == 1


def test_the_cache_expires_after_its_max_age(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock, cache_ttl=2.0)
    coord.valid_token(INSTALL)
    clock.now += 1.9
    coord.valid_token(INSTALL)
    assert store.gets == 1
    clock.now += 0.1  # 2.0 s after the read
    coord.valid_token(INSTALL)
    assert store.gets == 2
    coord.valid_token(INSTALL)
    assert store.gets == 2  # the new read is cached again


def test_a_clock_moved_backwards_does_not_keep_an_entry(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    coord.valid_token(INSTALL)
    clock.now -= 60
    coord.valid_token(INSTALL)
    assert store.gets == 2


def test_cache_ttl_zero_reads_the_store_every_time(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock, cache_ttl=0.0)
    for _ in range(5):
        coord.valid_token(INSTALL)
    assert store.gets == 5


def test_a_cached_token_entering_the_refresh_window_is_refreshed(clock: Clock) -> None:
    store = CountingStore()
    connect(store, expires_at=T0 + 300.5)  # leaves the 300 s window's edge in half a second
    coord = make(store, clock, leeway=300.0)
    assert coord.valid_token(INSTALL).access_token == "a0"
    clock.now += 1.0  # well inside the cache's max age
    token = coord.valid_token(INSTALL)
    assert token.access_token == "a1"
    stored = store.get(INSTALL)
    assert stored is not None
    assert stored.token == token  # persisted before it was handed out


def test_a_refreshed_token_is_cached_and_served(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    coord.valid_token(INSTALL)
    result, record = coord.refresh(INSTALL, force=True)
    assert result == "refreshed"
    reads = store.gets
    assert coord.valid_token(INSTALL) == record.token
    assert store.gets == reads


def test_a_401_bypasses_the_cache_and_refreshes_once(store: CountingStore, clock: Clock) -> None:
    refresher = Refresher(clock)
    coord = RefreshCoordinator(store, refresher, clock=clock, jitter=0.0)
    auth = OAuthHelperAuth(coord, INSTALL)
    coord.valid_token(INSTALL)  # a0 is now cached
    reads = store.gets
    flow = auth.sync_auth_flow(httpx.Request("GET", "https://api.example/1.0/accounts"))
    request = next(flow)
    assert request.headers["Authorization"] == "Bearer a0"
    assert store.gets == reads  # served from the cache
    retry = flow.send(httpx.Response(401, json={"error": "invalid_token"}))
    assert retry.headers["Authorization"] == "Bearer a1"
    assert store.gets > reads  # the rejected-token path re-read the store
    assert refresher.calls == 1
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, json={}))
    assert coord.valid_token(INSTALL).access_token == "a1"  # the refreshed token, from the cache


def test_the_async_flow_reads_the_store_off_the_loop_and_serves_the_cache_on_it(
    store: CountingStore, clock: Clock
) -> None:
    coord = make(store, clock)
    auth = OAuthHelperAuth(coord, INSTALL)

    async def send_once() -> str:
        flow = auth.async_auth_flow(httpx.Request("GET", "https://api.example/1.0/accounts"))
        request = await flow.__anext__()
        with pytest.raises(StopAsyncIteration):
            await flow.asend(httpx.Response(200, json={}))
        return request.headers["Authorization"]

    async def main() -> list[str]:
        return [await send_once() for _ in range(3)]

    assert asyncio.run(main()) == ["Bearer a0"] * 3
    assert store.gets == 1  # one read for the first request, the cache for the others
    assert store.readers[0] != threading.main_thread().name  # the read ran in a worker thread


def test_another_process_marking_reauthorization_is_seen_after_max_age(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "tokens.db"
    ours, theirs = SQLiteStore(path), SQLiteStore(path)
    try:
        connect(ours)
        coord = make(ours, clock, cache_ttl=2.0)
        assert coord.valid_token(INSTALL).access_token == "a0"
        other = make(theirs, clock)
        assert isinstance(other.grant, Refresher)
        other.grant.refuse = True  # the provider took the grant away
        with pytest.raises(ReauthorizationRequired):
            other.refresh(INSTALL, force=True)
        clock.now += 1.0
        assert coord.valid_token(INSTALL).access_token == "a0"  # still within the max age
        clock.now += 1.0
        with pytest.raises(ReauthorizationRequired, match=r"blog\.example"):
            coord.valid_token(INSTALL)
        with pytest.raises(ReauthorizationRequired):
            coord.valid_token(INSTALL)  # the refusal is not cached as a token
    finally:
        ours.close()
        theirs.close()


def test_reauthorization_required_here_drops_the_entry(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    coord.valid_token(INSTALL)
    assert isinstance(coord.grant, Refresher)
    coord.grant.refuse = True
    with pytest.raises(ReauthorizationRequired):
        coord.refresh(INSTALL, force=True)
    with pytest.raises(ReauthorizationRequired):
        coord.valid_token(INSTALL)


def test_a_disconnect_in_this_process_is_seen_at_once(store: CountingStore, clock: Clock) -> None:
    """The record owner's transitions replace the cache entry themselves: no caller has to
    remember to forget it."""
    coord = make(store, clock)
    coord.valid_token(INSTALL)
    coord.records.disconnect(INSTALL)
    with pytest.raises(NotConnected):
        coord.valid_token(INSTALL)


def test_a_reconnect_in_this_process_is_seen_at_once(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    assert coord.valid_token(INSTALL).access_token == "a0"
    new = Token(access_token="b0", expires_at=T0 + 7200, refresh_token="rb0", obtained_at=T0)
    coord.records.connect(INSTALL, new, "acct-b", "B")
    assert coord.valid_token(INSTALL).access_token == "b0"


def test_a_transition_during_a_read_keeps_that_read_out_of_the_cache(
    store: CountingStore, clock: Clock
) -> None:
    coord = make(store, clock)

    def disconnect_meanwhile() -> None:
        coord.records.disconnect(INSTALL)

    store.during_get = disconnect_meanwhile  # the read returns the record, then it is deleted
    assert coord.valid_token(INSTALL).access_token == "a0"
    with pytest.raises(NotConnected):
        coord.valid_token(INSTALL)


def test_threads_share_one_entry(store: CountingStore, clock: Clock) -> None:
    coord = make(store, clock)
    coord.valid_token(INSTALL)
    seen: list[str] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        seen.extend(coord.valid_token(INSTALL).access_token for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["a0"] * 1600
    assert store.gets == 1


# -- the facade: connect and disconnect in this process drop the entry ----------------------------


def provider_handler(tokens: list[str]) -> Callable[[Request], Response]:
    issued = iter(tokens)

    def handler(request: Request) -> Response:
        body = {
            "access_token": next(issued),
            "refresh_token": "RT",
            "token_type": "bearer",
            "expires_in": 7200,
        }
        return Response(httpx.Response(200, json=body).text, content_type="application/json")

    return handler


@pytest.fixture
def helper(httpserver: HTTPServer, clock: Clock) -> Iterator[OAuthHelper]:
    provider = AWEBER.with_bases(httpserver.url_for("/"), httpserver.url_for("/1.0"))
    settings = Settings(provider=provider, client_id="cid", client_secret="secret")
    h = OAuthHelper(settings, CountingStore(), clock=clock)
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_handler(
        provider_handler(["AT-1", "AT-2"])
    )
    httpserver.expect_request("/1.0/accounts").respond_with_json({"entries": [{"id": 1}], "total_size": 1})
    httpserver.expect_request("/oauth2/revoke").respond_with_data("")
    yield h
    h.close()


def connect_helper(helper: OAuthHelper) -> None:
    start = helper.start_authorization(INSTALL)
    helper.complete_authorization(INSTALL, start.attempt.attempt_id, "code")


def test_disconnect_bypasses_the_cache(helper: OAuthHelper) -> None:
    connect_helper(helper)
    assert helper.get_token(INSTALL).access_token == "AT-1"
    assert helper.get_token(INSTALL).access_token == "AT-1"
    helper.disconnect(INSTALL)
    with pytest.raises(NotConnected):
        helper.get_token(INSTALL)


def test_reconnecting_replaces_the_cached_token_at_once(helper: OAuthHelper) -> None:
    connect_helper(helper)
    assert helper.get_token(INSTALL).access_token == "AT-1"
    connect_helper(helper)
    assert helper.get_token(INSTALL).access_token == "AT-2"
