"""``oob-helper status`` with the fleet page's filters, as a subprocess (issue 13, item 7): the
same selection as the fleet view (state, problem, search), keyset paging with ``--after`` and
``--limit``, and bad filters answered with exit 2 and what to change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from oob_helper.fleet import FleetQuery, fleet_page
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, InstallState, Token

SCRIPT = str(Path(sys.executable).with_name("oob-helper"))
NOW = time.time()


def record(i: int) -> InstallRecord:
    """Every fourth install needs reauthorization; the rest are connected and healthy."""
    token = Token(access_token=f"AT-{i}", refresh_token=f"RT-{i}", expires_at=NOW + 7200, obtained_at=NOW)
    state: InstallState = "reauthorization_required" if i % 4 == 0 else "connected"
    return InstallRecord(
        install=f"blog{i:03d}.example",
        token=token,
        state=state,
        reason="revoked" if state != "connected" else None,
        version=1,
    )


RECORDS = [record(i) for i in range(1, 41)]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    store = open_store(url, encryption_keys=())
    store.import_records(iter(RECORDS))  # type: ignore[attr-defined]
    store.close()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    return {**clean, "XDG_CONFIG_HOME": str(tmp_path / "config"), "OOB_HELPER_STORE": url}


def status(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    result = subprocess.run(
        [SCRIPT, "status", "--json", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    out = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, out, result.stderr


def names(rows: Any) -> list[str]:
    return [row["install"] for row in rows]


@pytest.mark.parametrize(
    "params",
    [
        {"state": "reauthorization_required"},
        {"state": "connected", "q": "blog01"},
        {"problem": "some"},
        {"problem": "none", "q": "3"},
    ],
)
def test_the_same_selection_as_the_fleet_page(env: dict[str, str], params: dict[str, str]) -> None:
    flags = {"state": "--state", "problem": "--problem", "q": "--search"}
    argv = [arg for key, value in params.items() for arg in (flags[key], value)]
    code, rows, stderr = status(env, *argv)
    fleet = fleet_page(iter(RECORDS), FleetQuery.parse({**params, "limit": "500"}), NOW)
    assert names(rows) == [row.install for row in fleet.rows], stderr
    assert rows  # every case selects something
    needs_person = any(row["state"] == "reauthorization_required" for row in rows)
    assert code == (3 if needs_person else 0)


def test_keyset_paging_with_after_and_limit(env: dict[str, str]) -> None:
    seen: list[str] = []
    after: list[str] = []
    for _ in range(10):
        _, rows, _ = status(env, "--state", "connected", "--limit", "7", *after)
        if not rows:
            break
        seen += names(rows)
        after = ["--after", rows[-1]["install"]]
    assert seen == [r.install for r in RECORDS if r.state == "connected"]
    code, rows, _ = status(env, "--search", "nothing-like-this")
    assert (code, rows) == (0, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "0"], "limit must be a whole number from 1 to 500"),
        (["--after", "a\tb"], "after must be an install name"),
        (["--install", "blog001.example", "--state", "connected"], "use one or the other"),
        (["--state", "nonsense"], "invalid choice"),
    ],
)
def test_bad_filters_exit_2_naming_the_fix(env: dict[str, str], argv: list[str], message: str) -> None:
    code, _, stderr = status(env, *argv)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr


def test_text_output_says_when_nothing_matches(env: dict[str, str]) -> None:
    result = subprocess.run(
        [SCRIPT, "status", "--search", "zzz"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("No install matches these filters.")
