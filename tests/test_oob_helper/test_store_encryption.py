"""Encryption at rest in every backend: no token in the stored bytes, rotation keeps every
install readable, a wrong or missing key is a clear error that changes nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import BACKENDS, Backend, make_backend

from oob_helper.crypto import generate_key
from oob_helper.errors import StoreError
from oob_helper.stores import reencrypt
from oob_helper.tokens import InstallRecord, PendingAttempt, Token

PERSISTENT = [name for name in BACKENDS if name != "memory"]
SECRETS = [
    "ACCESS-5c1e8d",
    "REFRESH-9b7f02",
    "VERIFIER-3e55aa",
    "STATE-aa01f3",
    "ATTEMPT-77d1e0",
    "SETTING-4242fe",
]


def _record(install: str, n: int = 1) -> InstallRecord:
    token = Token(access_token=f"ACCESS-5c1e8d-{n}", refresh_token=f"REFRESH-9b7f02-{n}", expires_at=10.0)
    return InstallRecord(install=install, token=token, state="connected", account_name="Acme")


def _fill(backend: Backend) -> None:
    store = backend.open()
    store.put(_record("a.example"), expected_version=None)
    store.put(_record("b.example"), expected_version=None)
    store.save_attempt(
        PendingAttempt(
            attempt_id="ATTEMPT-77d1e0",
            install="a.example",
            state="STATE-aa01f3",
            redirect_uri="urn:ietf:wg:oauth:2.0:oob",
            scopes=("account.read",),
            created_at=0.0,
            expires_at=600.0,
            code_verifier="VERIFIER-3e55aa",
        )
    )
    store.set_setting_if_absent("web_secret_key", "SETTING-4242fe")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.fixture(params=PERSISTENT)
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


def test_the_stored_bytes_hold_no_secret(backend: Backend) -> None:
    backend.keys = [generate_key()]
    _fill(backend)
    raw = backend.raw()
    assert b"a.example" in raw  # the probe does see the store's contents
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    store = backend.open()
    assert store.describe()["encrypted"] is True  # type: ignore[attr-defined]
    loaded = store.get("a.example")
    assert loaded is not None
    assert loaded.token == _record("a.example").token
    assert store.get_setting("web_secret_key") == "SETTING-4242fe"
    attempt = store.take_attempt("ATTEMPT-77d1e0")
    assert attempt is not None
    assert attempt.code_verifier == "VERIFIER-3e55aa"


def test_without_a_key_tokens_are_stored_as_they_are(backend: Backend) -> None:
    _fill(backend)
    assert b"ACCESS-5c1e8d" in backend.raw()
    assert backend.open().describe()["encrypted"] is False  # type: ignore[attr-defined]


def test_rotating_keys_keeps_every_install_readable(persistent: Backend) -> None:
    old, new = generate_key(), generate_key()
    persistent.keys = [old]
    _fill(persistent)
    before = list(persistent.open([old]).iter_records())  # type: ignore[attr-defined]
    rotated = persistent.open([new, old])
    assert list(rotated.iter_records()) == before  # type: ignore[attr-defined]
    # Each write re-encrypts with the new key; once all are written the old key can go.
    assert reencrypt(rotated) == 2
    only_new = persistent.open([new])
    assert only_new.get_setting("web_secret_key") == "SETTING-4242fe"
    assert [r.install for r in only_new.iter_records()] == ["a.example", "b.example"]  # type: ignore[attr-defined]
    record = only_new.get("a.example")
    assert record is not None
    assert record.token == _record("a.example").token
    with pytest.raises(StoreError, match="none of the configured encryption keys"):
        persistent.open([old])  # the marker moved to the new key


def test_a_wrong_key_is_refused_at_open_and_changes_nothing(persistent: Backend) -> None:
    right = generate_key()
    persistent.keys = [right]
    _fill(persistent)
    before = persistent.snapshot()
    with pytest.raises(StoreError, match="none of the configured encryption keys") as info:
        persistent.open([generate_key()])
    assert "OOB_HELPER_ENCRYPTION_KEYS" in str(info.value)
    with pytest.raises(StoreError, match="no encryption key is configured"):
        persistent.open([])
    assert persistent.snapshot() == before
    assert persistent.open([right]).get("a.example") == persistent.open([right]).get("a.example")


def test_a_key_added_later_encrypts_on_the_next_write(persistent: Backend) -> None:
    _fill(persistent)  # no key
    key = generate_key()
    store = persistent.open([key])
    current = store.get("a.example")
    assert current is not None
    store.put(_record("a.example", 2), expected_version=current.version)
    raw = persistent.raw()
    assert b"ACCESS-5c1e8d-2" not in raw
    assert b"ACCESS-5c1e8d-1" in raw  # b.example is rewritten on its next refresh
    with pytest.raises(StoreError, match="no encryption key is configured"):
        persistent.open([])
