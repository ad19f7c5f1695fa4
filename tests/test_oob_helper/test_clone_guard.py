"""The clone and move guard (issue 13, item 6), against the live mock and real stores.

A store copied elsewhere (a SQLite file with its WAL in another directory, Redis keys under
another prefix, PostgreSQL tables in another schema) must send nothing to the provider for the
installs connected in the original: ``refresh`` and ``token`` exit 3 with the message naming
both locations and the two commands, and a ``clone_detected`` event is emitted. ``adopt-store``
on the copy (after the original is retired) makes it work; ``move-install`` renames an install
and the renamed one still refreshes; a disconnect on a copy forgets locally and revokes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stores.backends import Backend, make_backend, unique, with_param
from workers.common import MutableClock, Target, connect, open_helper

from mock_server.runner import MockServer
from oob_helper.errors import SiteMismatch
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord

SCRIPT = str(Path(sys.executable).with_name("oob-helper"))
INSTALL = "shop.example"
CLONE_BACKENDS = ["sqlite", "redis", "postgresql"]


def target(mock: MockServer) -> Target:
    return Target(mock.url, "demo-confidential", "demo-secret", profile="aweber")


def helper_on(mock: MockServer, url: str) -> OAuthHelper:
    return open_helper(target(mock), url, MutableClock(mock.now()))


def cli(mock: MockServer, tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        OOB_HELPER_AUTH_BASE=mock.url,
        OOB_HELPER_API_BASE=mock.api_base,
        OOB_HELPER_STORE=url,
        OOB_HELPER_CLIENT_ID="demo-confidential",
        OOB_HELPER_CLIENT_SECRET="demo-secret",
    )
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def last_event(mock: MockServer) -> int:
    return max((int(e["id"]) for e in mock.events()), default=0)


def provider_requests(mock: MockServer, since: int) -> list[dict[str, Any]]:
    """Every request the mock's OAuth and API endpoints received after ``since``."""
    return [e for e in mock.events() if int(e["id"]) > since]


def refreshes(mock: MockServer, since: int) -> list[dict[str, Any]]:
    return [e for e in provider_requests(mock, since) if e.get("grant_type") == "refresh_token"]


