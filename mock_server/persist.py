"""SQLite storage for mock worlds that must survive a restart (issue #11 item 5, storage layer).

One row per world id, each write in one transaction with ``synchronous=FULL`` and a rollback
journal, so a SIGKILL at any moment leaves either the old snapshot or the new one. The
snapshot itself is opaque bytes here; turning a ``MockState`` into bytes is not done yet.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

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
