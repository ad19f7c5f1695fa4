"""The embedded default store: one SQLite file, safe across threads and processes of one host.

- WAL journal, ``synchronous=FULL``: a committed refresh token survives a crash or power loss,
  and a crash at any moment leaves the old record or the new one (every write is one
  ``BEGIN IMMEDIATE`` transaction).
- The database file is created 0600 before SQLite opens it; SQLite gives its ``-wal`` and
  ``-shm`` siblings the database file's mode, and they are tightened again after opening.
- The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
- One connection per thread (sqlite3 connections are not shared across threads).
- The refresh lock is ``fcntl.flock`` on a per-install file in ``<database>.locks/``: each
  acquisition opens its own descriptor, so it excludes threads as well as processes, and the
  kernel releases it the moment its holder dies, so the lease is not needed here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from oob_helper.crypto import TokenCipher
from oob_helper.errors import StoreError
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, batched, conflict, leased_lock, machine_id, with_version
from oob_helper.tokens import InstallRecord, PendingAttempt

# Migration N (1-based) takes the schema from user_version N-1 to N. Append only.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE records (install TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL)",
        "CREATE TABLE attempts (attempt_key TEXT PRIMARY KEY, install TEXT NOT NULL,"
        " expires_at REAL NOT NULL, data TEXT NOT NULL)",
        "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # purge_attempts scans by expiry and delete() by install: index both.
    (
        "CREATE INDEX attempts_by_expiry ON attempts (expires_at)",
        "CREATE INDEX attempts_by_install ON attempts (install)",
    ),
    # claim_once: keys seen once (webhook delivery ids), purged by expiry.
    (
        "CREATE TABLE once_keys (once_key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
        "CREATE INDEX once_keys_by_expiry ON once_keys (expires_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_PAGE = 500

# Forks seen by this process: a thread's cached connection belongs to the generation it was
# opened in, and a forked child must open its own (SQLite connections do not survive a fork).
# Counting forks instead of comparing os.getpid() spares every store call a system call.
_forks = 0


def _forked() -> None:
    global _forks  # noqa: PLW0603 - one process-wide counter, bumped only in a new child
    _forks += 1


if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork the count stays 0
    os.register_at_fork(after_in_child=_forked)


class SQLiteStore:
    """A TokenStore in one SQLite file (see the module docstring for its guarantees)."""

    def __init__(
        self, path: str | os.PathLike[str], *, cipher: TokenCipher | None = None, busy_timeout: float = 15.0
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self._codec = Codec(cipher)
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        self._conns: set[sqlite3.Connection] = set()
        self._conns_mutex = threading.Lock()
        self._lock_dir = self.path.with_name(self.path.name + ".locks")
        self._lock_prefix = str(self._lock_dir) + os.sep
        with self._errors():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_private_file(self.path)
            self._lock_dir.mkdir(mode=0o700, exist_ok=True)
            conn = self._conn()
            self._use_wal(conn)
            self._migrate(conn)
            self._tighten_siblings()
        verify_keys(self._codec, lambda: self._raw_setting(KEY_CHECK_SETTING), self._write_key_check)

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self.path)!r}, encrypted={self._codec.encrypted})"

    def location(self) -> str:
        """Where this store lives: the file's real path on this host (the clone guard compares it)."""
        return f"sqlite:{os.path.realpath(self.path)}@{machine_id()}"

    def describe(self) -> dict[str, Any]:
        """What the store is, for ``status``: backend name, whether tokens are encrypted, where."""
        return {"backend": "sqlite", "encrypted": self._codec.encrypted, "location": str(self.path)}

    # -- records -------------------------------------------------------------------------

    def get(self, install: str) -> InstallRecord | None:
        """The install's record, or None."""
        # try/except rather than the _errors() context manager: with the token cache off
        # (cache_ttl=0) every authorized request comes here, and the generator costs more
        # than the query's Python side.
        try:
            row = (
                self._conn()
                .execute("SELECT version, data FROM records WHERE install = ?", (install,))
                .fetchone()
            )
        except (sqlite3.Error, OSError) as exc:
            raise self._failed(exc) from None
        return None if row is None else self._codec.load_record(row[1], row[0])

    def put(self, record: InstallRecord, *, expected_version: int | None) -> InstallRecord:
        """Compare-and-set write in one transaction; raises VersionConflict on a lost race."""
        new_version = 1 if expected_version is None else expected_version + 1
        new = with_version(record, new_version)
        text = self._codec.dump_record(new)
        if expected_version is not None:
            # One statement is one transaction in autocommit mode (atomic, durable under
            # synchronous=FULL), so the compare-and-set needs no BEGIN/COMMIT round trips:
            # `refresh --all` makes one of these per install. The version read after a lost
            # race only words the error.
            with self._errors():
                conn = self._conn()
                cur = conn.execute(
                    "UPDATE records SET version = ?, data = ? WHERE install = ? AND version = ?",
                    (new_version, text, record.install, expected_version),
                )
                if cur.rowcount == 1:
                    return new
                row = conn.execute(
                    "SELECT version FROM records WHERE install = ?", (record.install,)
                ).fetchone()
            raise conflict(record.install, expected_version, None if row is None else row[0])
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO records (install, version, data) VALUES (?, ?, ?) "
                "ON CONFLICT (install) DO NOTHING",
                (record.install, new_version, text),
            )
            if cur.rowcount != 1:
                row = conn.execute(
                    "SELECT version FROM records WHERE install = ?", (record.install,)
                ).fetchone()
                raise conflict(record.install, expected_version, None if row is None else row[0])
        return new

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any (migrate-store)."""
        self.import_records([record])

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many records, a few hundred per transaction; returns how many."""
        count = 0
        for batch in batched(records, _PAGE):
            rows = [(r.install, r.version, self._codec.dump_record(r)) for r in batch]
            with self._write() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO records (install, version, data) VALUES (?, ?, ?)", rows
                )
            count += len(rows)
        return count

    def delete(self, install: str, *, expected_version: int | None = None) -> bool:
        """Forget the install and its attempts; True if it had a record (see ``TokenStore``)."""
        with self._write() as conn:
            row = conn.execute("SELECT version FROM records WHERE install = ?", (install,)).fetchone()
            if row is not None and expected_version is not None and row[0] != expected_version:
                raise conflict(install, expected_version, row[0])
            conn.execute("DELETE FROM records WHERE install = ?", (install,))
            conn.execute("DELETE FROM attempts WHERE install = ?", (install,))
        return row is not None

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted."""
        with self._errors():
            rows = self._conn().execute("SELECT install FROM records ORDER BY install").fetchall()
        return [row[0] for row in rows]

    def iter_records(self, after: str = "") -> Iterator[InstallRecord]:
        """Every record (of an install sorting after ``after``), ordered by install, read in pages."""
        while True:
            with self._errors():
                rows = (
                    self._conn()
                    .execute(
                        "SELECT install, version, data FROM records WHERE install > ? "
                        "ORDER BY install LIMIT ?",
                        (after, _PAGE),
                    )
                    .fetchall()
                )
            for _install, version, data in rows:
                yield self._codec.load_record(data, version)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    # -- attempts ------------------------------------------------------------------------

    def save_attempt(self, attempt: PendingAttempt) -> None:
        """Keep a pending attempt until it expires or is taken."""
        text = self._codec.dump_attempt(attempt)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO attempts (attempt_key, install, expires_at, data) "
                "VALUES (?, ?, ?, ?)",
                (attempt_key(attempt.attempt_id), attempt.install, attempt.expires_at, text),
            )

    def take_attempt(self, attempt_id: str) -> PendingAttempt | None:
        """Remove and return the attempt in one statement (single use); None if unknown or taken."""
        with self._write() as conn:
            row = conn.execute(
                "DELETE FROM attempts WHERE attempt_key = ? RETURNING data", (attempt_key(attempt_id),)
            ).fetchone()
        return None if row is None else self._codec.load_attempt(row[0])

    def purge_attempts(self, now: float) -> int:
        """Drop attempts that expired before ``now``; returns how many."""
        with self._write() as conn:
            count: int = conn.execute("DELETE FROM attempts WHERE expires_at <= ?", (now,)).rowcount
        return count

    # -- seen-once keys ------------------------------------------------------------------

    def claim_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at`` unless it is recorded and live at ``now``."""
        with self._write() as conn:
            conn.execute("DELETE FROM once_keys WHERE expires_at <= ?", (now,))
            claimed = conn.execute(
                "INSERT INTO once_keys (once_key, expires_at) VALUES (?, ?)"
                " ON CONFLICT (once_key) DO NOTHING",
                (key, expires_at),
            ).rowcount
        return claimed == 1

    def release_claim(self, key: str) -> None:
        """Forget ``key``."""
        with self._write() as conn:
            conn.execute("DELETE FROM once_keys WHERE once_key = ?", (key,))

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting, or None."""
        with self._errors():
            row = self._conn().execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._codec.load_setting(row[0])

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, self._codec.dump_setting(value)),
            )
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return self._codec.load_setting(row[0])

    def set_setting(self, name: str, value: str) -> None:
        """Store ``value``, replacing any."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, self._codec.dump_setting(value)),
            )

    def rewrap_settings(self) -> int:
        """Re-encrypt every setting with the current key; returns how many changed."""
        with self._write() as conn:
            rows = conn.execute("SELECT name, value FROM settings").fetchall()
            updates = [(text, name) for name, value in rows if (text := self._codec.rewrap_setting(value))]
            conn.executemany("UPDATE settings SET value = ? WHERE name = ?", updates)
        return len(updates)

    def _raw_setting(self, name: str) -> str | None:
        with self._errors():
            row = self._conn().execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _write_key_check(self, text: str, only_if_absent: bool) -> None:
        action = "NOTHING" if only_if_absent else "UPDATE SET value = excluded.value"
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO {action}",  # noqa: S608
                (KEY_CHECK_SETTING, text),
            )

    # -- lock ----------------------------------------------------------------------------

    @contextmanager
    def lock(self, install: str, *, timeout: float = 30.0, lease: float = 60.0) -> Iterator[Lease]:
        """The install's refresh lock across threads and processes of this host (flock).

        The kernel drops a flock the moment its holder dies, so it needs no lease: ``lease`` is
        accepted for the protocol and ignored.
        """
        # A str path: joining a pathlib.Path costs more than the open itself.
        path = self._lock_prefix + hashlib.sha256(install.encode("utf-8")).hexdigest()[:40] + ".lock"
        with self._errors():
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:

            def try_acquire() -> bool:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            with leased_lock(
                install,
                timeout=timeout,
                duration=None,
                try_acquire=try_acquire,
                renew=None,
                release=lambda: fcntl.flock(fd, fcntl.LOCK_UN),
            ) as held:
                yield held
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._conns_mutex:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- internals -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        cached: tuple[int, sqlite3.Connection] | None = getattr(self._local, "conn", None)
        if cached is not None and cached[0] == _forks:
            return cached[1]
        # check_same_thread=False only so close() may close it from another thread.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA synchronous = FULL")
        self._local.conn = (_forks, conn)
        with self._conns_mutex:
            self._conns.add(conn)
        # Threads come and go (thread pools, servers): close a thread's connection when it ends.
        weakref.finalize(threading.current_thread(), self._forget, conn)
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._conns_mutex:
            if conn not in self._conns:
                return  # close() took it
            self._conns.discard(conn)
        with suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: sqlite3.Error | OSError) -> StoreError:
        """The StoreError to raise for a failed SQLite call or file operation."""
        reason = (exc.strerror or exc) if isinstance(exc, OSError) else exc
        return StoreError(f"SQLite store {str(self.path)!r} failed: {reason}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is
        # locked" at once, without its busy handler, when another process opening the same new
        # store holds it: wait for that process (up to the busy timeout), as for any write.
        deadline = time.monotonic() + self._busy_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
            else:
                return

    def _migrate(self, conn: sqlite3.Connection) -> None:
        while True:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"SQLite store {str(self.path)!r} has schema version {current}, newer than this "
                    f"oob-helper knows ({SCHEMA_VERSION}): upgrade oob-helper"
                )
            if current == SCHEMA_VERSION:
                return
            with self._write() as tx:
                # Re-read inside the write lock: another process may have migrated meanwhile.
                version = tx.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version]:
                        tx.execute(statement)
                    tx.execute(f"PRAGMA user_version = {version + 1}")

    def _tighten_siblings(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            sibling = self.path.with_name(self.path.name + suffix)
            with suppress(FileNotFoundError):
                os.chmod(sibling, 0o600)


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 before SQLite writes to it; tighten an existing one."""
    # Never open an existing database here: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, so another store open on the same file in this process
    # would lose SQLite's locks and could read stale pages after a sibling checkpoints the WAL.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        # PermissionError: another user's file we may write: leave its mode.
        with suppress(PermissionError):
            os.chmod(path, 0o600)
        return
    os.close(fd)
