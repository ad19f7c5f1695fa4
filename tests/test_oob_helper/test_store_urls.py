"""open_store: which URL opens which backend, and the errors for the ones that do not."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from oob_helper.crypto import generate_key
from oob_helper.errors import ConfigurationError
from oob_helper.stores import default_store_url, open_store
from oob_helper.stores.memory import MemoryStore
from oob_helper.stores.sqlite import SQLiteStore


def test_memory_url() -> None:
    store = open_store("memory://", encryption_keys=[])
    assert isinstance(store, MemoryStore)
    assert store.describe() == {"backend": "memory", "encrypted": False, "location": "memory://"}


def test_sqlite_absolute_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite://///{tmp_path}/a.db", encryption_keys=[])
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "a.db"
    store.close()
    assert str(tmp_path).startswith("/")  # so the URL below has four slashes
    four_slashes = open_store(f"sqlite:///{tmp_path}/b.db", encryption_keys=[])
    assert isinstance(four_slashes, SQLiteStore)
    assert four_slashes.path == tmp_path / "b.db"
    four_slashes.close()


def test_sqlite_relative_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    store = open_store("sqlite:///rel/tokens.db", encryption_keys=[])
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "rel" / "tokens.db"
    store.close()


def test_no_url_means_a_sqlite_file_in_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_url() == f"sqlite:///{tmp_path}/data/oob-helper/tokens.db"
    store = open_store(None, encryption_keys=[])
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "data" / "oob-helper" / "tokens.db"
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/db",
        "tokens.db",
        "sqlite://",
        "sqlite:///",
        "sqlite://relative.db",
        "sqlite:relative.db",
        "ftp://x",
        "sqlite:///tokens.db?mode=ro",
        "memory://something",
        "redis://host:notaport/0",
        "postgresql://user:pw@host:99999999/db",
    ],
)
def test_bad_urls_name_the_setting_and_the_accepted_forms(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url, encryption_keys=[])
    message = str(info.value)
    assert "OOB_HELPER_STORE" in message
    assert "sqlite:///" in message
    assert "memory://" in message
    assert "redis://" in message


@pytest.mark.parametrize(
    ("url", "why"), [("sqlite:relative.db", "sqlite:/// followed by"), ("redis:x", "redis://")]
)
def test_a_known_scheme_without_slashes_is_not_called_schemeless(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url, encryption_keys=[])
    assert "no scheme" not in str(info.value)
    assert why in str(info.value)


def test_an_explicit_sqlite_path_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(ConfigurationError) as info:
        open_store(f"sqlite:///{missing}/t.db", encryption_keys=[])
    assert f"directory {missing} does not exist" in str(info.value)
    assert f"mkdir -p {missing}" in str(info.value)
    assert not (tmp_path / "no").exists()


def test_a_password_in_a_bad_url_is_not_shown() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store("postgresql://user:hunter2@host:notaport/db", encryption_keys=[])
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("module", "attribute", "url", "extra"),
    [
        ("oob_helper.stores.redis", "redis", "redis://127.0.0.1:1/0", "oob-helper[redis]"),
        ("oob_helper.stores.postgres", "psycopg", "postgresql://u@127.0.0.1:1/db", "oob-helper[postgres]"),
    ],
)
def test_a_missing_extra_names_the_pip_command(
    module: str, attribute: str, url: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.import_module(module), attribute, None)
    with pytest.raises(ConfigurationError, match=re.escape(f"pip install '{extra}'")):
        open_store(url, encryption_keys=[])


def test_making_a_key_without_cryptography_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(ConfigurationError) as info:
        generate_key()
    assert str(info.value) == (
        "making an encryption key needs the cryptography package: pip install 'oob-helper[encryption]'"
    )  # not "encryption keys are configured": none are


def test_a_missing_cryptography_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(ConfigurationError, match=re.escape("pip install 'oob-helper[encryption]'")):
        open_store("memory://", encryption_keys=["k" * 44])


def test_the_encryption_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OOB_HELPER_ENCRYPTION_KEYS", generate_key())
    assert open_store("memory://").describe()["encrypted"] is True  # type: ignore[attr-defined]
    assert open_store("memory://", encryption_keys=[]).describe()["encrypted"] is False  # type: ignore[attr-defined]
