"""SQLite storage for mock worlds that must survive a restart (issue #11 item 5, storage layer).

One row per world id, each write in one transaction with ``synchronous=FULL`` and a rollback
journal, so a SIGKILL at any moment leaves either the old snapshot or the new one. The
snapshot itself is opaque bytes to ``StateFile``; :class:`Persister` turns worlds into bytes and
back with ``mock_server.snapshot`` and is what ``mock-aweber serve --state FILE`` uses.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mock_server import snapshot

if TYPE_CHECKING:
    from mock_server.config import MockConfig
    from mock_server.state import MockState

SCHEMA_VERSION = 1
_APP = "mock-aweber-state"


class StateFileError(Exception):
    """The state file cannot be used; the message names the file and the fix."""


class StateFile:
    """A versioned SQLite file holding one snapshot blob per world id."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one writer at a time
        # Create with 0600 before SQLite opens it: snapshots hold secrets.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StateFileError(
                f"{self.path} is not a mock-aweber state file ({exc}); pass another --state path"
            ) from None

    def _check_schema(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("CREATE TABLE meta (app TEXT NOT NULL, version INTEGER NOT NULL)")
            self._db.execute("CREATE TABLE worlds (id TEXT PRIMARY KEY, snapshot BLOB NOT NULL)")
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (_APP, SCHEMA_VERSION))
            self._db.execute("COMMIT")
            return
        row = self._db.execute("SELECT app, version FROM meta").fetchone() if "meta" in tables else None
        if row is None or row[0] != _APP:
            raise StateFileError(f"{self.path} is not a mock-aweber state file; pass another --state path")
        if row[1] > SCHEMA_VERSION:
            raise StateFileError(
                f"{self.path} was written by a newer mock-aweber (schema {row[1]} > {SCHEMA_VERSION}); "
                "upgrade mock-aweber or pass another --state path"
            )

    def save(self, world_id: str, snapshot: bytes) -> None:
        """Replace the world's snapshot atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO worlds VALUES (?, ?)", (world_id, snapshot))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load(self, world_id: str) -> bytes | None:
        """The world's last saved snapshot, or None."""
        with self._lock:
            row = self._db.execute("SELECT snapshot FROM worlds WHERE id = ?", (world_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, world_id: str) -> None:
        """Forget a world."""
        with self._lock:
            self._db.execute("DELETE FROM worlds WHERE id = ?", (world_id,))

    def ids(self) -> list[str]:
        """Every stored world id, sorted."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM worlds ORDER BY id")]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class Persister:
    """Every world of one server in one state file: restore them all at start, save on change.

    Opening takes an exclusive lock on the file (released when the process ends, even by
    SIGKILL), so two servers cannot overwrite each other's worlds.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._lock_fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateFileError(
                f"cannot open the state file {self.path}: {exc.strerror or exc}; pass a file path "
                "in a directory that exists and is writable (--state)"
            ) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StateFileError(
                f"the state file {self.path} is in use by another mock-aweber; stop that one or "
                "pass another --state path"
            ) from None
        try:
            self._file = StateFile(self.path)
            # A file made by hand or copied may be readable by others; it holds every token.
            os.fchmod(self._lock_fd, 0o600)
        except BaseException:
            os.close(self._lock_fd)
            raise

    def load_all(self, config: MockConfig) -> dict[str, MockState]:
        """Every stored world, by id, restored to run under ``config``."""
        worlds: dict[str, MockState] = {}
        for world_id in self._file.ids():
            data = self._file.load(world_id)
            if data is None:  # deleted meanwhile
                continue
            try:
                worlds[world_id] = snapshot.load(config, data)
            except snapshot.SnapshotError as exc:
                raise StateFileError(
                    f"the state file {self.path} cannot be restored: world {world_id!r}: {exc}; "
                    "delete the file to start afresh or pass another --state path"
                ) from None
        return worlds

    def save(self, world_id: str, state: MockState) -> None:
        """Write the world now; returns once it is on disk (``synchronous=FULL``)."""
        self._file.save(world_id, snapshot.dump(state))

    def forget(self, world_id: str) -> None:
        """Delete the world from the file (a sandbox deleted or expired)."""
        self._file.delete(world_id)

    def close(self) -> None:
        """Close the file and release its lock."""
        self._file.close()
        os.close(self._lock_fd)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
