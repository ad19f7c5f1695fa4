"""``oob-helper migrate-store`` between every pair of shared backends, as a real subprocess."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from itertools import permutations
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import CROSS_PROCESS, Backend, make_backend

from oob_helper.cli_migrate import _copy
from oob_helper.errors import StoreError
from oob_helper.stores import open_store
from oob_helper.stores.memory import MemoryStore
from oob_helper.tokens import InstallRecord, Token

SCRIPT = str(Path(sys.executable).with_name("oob-helper"))
COUNT = 10_000
pytestmark = pytest.mark.slow  # 10,000 installs per pair of backends


def sample(i: int) -> InstallRecord:
    """Varied records: states, missing tokens and accounts, unicode names, odd versions."""
    kind = i % 4
    token = None
    if kind != 3:
        token = Token(
            access_token=f"access-{i}",
            refresh_token=None if kind == 2 else f"refresh-{i}",
            expires_at=None if kind == 2 else 1_800_000_000.0 + i,
            scopes=("account.read", "list.read")[: 1 + i % 2],
            obtained_at=1_790_000_000.0 + i,
        )
    return InstallRecord(
        install=f"site-{i:05d}.example" if i % 7 else f"bücher-{i}.example",
        token=token,
        state="reauthorization_required" if kind == 1 else ("not_connected" if kind == 3 else "connected"),
        reason="the provider refused the refresh token" if kind == 1 else None,
        state_changed_at=1_790_000_000.5 + i if kind != 3 else None,
        account_id=str(1000 + i) if kind != 2 else None,
        account_name=f"Account №{i}" if kind == 0 else None,
        last_refresh_at=1_790_000_100.25 + i if kind == 0 else None,
        version=1 + i % 5,
    )


@pytest.fixture(params=list(permutations(CROSS_PROCESS, 2)), ids=lambda pair: f"{pair[0]}-to-{pair[1]}")
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, Backend]]:
    source_name, target_name = request.param
    source = make_backend(source_name, tmp_path / "from", request)
    target = make_backend(target_name, tmp_path / "to", request)
    (tmp_path / "from").mkdir()
    (tmp_path / "to").mkdir()
    yield source, target
    source.close_all()
    target.close_all()


def test_migrate_store_moves_every_install_unchanged(pair: tuple[Backend, Backend], tmp_path: Path) -> None:
    source, target = pair
    records = [sample(i) for i in range(COUNT)]
    store = source.open()
    store.import_records(records)  # type: ignore[attr-defined]
    store.set_setting_if_absent("web_secret_key", "k" * 32)
    store.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    result = subprocess.run(
        [SCRIPT, "migrate-store", "--from", source.url, "--to", target.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    moved = target.open()
    here = moved.location()  # type: ignore[attr-defined]
    # A migration is a deliberate move: every record is stamped with the target's location.
    assert result.stdout.strip() == (
        f"migrated {COUNT} installs, each stamped with the target's location {here} "
        "(a deliberate move: the clone guard lets the target refresh them)"
    )
    assert result.stderr == ""  # no progress bar when stderr is not a terminal

    assert moved.list_installs() == sorted(r.install for r in records)
    by_name = {r.install: dataclasses.replace(r, store_location=here) for r in records}
    for record in moved.iter_records():  # type: ignore[attr-defined]
        assert record == by_name[record.install]
    assert moved.get_setting("web_secret_key") == "k" * 32


def test_migrate_store_refuses_bad_urls(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    url = f"sqlite:///{tmp_path}/a.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    bad = run("migrate-store", "--from", url, "--to", "mysql://db/x")
    assert bad.returncode == 2
    assert "not a store URL" in bad.stderr
    missing = run("migrate-store", "--from", url)
    assert missing.returncode == 2
    assert "--to" in missing.stderr


def test_migrate_store_to_the_same_url_reencrypts_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    plain = open_store(url, encryption_keys=[])
    for i in range(20):
        plain.import_record(sample(i))  # type: ignore[attr-defined]
    plain.close()
    key = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    env["OOB_HELPER_ENCRYPTION_KEYS"] = key
    result = subprocess.run(
        [SCRIPT, "migrate-store", "--from", url, "--to", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "rewrote 20 installs in place"
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.db") and p.is_file())
    assert b"refresh-4" not in raw  # every token is sealed now
    sealed = open_store(url, encryption_keys=[key])
    assert [r.to_dict() for r in sealed.iter_records()] == [  # type: ignore[attr-defined]
        {**sample(i).to_dict(), "version": sample(i).version + 1}
        for i in sorted(range(20), key=lambda i: sample(i).install)
    ]
    sealed.close()


class _LossyTarget(MemoryStore):
    """A target whose batch write alters one record and drops another (a broken backend)."""

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        kept = []
        for record in records:
            if record.install == sample(3).install:
                continue
            altered = record.install == sample(5).install
            kept.append(dataclasses.replace(record, account_name="someone else") if altered else record)
        return super().import_records(kept)


@pytest.mark.parametrize(("left_out", "named"), [(3, 5), (5, 3)], ids=["altered", "dropped"])
def test_migrate_store_names_the_install_the_target_reads_back_differently(left_out: int, named: int) -> None:
    # Leaving 3 out of the source shows the altered 5; leaving 5 out shows the dropped 3.
    source = MemoryStore()
    source.import_records([sample(i) for i in range(20) if i != left_out])
    target = _LossyTarget()
    target.import_record(InstallRecord(install="zz-own.example", version=7))  # the target's own
    with pytest.raises(StoreError, match=rf"install '{sample(named).install}' differs in the target store"):
        _copy(source, target, io.StringIO())


def test_migrate_store_leaves_the_targets_own_installs_out_of_the_check() -> None:
    source = MemoryStore()
    source.import_records([sample(i) for i in range(20) if i not in (3, 5)])
    target = _LossyTarget()
    target.import_record(InstallRecord(install="zz-own.example", version=7))
    assert _copy(source, target, io.StringIO()) == 18
    assert target.get("zz-own.example") == InstallRecord(install="zz-own.example", version=7)