def api_accepts(mock: MockServer, token: str) -> bool:
    response = httpx.get(f"{mock.api_base}/accounts", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def copy_store(backend: Backend, tmp_path: Path) -> str:
    """A copy of ``backend``'s store somewhere else; returns the copy's URL."""
    if backend.name == "sqlite":
        source = Path(backend.url.removeprefix("sqlite:///"))
        wal = source.with_name(source.name + "-wal")
        assert wal.stat().st_size > 0, "the original's latest writes must still be in its WAL"
        clone_dir = tmp_path / "clone"
        clone_dir.mkdir()
        for suffix in ("", "-wal", "-shm"):
            shutil.copy2(source.with_name(source.name + suffix), clone_dir / (source.name + suffix))
        return f"sqlite:///{clone_dir / source.name}"
    base, _, query = backend.url.partition("?")
    if backend.name == "redis":
        import redis  # noqa: PLC0415

        prefix = query.removeprefix("prefix=")
        new_prefix = unique("clone") + ":"
        client: Any = redis.Redis.from_url(base)
        old_tag, new_tag = ("{" + prefix + "}").encode(), ("{" + new_prefix + "}").encode()
        keys = list(client.scan_iter(match=old_tag + b"*"))
        assert keys
        for key in keys:
            client.restore(new_tag + key[len(old_tag) :], 0, client.dump(key))
        client.close()
        return with_param(base, "prefix", new_prefix)
    import psycopg  # noqa: PLC0415

    schema = query.removeprefix("schema=")
    new_schema = unique("clone_")
    url = with_param(base, "schema", new_schema)
    open_store(url).close()  # the store creates its tables; the rows are copied into them
    with psycopg.connect(base, autocommit=True) as conn:
        for table in ("oob_records", "oob_settings"):
            conn.execute(f'DELETE FROM "{new_schema}".{table}')
            conn.execute(f'INSERT INTO "{new_schema}".{table} SELECT * FROM "{schema}".{table}')
    return url


def sqlite_connected(
    mock: MockServer, tmp_path: Path, install: str
) -> tuple[str, OAuthHelper, InstallRecord]:
    """A SQLite store with ``install`` connected: its URL, the helper on it, the record."""
    url = f"sqlite:///{tmp_path / 'original.db'}"
    helper = helper_on(mock, url)
    return url, helper, connect(mock, helper, install)


def sqlite_copy(url: str, tmp_path: Path) -> str:
    return copy_store(Backend("sqlite", url, cross_process=True, has_lease=False), tmp_path)


@pytest.fixture(params=CLONE_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    (tmp_path / "original").mkdir()
    made = make_backend(str(request.param), tmp_path / "original", request)
    yield made
    made.close_all()


def test_a_copied_store_sends_nothing_until_adopted(
    mock_aweber: MockServer, backend: Backend, tmp_path: Path
) -> None:
    original = helper_on(mock_aweber, backend.url)
    connected = connect(mock_aweber, original, INSTALL)
    original_location = original.records.location
    assert connected.store_location == original_location
    clone_url = copy_store(backend, tmp_path)
    original.close()  # the original is retired: only now may the copy be adopted
    mark = last_event(mock_aweber)

    refused = cli(mock_aweber, tmp_path, clone_url, "refresh", "--install", INSTALL)
    assert refused.returncode == 3, refused.stderr
    message = refused.stderr
    assert f"connected in the store at {original_location}" in message
    assert "oob-helper adopt-store" in message
    assert f"oob-helper connect --install {INSTALL}" in message
    assert "Traceback" not in message
    for args in (
        ["token", "--install", INSTALL],
        ["refresh", "--all"],
        ["token", "--install", INSTALL, "--check"],
    ):
        result = cli(mock_aweber, tmp_path, clone_url, *args)
        assert result.returncode == 3, (args, result.stderr)
        assert "adopt-store" in result.stderr, args
        assert result.stdout.strip().splitlines()[-1:] != [connected.token.access_token]  # type: ignore[union-attr]

    status = cli(mock_aweber, tmp_path, clone_url, "status")
    assert status.returncode == 3, status.stderr
    assert f"site_mismatch: connected in {original_location}" in status.stdout
    assert "oob-helper adopt-store" in status.stdout
    rows = json.loads(cli(mock_aweber, tmp_path, clone_url, "status", "--json").stdout)
    assert [(r["install"], r["problem"], r["needs_person"], r["store_location"]) for r in rows] == [
        (INSTALL, "site_mismatch", True, original_location)
    ]
    assert "oob-helper adopt-store" in rows[0]["problem_text"]
    # The fleet's filters (shared with the fleet page) count a copy among the installs in trouble.
    troubled = json.loads(
        cli(mock_aweber, tmp_path, clone_url, "status", "--json", "--problem", "some").stdout
    )
    assert [r["install"] for r in troubled] == [INSTALL]

    clone = helper_on(mock_aweber, clone_url)
    seen: list[LifecycleEvent] = []
    clone.subscribe(seen.append)
    with pytest.raises(SiteMismatch) as caught:
        clone.refresh(INSTALL)
    assert caught.value.recorded == original_location
    assert caught.value.current == clone.records.location != original_location
    with pytest.raises(SiteMismatch):
        clone.get_token(INSTALL)
    assert [e.kind for e in seen] == ["clone_detected", "clone_detected"]
    assert seen[0].install == INSTALL
    assert seen[0].grant_id == connected.grant_id
    assert "adopt-store" in (seen[0].reason or "")
    clone.close()

    # Not one request reached the provider from the copy.
    assert provider_requests(mock_aweber, mark) == []

    adopted = cli(mock_aweber, tmp_path, clone_url, "adopt-store")
    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout.startswith("adopted 1 install: ")
    again = cli(mock_aweber, tmp_path, clone_url, "adopt-store")
    assert again.stdout.startswith("adopted 0 installs: ")  # nothing left to adopt

    refreshed = cli(mock_aweber, tmp_path, clone_url, "refresh", "--install", INSTALL)
    assert refreshed.returncode == 0, refreshed.stderr
    assert [e.get("status") for e in refreshes(mock_aweber, mark)] == [200]
    token = cli(mock_aweber, tmp_path, clone_url, "token", "--install", INSTALL)
    assert token.returncode == 0, token.stderr
    assert api_accepts(mock_aweber, token.stdout.strip())
    assert cli(mock_aweber, tmp_path, clone_url, "status").returncode == 0


def test_disconnect_on_a_copy_forgets_it_there_only(mock_aweber: MockServer, tmp_path: Path) -> None:
    url, original, _ = sqlite_connected(mock_aweber, tmp_path, INSTALL)
    clone_url = sqlite_copy(url, tmp_path)
    mark = last_event(mock_aweber)

    result = cli(mock_aweber, tmp_path, clone_url, "disconnect", "--install", INSTALL)
    assert result.returncode == 0, result.stderr
    assert "here only" in result.stdout
    assert "NOT revoked" in result.stdout
    assert provider_requests(mock_aweber, mark) == []  # no revoke of the original's grant
    assert cli(mock_aweber, tmp_path, clone_url, "status", "--install", INSTALL, "--json").returncode == 0

    # The original keeps working: its grant was not touched.
    assert original.refresh(INSTALL).result == "refreshed"
    original.close()


def test_connect_on_a_copy_is_a_fresh_grant_that_leaves_the_original_alone(
    mock_aweber: MockServer, tmp_path: Path
) -> None:
    url, original, first = sqlite_connected(mock_aweber, tmp_path, INSTALL)
    clone_url = sqlite_copy(url, tmp_path)
    clone = helper_on(mock_aweber, clone_url)
    mark = last_event(mock_aweber)

    fresh = connect(mock_aweber, clone, INSTALL)
    assert fresh.grant_id != first.grant_id
    assert fresh.store_location == clone.records.location
    # The copied record's grant (the original's) was replaced without a revoke.
    assert not [e for e in provider_requests(mock_aweber, mark) if e.get("path") == "/oauth2/revoke"]
    assert clone.refresh(INSTALL).result == "refreshed"
    assert original.refresh(INSTALL).result == "refreshed"
    clone.close()
    original.close()


def test_a_record_written_before_the_guard_is_stamped_at_its_next_write(
    mock_aweber: MockServer, tmp_path: Path
) -> None:
    helper = helper_on(mock_aweber, f"sqlite:///{tmp_path / 'legacy.db'}")
    record = connect(mock_aweber, helper, INSTALL)
    legacy = dataclasses.replace(record, store_location=None)
    helper.store.import_record(legacy)  # type: ignore[attr-defined]  # as an older version stored it
    assert helper.status(INSTALL).store_location is None

    assert helper.refresh(INSTALL).result == "refreshed"  # not known to be a copy: it refreshes
    assert helper.status(INSTALL).store_location == helper.records.location
    helper.close()


def test_move_install_renames_and_the_renamed_one_refreshes(mock_aweber: MockServer, tmp_path: Path) -> None:
    url, helper, record = sqlite_connected(mock_aweber, tmp_path, "old.example")
    other = connect(mock_aweber, helper, "taken.example")
    helper.close()
    mark = last_event(mock_aweber)

    moved = cli(mock_aweber, tmp_path, url, "move-install", "old.example", "new.example")
    assert moved.returncode == 0, moved.stderr
    assert "Moved install 'old.example' to 'new.example'" in moved.stdout
    gone = json.loads(cli(mock_aweber, tmp_path, url, "status", "--install", "old.example", "--json").stdout)
    assert gone["state"] == "not_connected"
    assert provider_requests(mock_aweber, mark) == []  # a rename sends nothing

    refreshed = cli(mock_aweber, tmp_path, url, "refresh", "--install", "new.example")
    assert refreshed.returncode == 0, refreshed.stderr
    assert [e.get("status") for e in refreshes(mock_aweber, mark)] == [200]
    store = open_store(url)
    renamed = store.get("new.example")
    assert renamed is not None
    assert renamed.grant_id == record.grant_id

    # A name that holds another connection is never overwritten.
    refused = cli(mock_aweber, tmp_path, url, "move-install", "new.example", "taken.example")
    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    taken = store.get("taken.example")
    assert taken is not None
    assert taken.grant_id == other.grant_id
    assert store.get("new.example") is not None
    missing = cli(mock_aweber, tmp_path, url, "move-install", "nothing.example", "else.example")
    assert missing.returncode == 3
    assert "not connected" in missing.stderr
    store.close()


def test_a_move_that_stopped_between_its_steps_is_finished_by_running_it_again(
    mock_aweber: MockServer, tmp_path: Path
) -> None:
    url, helper, record = sqlite_connected(mock_aweber, tmp_path, "old.example")
    # What a crash after the first step leaves: the new name created, the old one still there.
    helper.store.put(dataclasses.replace(record, install="new.example", version=0), expected_version=None)
    helper.close()

    finished = cli(mock_aweber, tmp_path, url, "move-install", "old.example", "new.example")
    assert finished.returncode == 0, finished.stderr
    store = open_store(url)
    assert store.list_installs() == ["new.example"]
    store.close()
    assert cli(mock_aweber, tmp_path, url, "refresh", "--install", "new.example").returncode == 0
