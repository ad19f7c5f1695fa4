"""RefreshCoordinator: single flight, re-read inside the lock, CAS write, invalid_grant rules.

The provider here is a scripted Refresher (a stand-in for the token endpoint, not for our
code); the live-server versions of these scenarios are in test_race.py, test_lost_response.py
and test_crash.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from oob_helper.errors import (
    InvalidGrant,
    LeaseLost,
    NetworkError,
    NotConnected,
    ReauthorizationRequired,
    ServerError,
    StoreError,
)
from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores import open_store
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, Token

T0 = 1_800_000_000.0


class Clock:
    """Time passed in by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Provider:
    """A scripted token endpoint with rotation: each refresh token works once."""

    def __init__(self, clock: Clock, ttl: float = 7200.0) -> None:
        self.clock = clock
        self.ttl = ttl
        self.calls: list[str] = []
        self.revoked: list[str] = []
        self.live_refresh = "r0"
        self.counter = itertools.count(1)
        self.fail: Exception | None = None
        self.omit_refresh_token = False
        self.before_answer: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def revoke(self, token: Token) -> None:
        self.revoked.append(token.refresh_token or token.access_token)

    def refresh(self, token: Token, *, guard: Callable[[], None] | None = None) -> Token:
        assert token.refresh_token is not None
        if guard is not None:
            guard()
        with self._lock:
            self.calls.append(token.refresh_token)
            if self.before_answer is not None:
                self.before_answer()
            if self.fail is not None:
                raise self.fail
            if token.refresh_token != self.live_refresh:
                raise InvalidGrant(
                    "refresh refused",
                    error="invalid_grant",
                    error_description="The refresh token is invalid or expired.",
                    status_code=400,
                )
            n = next(self.counter)
            self.live_refresh = f"r{n}"
            return Token(
                access_token=f"a{n}",
                expires_at=self.clock() + self.ttl,
                refresh_token=None if self.omit_refresh_token else self.live_refresh,
                obtained_at=self.clock(),
            )


@pytest.fixture
def store() -> Iterator[TokenStore]:
    s = open_store("memory://", encryption_keys=())
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> Provider:
    return Provider(clock)


def connect(store: TokenStore, expires_at: float, *, access: str = "a0", refresh: str | None = "r0") -> None:
    token = Token(access_token=access, expires_at=expires_at, refresh_token=refresh, obtained_at=T0 - 7200)
    store.put(
        InstallRecord(install="site.example", token=token, state="connected", state_changed_at=T0 - 7200),
        expected_version=None,
    )


def coordinator(store: TokenStore, provider: Provider, clock: Clock, **kw: float) -> RefreshCoordinator:
    kw.setdefault("jitter", 0.0)
    return RefreshCoordinator(store, provider, clock=clock, **kw)


def test_fresh_token_is_returned_without_calling_the_provider(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 + 3600)
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert token.access_token == "a0"
    assert provider.calls == []


def test_token_inside_the_leeway_is_refreshed_and_persisted_first(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 + 200)  # inside the default 300 s leeway
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert (token.access_token, token.refresh_token) == ("a1", "r1")
    record = store.get("site.example")
    assert record is not None
    assert record.token == token
    assert record.version == 2
    assert record.last_refresh_at == T0
    assert provider.calls == ["r0"]


def test_jitter_widens_the_leeway_only_upwards(store: TokenStore, provider: Provider, clock: Clock) -> None:
    connect(store, T0 + 320)
    coord = coordinator(store, provider, clock, leeway=300.0, jitter=0.0)
    assert coord.valid_token("site.example").access_token == "a0"
    coord = RefreshCoordinator(store, provider, clock=clock, leeway=300.0, jitter=1e-9)
    assert coord.valid_token("site.example").access_token == "a0"
    clock.now += 21  # now inside leeway whatever the jitter
    assert coord.valid_token("site.example").access_token == "a1"


