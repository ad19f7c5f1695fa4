"""SQLite-only guarantees: private files, schema migrations, damage reported, crash safety."""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import WORKER

from oob_helper.errors import StoreError
from oob_helper.stores import open_store
from oob_helper.stores.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from oob_helper.tokens import InstallRecord, Token


def _record(n: int) -> InstallRecord:
    return InstallRecord(
        install="site.example",
        token=Token(access_token=f"access-{n}", refresh_token=f"refresh-{n}"),
        state="connected",
    )


def test_database_and_its_siblings_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask must not leak into the files' modes
    try:
        store = SQLiteStore(tmp_path / "deep" / "tokens.db")
        store.put(_record(1), expected_version=None)
        with store.lock("site.example"):
            pass
    finally:
        os.umask(old)
    files = [tmp_path / "deep" / name for name in ("tokens.db", "tokens.db-wal", "tokens.db-shm")]
    for path in files:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    lock_dir = tmp_path / "deep" / "tokens.db.locks"
    assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700
    for lock_file in lock_dir.iterdir():
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700
    store.close()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    SQLiteStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "t.db").close()
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_an_older_schema_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    data = json.dumps(
        {
            "install": "site.example",
            "state": "connected",
            "token": {"access_token": "a1", "refresh_token": "r1"},
        }
    )
    conn.execute("INSERT INTO records VALUES ('site.example', 3, ?)", (data,))
    conn.close()

    store = SQLiteStore(path)
    loaded = store.get("site.example")
    assert loaded is not None
    assert loaded.version == 3
    assert loaded.token is not None
    assert loaded.token.refresh_token == "r1"
    assert store.put(_record(4), expected_version=3).version == 4
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"attempts_by_expiry", "attempts_by_install"} <= indexes
    conn.close()


def test_a_newer_schema_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="upgrade oob-helper"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_gives_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite, just some text that fills the header........" * 20)
    with pytest.raises(StoreError, match="not a database"):
        open_store(f"sqlite:///{path}")


def test_a_damaged_record_gives_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    store.put(_record(1), expected_version=None)
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("UPDATE records SET data = '{not json'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="damaged"):
        store.get("site.example")
    store.close()


def test_connections_are_per_thread_and_closed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    store.put(_record(1), expected_version=None)
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: store.get("site.example").version, range(16)))  # type: ignore[union-attr]
    assert versions == [1] * 16
    store.close()
    reopened = SQLiteStore(tmp_path / "t.db")
    assert reopened.get("site.example") is not None
    reopened.close()


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_old_or_the_new_record(tmp_path: Path) -> None:
    """A writer rewrites one record in a loop and is killed at random moments, 40 times."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    rng = random.Random(1234)
    last_version = 0
    for _ in range(40):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "crashwrite", url, "site.example"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
            # A random moment (not a wait for expiry): its writes are back to back, so most kills
            # land inside a transaction or its commit.
            time.sleep(rng.uniform(0, 0.02))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
            proc.communicate()
        store = open_store(url)
        current = store.get("site.example")
        assert current is not None
        assert current.token is not None
        n = current.version
        assert n > last_version  # every write the worker made before its first "ready" stuck
        assert current.token.access_token == f"access-{n}"
        assert current.token.refresh_token == f"refresh-{n}"
        assert current.last_refresh_at == n
        last_version = n
        store.close()


def test_a_finished_threads_connection_is_closed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    for _ in range(5):
        thread = threading.Thread(target=store.list_installs)
        thread.start()
        thread.join()
        del thread
    gc.collect()
    assert len(store._conns) <= 1  # the main thread's, from opening
    store.close()


def test_many_processes_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL is answered "database is locked" at once (no busy handler)
    while another process holds it: every opener must wait instead (CI saw a worker fail)."""
    code = "import sys; from oob_helper.stores import open_store; open_store(sys.argv[1]).close()"
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        procs = [
            subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
            for _ in range(12)
        ]
        answers = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
        failures = [err for err, code in answers if code != 0]
        assert failures == [], failures[0][-1000:]
