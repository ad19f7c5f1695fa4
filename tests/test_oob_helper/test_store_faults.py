"""Server faults: the Redis or PostgreSQL server stops and restarts while workers request
tokens. Callers get a clear StoreError while it is down, nothing is corrupted, work resumes."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.servers import PgBouncerServer, PostgresServer, RedisServer

from oob_helper.errors import StoreError, VersionConflict
from oob_helper.stores import TokenStore, open_store
from oob_helper.tokens import InstallRecord, Token


@dataclass
class Server:
    url: str
    stop: Callable[[], None]
    start: Callable[[], object]


@pytest.fixture(params=["redis", "postgresql", "postgresql-pgbouncer"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == "redis":
        redis_server = RedisServer(persistent=True).start()
        try:
            yield Server(redis_server.url, redis_server.stop, redis_server.start)
        finally:
            redis_server.cleanup()
        return
    pg = PostgresServer()
    try:
        pg.start()
        if request.param == "postgresql":
            yield Server(pg.url + "?pool_timeout=1", pg.stop, pg.start)
            return
        # PgBouncer restarts; the database behind it stays up.
        bouncer = PgBouncerServer(pg.port).start()
        try:
            yield Server(bouncer.url + "?pool_timeout=1", bouncer.stop, bouncer.start)
        finally:
            bouncer.cleanup()
    finally:
        pg.cleanup()


def _pair(n: int) -> InstallRecord:
    token = Token(access_token=f"access-{n}", refresh_token=f"refresh-{n}", obtained_at=float(n))
    return InstallRecord(install="site.example", token=token, state="connected")


@dataclass
class Worker:
    """Reads the token and "refreshes" it (a CAS write of the next pair), over and over."""

    store: TokenStore
    successes: int = 0
    errors: list[StoreError] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.store.lock("site.example", timeout=5, lease=10):
                    current = self.store.get("site.example")
                    assert current is not None
                    self.store.put(_pair(current.version + 1), expected_version=current.version)
                outcome = "ok"
            except VersionConflict:
                outcome = "conflict"  # a write whose reply was lost had landed: re-read and go on
            except StoreError as exc:
                outcome = "error"
                self.errors.append(exc)
            except BaseException as exc:
                self.unexpected.append(exc)
                return
            with self.progress:
                self.successes += outcome == "ok"
                self.progress.notify_all()

    def wait_for(self, condition: Callable[[], bool]) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: condition() or bool(self.unexpected), timeout=120)
        assert not self.unexpected, self.unexpected


def _assert_consistent(store: TokenStore) -> InstallRecord:
    record = store.get("site.example")
    assert record is not None
    assert record.token is not None
    n = record.version
    assert (record.token.access_token, record.token.refresh_token) == (f"access-{n}", f"refresh-{n}")
    return record


def test_stop_and_restart_during_token_requests(server: Server) -> None:
    store = open_store(server.url, encryption_keys=[])
    store.put(_pair(1), expected_version=None)
    worker = Worker(store)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        worker.wait_for(lambda: worker.successes >= 20)
        server.stop()
        worker.wait_for(lambda: len(worker.errors) >= 2)
        # Direct calls while it is down fail the same clear way.
        for call in (
            lambda: store.get("site.example"),
            lambda: store.put(_pair(0), expected_version=1),
            lambda: store.set_setting_if_absent("k", "v"),
        ):
            with pytest.raises(StoreError, match=r"(Redis|PostgreSQL) store .*127\.0\.0\.1"):
                call()
        before_restart = worker.successes
        server.start()
        worker.wait_for(lambda: worker.successes >= before_restart + 20)
    finally:
        worker.stop.set()
        thread.join(60)
    assert not worker.unexpected, worker.unexpected
    for error in worker.errors:
        # Down: "... store ... failed/unreachable". Just back: a lock whose holder lost the
        # server mid-refresh stays taken until its lease runs out ("refresh lock ... timed out").
        assert " store " in str(error) or "refresh lock" in str(error), error
    record = _assert_consistent(store)
    assert record.version >= 40
    store.close()
    reopened = open_store(server.url, encryption_keys=[])
    assert _assert_consistent(reopened) == record
    reopened.close()


def test_opening_a_store_whose_server_is_down_is_a_clear_error(server: Server) -> None:
    server.stop()
    with pytest.raises(StoreError, match="reachable"):
        open_store(server.url, encryption_keys=[])


def test_the_first_call_after_a_restart_succeeds(server: Server) -> None:
    # Pooled connections broke with the restart: the call finds one broken, and is sent again
    # on a fresh connection (one retry), instead of failing or checking every connection first.
    store = open_store(server.url, encryption_keys=[])
    first = store.put(_pair(1), expected_version=None)
    server.stop()
    server.start()
    assert store.put(_pair(2), expected_version=first.version).version == 2
    _assert_consistent(store)
    store.close()