def test_a_response_without_refresh_token_keeps_the_old_one(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)
    provider.omit_refresh_token = True
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert token.access_token == "a1"
    assert token.refresh_token == "r0"


def test_no_record_means_not_connected(store: TokenStore, provider: Provider, clock: Clock) -> None:
    coord = coordinator(store, provider, clock)
    with pytest.raises(NotConnected, match=r"site\.example"):
        coord.valid_token("site.example")
    with pytest.raises(NotConnected):
        coord.refresh("site.example", force=True)
    assert provider.calls == []


def test_reauthorization_required_record_never_calls_the_provider(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)
    record = store.get("site.example")
    assert record is not None
    store.put(
        dataclasses.replace(record, state="reauthorization_required", reason="revoked"),
        expected_version=record.version,
    )
    coord = coordinator(store, provider, clock)
    with pytest.raises(ReauthorizationRequired, match=r"site\.example") as info:
        coord.valid_token("site.example")
    assert info.value.reason == "revoked"
    with pytest.raises(ReauthorizationRequired):
        coord.refresh("site.example", force=True)
    assert provider.calls == []


def test_invalid_grant_with_the_stored_refresh_token_marks_reauthorization(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)
    provider.live_refresh = "someone-else"  # the provider no longer accepts r0
    with pytest.raises(ReauthorizationRequired, match=r"site\.example") as info:
        coordinator(store, provider, clock).valid_token("site.example")
    assert "invalid_grant" in info.value.reason
    assert "r0" not in str(info.value)
    record = store.get("site.example")
    assert record is not None
    assert record.state == "reauthorization_required"
    assert record.reason == info.value.reason
    assert record.state_changed_at == T0
    assert record.token is not None
    assert record.token.refresh_token == "r0"
    with pytest.raises(ReauthorizationRequired):
        coordinator(store, provider, clock).valid_token("site.example")
    assert provider.calls == ["r0"]


