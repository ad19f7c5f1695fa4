"""migrate-store between every pair of persistent backends: 10,000 installs, every record
identical afterwards (versions included), the web signing key carried over."""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import Backend, make_backend

from oob_helper.cli_migrate import migrate_store
from oob_helper.crypto import ENV_KEYS, generate_key
from oob_helper.tokens import InstallRecord, Token

PERSISTENT = ["sqlite", "redis", "postgresql"]
# Through PgBouncer (transaction pooling) both ways, and from a Cluster.
PAIRS = [(a, b) for a in PERSISTENT for b in PERSISTENT if a != b] + [
    ("sqlite", "postgresql-pgbouncer"),
    ("postgresql-pgbouncer", "redis-cluster"),
]
COUNT = 10_000


def _records(count: int) -> list[InstallRecord]:
    records = []
    for i in range(count):
        install = f"shop-{i:05d}.example" if i % 10 else f"boutique-{i:05d}.exemple-é.fr"
        if i % 50 == 0:  # never connected: no token
            records.append(InstallRecord(install=install, version=1))
            continue
        token = Token(
            access_token=f"access-{i}",
            refresh_token=None if i % 7 == 0 else f"refresh-{i}",
            expires_at=1_700_000_000.5 + i,
            scopes=("account.read", "list.read", "subscriber.read")[: 1 + i % 3],
            obtained_at=1_699_990_000.25 + i,
            token_type="bearer",
        )
        state = "reauthorization_required" if i % 13 == 0 else "connected"
        records.append(
            InstallRecord(
                install=install,
                token=token,
                state=state,
                reason="invalid_grant: refresh token revoked" if state != "connected" else None,
                state_changed_at=1_699_000_000.0 if state != "connected" else None,
                account_id=str(100_000 + i),
                account_name=f"Account «{i}»",
                last_refresh_at=1_699_995_000.0 + i,
                version=1 + i % 9,
            )
        )
    return records


@pytest.fixture(scope="module")
def records() -> list[InstallRecord]:
    return _records(COUNT)


def _backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    (tmp_path / name).mkdir()
    backend = make_backend(name, tmp_path / name, request)
    yield backend
    backend.close_all()


def _stamped(records: Iterable[InstallRecord], here: str | None) -> list[InstallRecord]:
    return [dataclasses.replace(r, store_location=here) for r in records]


@pytest.mark.slow
@pytest.mark.parametrize(("source_name", "target_name"), PAIRS)
def test_migrate_every_pair_keeps_every_record_identical(
    source_name: str,
    target_name: str,
    records: list[InstallRecord],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_KEYS, raising=False)
    for source in _backend(source_name, tmp_path, request):
        for target in _backend(target_name, tmp_path, request):
            store = source.open()
            assert store.import_records(records) == COUNT  # type: ignore[attr-defined]
            store.set_setting_if_absent("web_secret_key", "signing-key-1")
            count, here = migrate_store(source.url, target.url, progress_stream=io.StringIO())
            assert count == COUNT
            copied = target.open()
            # A deliberate move: each copy is stamped with the target's location, nothing else changes.
            assert here == copied.location()  # type: ignore[attr-defined]
            assert list(copied.iter_records()) == sorted(
                _stamped(records, here), key=lambda r: r.install.encode()
            )  # type: ignore[attr-defined]
            assert copied.get_setting("web_secret_key") == "signing-key-1"
            assert _stamped(store.iter_records(), here) == list(copied.iter_records())  # type: ignore[attr-defined]


def test_migrate_an_encrypted_store(
    records: list[InstallRecord],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = generate_key()
    monkeypatch.setenv(ENV_KEYS, key)
    some = records[:300]
    for source in _backend("sqlite", tmp_path, request):
        for target in _backend("postgresql", tmp_path, request):
            source.keys = target.keys = [key]
            source.open().import_records(some)  # type: ignore[attr-defined]
            count, here = migrate_store(source.url, target.url, progress_stream=io.StringIO())
            assert count == len(some)
            assert b"access-1" not in target.raw()
            copied = list(target.open().iter_records())  # type: ignore[attr-defined]
            assert copied == sorted(_stamped(some, here), key=lambda r: r.install.encode())
