"""StateFile: the SQLite storage layer for persisted mock worlds."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from mock_server.config import MockConfig
from mock_server.persist import SCHEMA_VERSION, Persister, StateFile, StateFileError
from mock_server.state import MockState


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


def test_persister_saves_and_restores_every_world(tmp_path: Path) -> None:
    path = tmp_path / "worlds.db"
    persister = Persister(path)
    default, sandbox = MockState(), MockState()
    sandbox.add_user("sam", "pw")
    persister.save("default", default)
    persister.save("sb1", sandbox)
    persister.save("gone", MockState())
    persister.forget("gone")
    persister.close()
    again = Persister(path)
    worlds = again.load_all(MockConfig())
    assert sorted(worlds) == ["default", "sb1"]
    assert "sam" in worlds["sb1"].users
    assert "sam" not in worlds["default"].users
    again.close()


def test_persister_refuses_a_file_another_server_holds(tmp_path: Path) -> None:
    first = Persister(tmp_path / "worlds.db")
    with pytest.raises(StateFileError, match="in use by another mock-aweber"):
        Persister(tmp_path / "worlds.db")
    first.close()
    Persister(tmp_path / "worlds.db").close()  # released on close (and by the kernel on a kill)


def test_persister_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="pass a file path"):
        Persister(tmp_path)  # a directory
    with pytest.raises(StateFileError, match="pass a file path"):
        Persister(tmp_path / "missing" / "worlds.db")
    path = tmp_path / "worlds.db"
    sf = StateFile(path)
    sf.save("default", b"not a snapshot")
    sf.close()
    persister = Persister(path)
    with pytest.raises(
        StateFileError, match=r"worlds\.db cannot be restored: world 'default'.*delete the file"
    ):
        persister.load_all(MockConfig())
    persister.close()


def test_persister_makes_an_existing_file_private(tmp_path: Path) -> None:
    path = tmp_path / "worlds.db"
    StateFile(path).close()
    path.chmod(0o644)
    Persister(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