def test_invalid_grant_after_a_rotation_elsewhere_uses_the_stored_pair(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    """Another host (or a holder whose lease ran out) rotated while our request was in flight."""
    connect(store, T0 - 1)

    def rotate_elsewhere() -> None:
        provider.before_answer = None
        record = store.get("site.example")
        assert record is not None
        assert record.token is not None
        provider.live_refresh = "r-elsewhere"
        newer = dataclasses.replace(
            record.token, access_token="a-elsewhere", refresh_token="r-elsewhere", expires_at=T0 + 7200
        )
        store.put(dataclasses.replace(record, token=newer), expected_version=record.version)

    provider.before_answer = rotate_elsewhere
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert token.access_token == "a-elsewhere"
    record = store.get("site.example")
    assert record is not None
    assert record.state == "connected"


@pytest.mark.parametrize(
    "error",
    [NetworkError("connection reset"), ServerError("boom", status_code=503)],
    ids=["network", "5xx"],
)
def test_network_and_server_errors_leave_the_record_untouched(
    store: TokenStore, provider: Provider, clock: Clock, error: Exception
) -> None:
    connect(store, T0 - 1)
    before = store.get("site.example")
    provider.fail = error
    with pytest.raises(type(error)):
        coordinator(store, provider, clock).valid_token("site.example")
    assert store.get("site.example") == before


def test_rejected_token_refreshes_once_and_a_stale_rejection_reuses_the_new_one(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 + 3600)  # still valid by the clock, but the API said 401
    coord = coordinator(store, provider, clock)
    result, record = coord.refresh("site.example", rejected_access_token="a0")
    assert result == "refreshed"
    assert record.token is not None
    assert record.token.access_token == "a1"
    # A sibling that was also rejected with a0 arrives late: no second provider call.
    result, record = coord.refresh("site.example", rejected_access_token="a0")
    assert result == "skipped"
    assert record.token is not None
    assert record.token.access_token == "a1"
    assert provider.calls == ["r0"]


def test_force_and_within(store: TokenStore, provider: Provider, clock: Clock) -> None:
    connect(store, T0 + 3600)
    coord = coordinator(store, provider, clock)
    assert coord.refresh("site.example")[0] == "skipped"
    assert coord.refresh("site.example", within=4000)[0] == "refreshed"
    assert coord.refresh("site.example", force=True)[0] == "refreshed"
    assert provider.calls == ["r0", "r1"]


def test_expired_token_without_refresh_token_requires_reauthorization(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 + 3600, refresh=None)
    coord = coordinator(store, provider, clock)
    assert coord.refresh("site.example", force=True)[0] == "skipped"  # still usable
    clock.now += 3600
    with pytest.raises(ReauthorizationRequired, match="no refresh token"):
        coord.valid_token("site.example")
    record = store.get("site.example")
    assert record is not None
    assert record.state == "reauthorization_required"
    assert provider.calls == []


def test_threads_of_one_process_share_one_refresh(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)
    coord = coordinator(store, provider, clock)
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(coord.valid_token("site.example").access_token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results == ["a1"] * 16
    assert provider.calls == ["r0"]


def test_a_lost_compare_and_set_writes_the_new_pair_over_the_intruder(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    """Our lock's lease ran out mid-refresh and someone wrote; the pair just issued must win."""
    connect(store, T0 - 1)

    def intrude() -> None:
        provider.before_answer = None
        record = store.get("site.example")
        assert record is not None
        store.put(dataclasses.replace(record, account_name="renamed"), expected_version=record.version)

    provider.before_answer = intrude
    token = coordinator(store, provider, clock).valid_token("site.example")
    record = store.get("site.example")
    assert record is not None
    assert record.token == token
    assert record.account_name == "renamed"  # the intruder's other fields survive
    assert record.version == 3


def test_disconnect_during_refresh_is_not_undone(store: TokenStore, provider: Provider, clock: Clock) -> None:
    connect(store, T0 - 1)

    def disconnect() -> None:
        store.delete("site.example")

    provider.before_answer = disconnect
    with pytest.raises(NotConnected):
        coordinator(store, provider, clock).valid_token("site.example")
    assert store.get("site.example") is None


def test_a_newer_pair_of_the_same_grant_is_never_overwritten(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    """Fencing through the real refresh path: a holder whose lease ran out finds a newer pair of
    its grant stored and keeps it (the README's guarantee; issue 15)."""
    connect(store, T0 - 1)

    def refresh_elsewhere() -> None:
        provider.before_answer = None
        record = store.get("site.example")
        assert record is not None
        assert record.token is not None
        newer = dataclasses.replace(record.token, access_token="a-newer", refresh_token="r-newer")
        store.put(dataclasses.replace(record, token=newer), expected_version=record.version)

    provider.before_answer = refresh_elsewhere
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert token.access_token == "a-newer"
    record = store.get("site.example")
    assert record is not None
    assert record.token is not None
    assert record.token.refresh_token == "r-newer"
    assert provider.revoked == []  # revoking ours could end the grant the newer pair belongs to


def test_a_pair_refreshed_for_a_replaced_grant_is_revoked_not_stored(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    """A reconnect (a new grant) written while the refresh was in flight wins; the refreshed
    pair of the old grant is an orphan and is revoked (issue 9, finding 1)."""
    connect(store, T0 - 1)

    def reconnect_elsewhere() -> None:
        provider.before_answer = None
        record = store.get("site.example")
        assert record is not None
        other = Token(access_token="b0", expires_at=T0 + 7200, refresh_token="rb0", obtained_at=T0)
        store.put(
            dataclasses.replace(record, token=other, account_id="B", grant_id="grant-b"),
            expected_version=record.version,
        )

    provider.before_answer = reconnect_elsewhere
    token = coordinator(store, provider, clock).valid_token("site.example")
    assert token.access_token == "b0"
    record = store.get("site.example")
    assert record is not None
    assert record.account_id == "B"
    assert record.token is not None
    assert record.token.refresh_token == "rb0"
    assert provider.revoked == ["r1"]  # the orphan pair the refresh just got


def test_a_pair_refreshed_after_a_disconnect_is_revoked(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)

    def disconnect() -> None:
        provider.before_answer = None
        store.delete("site.example")

    provider.before_answer = disconnect
    with pytest.raises(NotConnected):
        coordinator(store, provider, clock).valid_token("site.example")
    assert store.get("site.example") is None
    assert provider.revoked == ["r1"]


def test_a_lost_lease_stops_the_refresh_before_it_is_sent(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    """A holder that lost its lock's lease sends nothing (the guard the grant is given)."""
    connect(store, T0 - 1)
    coord = coordinator(store, provider, clock)
    real_lock = store.lock

    def losing_lock(install: str, **kw: float) -> Any:
        cm = real_lock(install, **kw)

        class Losing:
            def __enter__(self) -> Any:
                lease = cm.__enter__()
                lease.stop()
                lease._valid_until = 0.0  # as after a stall past the lease
                return lease

            def __exit__(self, *exc: object) -> None:
                cm.__exit__(None, None, None)

        return Losing()

    store.lock = losing_lock  # type: ignore[method-assign]
    with pytest.raises(LeaseLost):
        coord.valid_token("site.example")
    assert provider.calls == []


def test_repr_shows_no_secret(store: TokenStore, provider: Provider, clock: Clock) -> None:
    connect(store, T0 - 1)
    coord = coordinator(store, provider, clock)
    coord.valid_token("site.example")
    assert "a1" not in repr(coord)
    assert "r1" not in repr(coord)


def test_a_held_lock_times_out_as_a_store_error_and_writes_nothing(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    connect(store, T0 - 1)
    before = store.get("site.example")
    coord = coordinator(store, provider, clock, lock_timeout=0.05)
    with store.lock("site.example"), pytest.raises(StoreError, match=r"site\.example"):
        coord.valid_token("site.example")
    assert store.get("site.example") == before
    assert provider.calls == []


def test_short_lived_tokens_are_not_refreshed_on_every_call(
    store: TokenStore, provider: Provider, clock: Clock
) -> None:
    provider.ttl = 60.0  # shorter than the 300 s leeway
    connect(store, T0 - 1)
    coord = coordinator(store, provider, clock)
    assert coord.valid_token("site.example").access_token == "a1"
    clock.now += 10
    assert coord.valid_token("site.example").access_token == "a1"  # not expiring yet
    clock.now += 25  # past half its life
    assert coord.valid_token("site.example").access_token == "a2"
    assert provider.calls == ["r0", "r1"]


def test_a_forced_refresh_on_sqlite_reads_the_record_once_and_writes_it_in_one_statement(
    tmp_path: Any, provider: Provider, clock: Clock
) -> None:
    """`refresh --all` pays this per install: the record and its back-off read under the lock,
    then one compare-and-set UPDATE (autocommit); no read before the lock, no BEGIN/COMMIT."""
    from oob_helper.stores.sqlite import SQLiteStore  # noqa: PLC0415

    sqlite_store = open_store(f"sqlite:///{tmp_path / 'store.db'}", encryption_keys=())
    assert isinstance(sqlite_store, SQLiteStore)
    try:
        connect(sqlite_store, T0 + 3600)
        statements: list[str] = []
        sqlite_store._conn().set_trace_callback(statements.append)
        result, record = coordinator(sqlite_store, provider, clock).refresh("site.example", force=True)
        sqlite_store._conn().set_trace_callback(None)
        assert (result, record.version) == ("refreshed", 2)
        assert [s.split()[0] for s in statements] == ["SELECT", "SELECT", "UPDATE"], statements
        stored = sqlite_store.get("site.example")
        assert stored is not None
        assert stored.token is not None
        assert stored.token.refresh_token == "r1"
    finally:
        sqlite_store.close()
