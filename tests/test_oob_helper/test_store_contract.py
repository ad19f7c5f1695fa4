"""The TokenStore contract, run against every backend (memory, SQLite; Redis and PostgreSQL
join through ``stores.backends``). Process tests use real worker processes."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import BACKENDS, CROSS_PROCESS, LEASED, Backend, Workers, make_backend

from oob_helper.backoff import BackoffBook
from oob_helper.errors import LeaseLost, StoreError, VersionConflict
from oob_helper.stores import BulkTokenStore, TokenStore, open_store
from oob_helper.tokens import InstallRecord, PendingAttempt, Token

SECRET_ACCESS = "SECRET-ACCESS-7f3a9"
SECRET_REFRESH = "SECRET-REFRESH-c41d2"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.fixture(params=CROSS_PROCESS)
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.fixture(params=LEASED)
def leased_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.fixture
def store(backend: Backend) -> TokenStore:
    return backend.open()


def record(install: str = "site.example", n: int = 1) -> InstallRecord:
    token = Token(
        access_token=f"{SECRET_ACCESS}-{n}",
        refresh_token=f"{SECRET_REFRESH}-{n}",
        expires_at=1_000.0 + n,
        scopes=("account.read", "list.read"),
        obtained_at=float(n),
    )
    return InstallRecord(
        install=install, token=token, state="connected", account_id="42", account_name="Acme"
    )


def attempt(attempt_id: str, install: str = "site.example", expires_at: float = 600.0) -> PendingAttempt:
    return PendingAttempt(
        attempt_id=attempt_id,
        install=install,
        state=f"state-{attempt_id}",
        redirect_uri="urn:ietf:wg:oauth:2.0:oob",
        scopes=("account.read",),
        created_at=0.0,
        expires_at=expires_at,
        code_verifier=f"verifier-{attempt_id}",
    )


# -- records ---------------------------------------------------------------------------------


def test_put_creates_then_compare_and_set_advances_the_version(store: TokenStore) -> None:
    assert store.get("site.example") is None
    first = store.put(record(n=1), expected_version=None)
    assert first.version == 1
    loaded = store.get("site.example")
    assert loaded == first
    second = store.put(record(n=2), expected_version=1)
    assert second.version == 2
    assert store.get("site.example") == second
    assert store.get("site.example").token.refresh_token == f"{SECRET_REFRESH}-2"  # type: ignore[union-attr]


def test_stale_or_duplicate_writes_conflict_and_change_nothing(store: TokenStore) -> None:
    store.put(record(n=1), expected_version=None)
    stored = store.put(record(n=2), expected_version=1)
    with pytest.raises(VersionConflict):
        store.put(record(n=3), expected_version=None)  # must not exist yet
    with pytest.raises(VersionConflict):
        store.put(record(n=3), expected_version=1)  # stale
    with pytest.raises(VersionConflict):
        store.put(record(n=3), expected_version=7)  # from the future
    with pytest.raises(VersionConflict):
        store.put(record("other.example"), expected_version=1)  # no record at all
    assert store.get("site.example") == stored
    assert store.get("other.example") is None


def test_concurrent_compare_and_set_lets_exactly_one_writer_win(backend: Backend) -> None:
    stores = [backend.open() for _ in range(8)]
    stores[0].put(record(n=0), expected_version=None)
    for round_ in range(1, 11):
        barrier = threading.Barrier(len(stores))

        def write(i: int, s: TokenStore, r: int = round_, b: threading.Barrier = barrier) -> bool:
            b.wait()
            try:
                s.put(record(n=r * 100 + i), expected_version=r)
            except VersionConflict:
                return False
            return True

        with ThreadPoolExecutor(len(stores)) as pool:
            wins = list(pool.map(write, range(len(stores)), stores))
        assert wins.count(True) == 1
        current = stores[0].get("site.example")
        assert current is not None
        assert current.version == round_ + 1
        winner = wins.index(True)
        assert current.token is not None
        assert current.token.access_token == f"{SECRET_ACCESS}-{round_ * 100 + winner}"


def test_delete_with_an_expected_version_is_compare_and_set(store: TokenStore) -> None:
    """Disconnect deletes only the grant it revoked: a reconnect written meanwhile survives."""
    first = store.put(record(n=1), expected_version=None)
    store.save_attempt(attempt("att-1"))
    newer = store.put(record(n=2), expected_version=first.version)
    with pytest.raises(VersionConflict, match=r"expected version 1, found version 2"):
        store.delete("site.example", expected_version=first.version)
    assert store.get("site.example") == newer  # nothing changed
    assert store.take_attempt("att-1") is not None
    assert store.delete("site.example", expected_version=newer.version) is True
    assert store.get("site.example") is None
    assert store.delete("site.example", expected_version=newer.version) is False


def test_delete_list_and_iterate(store: TokenStore) -> None:
    for name in ["b.example", "a.example", "c.example"]:
        store.put(record(name), expected_version=None)
    store.save_attempt(attempt("att-b", install="b.example"))
    store.save_attempt(attempt("att-c", install="c.example"))
    assert store.list_installs() == ["a.example", "b.example", "c.example"]
    assert [r.install for r in store.iter_records()] == ["a.example", "b.example", "c.example"]  # type: ignore[attr-defined]
    assert store.delete("b.example") is True
    assert store.delete("b.example") is False
    assert store.get("b.example") is None
    assert store.take_attempt("att-b") is None  # its attempts went with it
    assert store.take_attempt("att-c") is not None
    assert store.list_installs() == ["a.example", "c.example"]
    # A deleted install can be connected again from scratch.
    assert store.put(record("b.example"), expected_version=None).version == 1


def test_import_record_keeps_the_version(store: TokenStore) -> None:
    imported = record(n=5)
    store.import_record(replace(imported, version=17))  # type: ignore[attr-defined]
    assert store.get("site.example") == replace(imported, version=17)
    assert store.put(record(n=6), expected_version=17).version == 18


def test_import_records_in_bulk_and_set_setting(store: TokenStore) -> None:
    records = [replace(record(f"site{i:04d}.example", n=i), version=i % 5 + 1) for i in range(1200)]
    assert store.import_records(iter(records)) == 1200  # type: ignore[attr-defined]
    assert list(store.iter_records()) == records  # type: ignore[attr-defined]
    assert store.list_installs() == [r.install for r in records]
    # Keyset paging (the fleet view): strictly after the key, across the backend's own pages,
    # and from a key that is not itself an install.
    assert list(store.iter_records(after="site0499.example")) == records[500:]  # type: ignore[attr-defined]
    assert list(store.iter_records(after="site0499.zzz")) == records[500:]  # type: ignore[attr-defined]
    assert list(store.iter_records(after="site1199.example")) == []  # type: ignore[attr-defined]
    store.set_setting("web_secret_key", "one")  # type: ignore[attr-defined]
    store.set_setting("web_secret_key", "two")  # type: ignore[attr-defined]
    assert store.get_setting("web_secret_key") == "two"
    assert store.set_setting_if_absent("web_secret_key", "three") == "two"


# -- attempts --------------------------------------------------------------------------------


def test_attempts_are_single_use(store: TokenStore) -> None:
    original = attempt("att-1")
    store.save_attempt(original)
    assert store.take_attempt("att-unknown") is None
    assert store.take_attempt("att-1") == original
    assert store.take_attempt("att-1") is None


def test_purge_drops_only_expired_attempts(store: TokenStore) -> None:
    store.save_attempt(attempt("old-1", expires_at=100.0))
    store.save_attempt(attempt("old-2", expires_at=199.0))
    store.save_attempt(attempt("fresh", expires_at=300.0))
    assert store.purge_attempts(200.0) == 2
    assert store.purge_attempts(200.0) == 0
    assert store.take_attempt("old-1") is None
    assert store.take_attempt("fresh") is not None


def test_concurrent_takes_by_threads_hand_each_attempt_out_once(backend: Backend) -> None:
    stores = [backend.open() for _ in range(8)]
    ids = [f"att-{i}" for i in range(40)]
    for i in ids:
        stores[0].save_attempt(attempt(i))
    barrier = threading.Barrier(len(stores))

    def take_all(s: TokenStore) -> list[str]:
        barrier.wait()
        return [i for i in ids if s.take_attempt(i) is not None]

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(take_all, stores))
    taken = [i for got in results for i in got]
    assert sorted(taken) == sorted(ids)


def test_concurrent_takes_by_processes_hand_each_attempt_out_once(shared_backend: Backend) -> None:
    store = shared_backend.open()
    ids = [f"att-{i}" for i in range(60)]
    for i in ids:
        store.save_attempt(attempt(i))
    workers = Workers("take", shared_backend.url, [[",".join(ids)] for _ in range(4)])
    try:
        workers.wait_ready()
        outputs = workers.go()
    finally:
        workers.kill()
    taken = [i for out in outputs for i in json.loads(out)]
    assert sorted(taken) == sorted(ids)


# -- settings --------------------------------------------------------------------------------


def test_settings_are_set_once(store: TokenStore) -> None:
    assert store.get_setting("secret_key") is None
    assert store.set_setting_if_absent("secret_key", "first") == "first"
    assert store.set_setting_if_absent("secret_key", "second") == "first"
    assert store.get_setting("secret_key") == "first"


def test_a_refresh_back_off_is_shared_by_every_connection_and_follows_its_record(backend: Backend) -> None:
    """oob_helper/backoff.py keeps the back-off in the store's settings: another connection (for
    the cross-process backends, what another worker or host sees) reads the same back-off, and a
    write of the record (a refresh that succeeded, a reconnect) ends it without a clean-up write."""
    first, second = backend.open(), backend.open()
    stored = first.put(record("a.example"), expected_version=None)
    book, other = BackoffBook(first), BackoffBook(second)
    assert other.get(stored) is None
    one = book.failed(stored, error="server_error", transient=True, now=100.0)
    assert (one.failures, one.next_attempt_at, one.blocks(100.0)) == (1, 100.0, False)  # retry at once
    two = other.failed(stored, error="server_error", transient=True, now=100.0)
    assert two.failures == 2
    assert 115.0 <= two.next_attempt_at <= 130.0  # base 30 s, jitter down to half
    assert book.get(stored) == two
    assert book.get(InstallRecord(install="b.example")) is None  # per install
    newer = first.put(stored, expected_version=stored.version)
    assert book.get(newer) is None
    assert other.get(newer) is None
    permanent = other.failed(newer, error="invalid_client", transient=False, now=200.0)
    assert book.get(newer) == permanent
    assert permanent.blocks(10**12)


def test_setting_race_between_threads_keeps_one_value(backend: Backend) -> None:
    stores = [backend.open() for _ in range(8)]
    barrier = threading.Barrier(len(stores))

    def race(i: int) -> str:
        barrier.wait()
        return stores[i].set_setting_if_absent("secret_key", f"value-{i}")

    with ThreadPoolExecutor(len(stores)) as pool:
        values = list(pool.map(race, range(len(stores))))
    assert len(set(values)) == 1
    assert stores[0].get_setting("secret_key") == values[0]


def test_setting_race_between_processes_keeps_one_value(shared_backend: Backend) -> None:
    workers = Workers("setting", shared_backend.url, [[f"value-{i}"] for i in range(4)])
    try:
        workers.wait_ready()
        values = {out.strip() for out in workers.go()}
    finally:
        workers.kill()
    assert len(values) == 1
    assert shared_backend.open().get_setting("shared") == values.pop()


# -- the refresh lock ------------------------------------------------------------------------


def test_lock_excludes_threads(backend: Backend) -> None:
    stores = [backend.open() for _ in range(6)]
    inside = 0
    overlaps = 0
    counter = 0
    mutex = threading.Lock()

    def work(s: TokenStore) -> None:
        nonlocal inside, overlaps, counter
        for _ in range(30):
            with s.lock("site.example", timeout=30):
                with mutex:
                    inside += 1
                    overlaps += inside > 1
                value = counter
                threading.Event().wait(0)  # yields the GIL inside the critical section
                counter = value + 1
                with mutex:
                    inside -= 1

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(work, stores))
    assert overlaps == 0
    assert counter == 6 * 30


def test_lock_excludes_processes(shared_backend: Backend, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    log = tmp_path / "log"
    workers = Workers(
        "lockcount", shared_backend.url, [["site.example", str(counter), str(log), "25"] for _ in range(4)]
    )
    try:
        workers.wait_ready()
        workers.go()
    finally:
        workers.kill()
    assert counter.read_text() == str(4 * 25)
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * 4 * 25
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("in ")
        assert leave == "out " + enter[3:]


def test_lock_times_out_with_a_store_error(backend: Backend) -> None:
    holder, waiter = backend.open(), backend.open()
    with holder.lock("site.example", timeout=5):
        with (
            pytest.raises(StoreError, match=r"refresh lock of install 'site\.example'"),
            waiter.lock("site.example", timeout=0.1),
        ):
            pass
        with waiter.lock("other.example", timeout=0.1):  # other installs are independent
            pass
    with waiter.lock("site.example", timeout=0.1):  # released on exit
        pass


def test_lock_held_by_another_process_times_out(shared_backend: Backend) -> None:
    holder = Workers("hold", shared_backend.url, [["site.example"]])
    try:
        holder.wait_ready("held")
        with (
            pytest.raises(StoreError, match="timed out"),
            shared_backend.open().lock("site.example", timeout=0.2),
        ):
            pass
        holder.go()  # the holder leaves its lock and exits
    finally:
        holder.kill()
    with shared_backend.open().lock("site.example", timeout=5):
        pass


def test_a_killed_holder_frees_the_lock(shared_backend: Backend) -> None:
    """SQLite: the kernel drops the flock at once; Redis/PostgreSQL: the 1 s lease runs out."""
    holder = Workers("hold", shared_backend.url, [["site.example", "1.0"]])
    try:
        holder.wait_ready("held")
    finally:
        holder.kill()
    with shared_backend.open().lock("site.example", timeout=30):
        pass


def test_lock_is_released_when_the_body_raises(store: TokenStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.lock("site.example", timeout=1):
        raise RuntimeError("boom")
    with store.lock("site.example", timeout=0.1):
        pass


def test_a_live_holder_keeps_its_lock_past_its_lease(leased_backend: Backend) -> None:
    """The lease is renewed while its holder works: a refresh slower than the lease keeps the
    lock, so no second worker can send the same single-use refresh token (issue 9)."""
    holder, waiter = leased_backend.open(), leased_backend.open()
    with holder.lock("site.example", timeout=5, lease=0.3) as lease:
        # Four lease lengths: without renewal the waiter would get in after the first.
        with pytest.raises(StoreError, match="timed out"), waiter.lock("site.example", timeout=1.2):
            pass
        assert lease.held
        lease.check()
    with waiter.lock("site.example", timeout=1):  # released on exit
        pass


def test_a_lease_taken_over_is_lost_and_its_holder_fenced(leased_backend: Backend) -> None:
    """A holder whose lease another worker now owns knows it, cannot write, and leaving its
    lock does not free the new holder's."""
    slow, fast, third = leased_backend.open(), leased_backend.open(), leased_backend.open()
    slow.put(record(n=1), expected_version=None)
    slow_lock = slow.lock("site.example", timeout=5, lease=0.3)
    lease = slow_lock.__enter__()
    seen = slow.get("site.example")
    assert seen is not None
    # Stand in for a stalled holder: a stopped process renews nothing.
    lease.stop()
    with fast.lock("site.example", timeout=30, lease=60):
        current = fast.get("site.example")
        assert current is not None
        fast.put(record(n=2), expected_version=current.version)
        assert not lease.held
        with pytest.raises(LeaseLost, match=r"lost the refresh lock of install 'site\.example'"):
            lease.check()
        with pytest.raises(VersionConflict):  # the version it read is gone: its write cannot land
            slow.put(record(n=99), expected_version=seen.version)
        slow_lock.__exit__(None, None, None)
        with pytest.raises(StoreError, match="timed out"), third.lock("site.example", timeout=0.1):
            pass
    stored = third.get("site.example")
    assert stored is not None
    assert stored.token is not None
    assert stored.token.access_token == f"{SECRET_ACCESS}-2"
    assert stored.version == 2


