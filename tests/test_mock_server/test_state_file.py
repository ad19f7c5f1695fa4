"""StateFile: the SQLite storage layer for persisted mock worlds."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from mock_server.persist import SCHEMA_VERSION, StateFile, StateFileError


def test_round_trip_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sf = StateFile(path)
    sf.save("default", b"one")
    sf.save("sb1", b"two")
    sf.save("default", b"three")
    sf.close()
    again = StateFile(path)
    assert again.load("default") == b"three"
    assert again.ids() == ["default", "sb1"]
    again.delete("sb1")
    assert again.load("sb1") is None
    assert again.ids() == ["default"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StateFileError, match="not a mock-aweber state file"):
        StateFile(path)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)")
    with pytest.raises(StateFileError, match="not a mock-aweber state file"):
        StateFile(other)


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateFile(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StateFileError, match="newer mock-aweber"):
        StateFile(path)