def test_the_sqlite_lock_needs_no_lease(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    with store.lock("site.example", timeout=1, lease=0.01) as lease:
        assert lease.duration is None
        assert lease.held
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_opens_its_own_sqlite_connection(tmp_path: Path) -> None:
    # SQLite connections must not cross a fork: the child's first store call opens a new one,
    # and its writes are the parent's to read.
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    store.put(record(n=1), expected_version=None)
    parent_conn = store._conn()  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it got a new connection that works
        code = 1
        try:
            seen = store.get("site.example")
            fresh = store._conn() is not parent_conn  # type: ignore[attr-defined]
            if fresh and seen is not None:
                store.put(record(n=2), expected_version=seen.version)
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._conn() is parent_conn  # type: ignore[attr-defined]
    stored = store.get("site.example")
    assert stored is not None
    assert stored.version == 2
    store.close()


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_in_repr_str_describe_or_errors(backend: Backend) -> None:
    store = backend.open()
    store.put(record(n=1), expected_version=None)
    store.save_attempt(attempt("att-secret-id"))
    store.set_setting_if_absent("secret_key", "SECRET-SETTING")
    try:
        store.put(record(n=2), expected_version=5)
    except VersionConflict as exc:
        error_text = f"{exc!s} {exc!r}"
    shown = " ".join([repr(store), str(store), json.dumps(store.describe()), error_text])  # type: ignore[attr-defined]
    shown += repr(store.get("site.example")) + repr(store.take_attempt("att-secret-id"))
    for secret in (SECRET_ACCESS, SECRET_REFRESH, "SECRET-SETTING", "att-secret-id", "verifier-"):
        assert secret not in shown
    assert store.describe()["backend"] == backend.name.split("-")[0]  # type: ignore[attr-defined]


def test_every_backend_offers_the_bulk_protocol(store: TokenStore) -> None:
    assert isinstance(store, BulkTokenStore)


def test_location_names_where_the_store_lives_without_a_secret(backend: Backend) -> None:
    """The clone guard's input: the same for every handle on one store, never a password."""
    first, second = backend.open(), backend.open()
    assert first.location() == second.location()  # type: ignore[attr-defined]
    location = first.location()  # type: ignore[attr-defined]
    assert location.split(":", 1)[0] in {"memory", "sqlite", "redis", "postgresql"}
    password = urlsplit(backend.url).password
    assert not password or password not in location


# -- refresh-token age (issue 13) --------------------------------------------------------------


def test_refresh_token_age_and_warnings_round_trip(store: TokenStore) -> None:
    aged = replace(
        record(n=1),
        refresh_token_issued_at=1_000.5,
        refresh_token_used_at=2_000.25,
        overdue_warned_at=3_000.0,
        expiring_warned_at=None,
    )
    stored = store.put(aged, expected_version=None)
    assert store.get("site.example") == stored
    assert stored.refresh_token_issued_at == 1_000.5
    assert stored.refresh_token_used_at == 2_000.25
    assert stored.overdue_warned_at == 3_000.0
    assert stored.expiring_warned_at is None
    assert list(store.iter_records()) == [stored]  # type: ignore[attr-defined]
    store.import_record(replace(aged, install="copy.example", version=4))  # type: ignore[attr-defined]
    assert store.get("copy.example") == replace(aged, install="copy.example", version=4)


def test_a_record_written_before_refresh_token_ages_reads_them_as_unknown() -> None:
    from oob_helper.stores._codec import Codec  # noqa: PLC0415

    data = json.loads(Codec(None).dump_record(record(n=1)))
    ages = ("refresh_token_issued_at", "refresh_token_used_at", "overdue_warned_at", "expiring_warned_at")
    for name in ages:
        del data[name]  # the shape stored before issue 13
    old = Codec(None).load_record(json.dumps(data))
    assert old == record(n=1)
    assert (old.refresh_token_issued_at, old.refresh_token_used_at) == (None, None)


# -- the clone guard's store location (issue 13, item 6) -------------------------------------


def test_the_store_location_a_record_was_made_in_round_trips(store: TokenStore) -> None:
    made = replace(record(n=1), store_location=store.location())  # type: ignore[attr-defined]
    stored = store.put(made, expected_version=None)
    assert store.get("site.example") == stored
    assert stored.store_location == store.location()  # type: ignore[attr-defined]
    assert list(store.iter_records()) == [stored]  # type: ignore[attr-defined]
    elsewhere = replace(made, install="copy.example", version=2, store_location="sqlite:/elsewhere@other")
    store.import_record(elsewhere)  # type: ignore[attr-defined]
    assert store.get("copy.example") == elsewhere


def test_a_record_written_before_the_clone_guard_has_no_location_yet() -> None:
    from oob_helper.stores._codec import Codec  # noqa: PLC0415

    data = json.loads(Codec(None).dump_record(record(n=1)))
    del data["store_location"]  # the shape stored before issue 13, item 6
    old = Codec(None).load_record(json.dumps(data))
    assert old == record(n=1)
    assert old.store_location is None
