"""What a newcomer meets first on the command line, as subprocesses: messages and exit codes.

Each test runs the real ``oob-helper`` script with only the settings it names (no client id
unless given), the way someone trying the tool for the first time would.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from test_cli_live import SCRIPT, cli

from mock_server import MockServer
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare(tmp_path: Path) -> dict[str, str]:
    """No OOB_HELPER_* setting at all, and a home of its own (no config file, no data)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OOB_HELPER_", "XDG_"))}
    return {**clean, "HOME": str(tmp_path / "home")}


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The script with standard input at its end from the start (nothing piped in)."""
    return cli(env, *args, stdin=stdin)


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single error line on stderr (no traceback)."""
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("oob-helper: error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


AT_REST = "Tokens at rest: NOT encrypted (set OOB_HELPER_ENCRYPTION_KEYS)."


def test_status_needs_no_configuration_at_all(bare: dict[str, str]) -> None:
    result = run(bare, "status")
    assert result.returncode == 0, result.stderr
    assert "No installs yet" in result.stdout
    assert AT_REST in result.stdout  # said the same way as for a listed install:
    listed = run(bare, "status", "--install", "nope")
    assert listed.returncode == 0, listed.stderr
    assert AT_REST in listed.stdout


def test_a_bad_store_url_is_named_before_a_missing_client_id(bare: dict[str, str]) -> None:
    for command in (["status"], ["connect", "--install", "x"]):
        result = run({**bare, "OOB_HELPER_STORE": "ftp://x"}, *command)
        assert result.returncode == 2
        assert "'ftp://x' is not a store URL" in one_error(result)
        assert "client id" not in result.stderr


def test_an_explicit_sqlite_path_in_a_missing_directory_is_an_error(
    bare: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    result = run({**bare, "OOB_HELPER_STORE": f"sqlite:///{missing}/t.db"}, "status")
    assert result.returncode == 2
    message = one_error(result)
    assert f"directory {missing} does not exist" in message
    assert f"mkdir -p {missing}" in message
    assert "No installs yet" not in result.stdout
    assert not (tmp_path / "nonexistent").exists()


def test_a_relative_sqlite_path_that_looks_absolute_gets_the_four_slash_hint(
    bare: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [SCRIPT, "status"],
        env={**bare, "OOB_HELPER_STORE": "sqlite:///var/lib/myapp/tokens.db"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    message = one_error(result)
    assert f"directory {tmp_path}/var/lib/myapp does not exist" in message
    assert "four slashes: sqlite:////var/lib/myapp/tokens.db" in message
    assert not (tmp_path / "var").exists()


def test_the_default_store_location_is_still_created(bare: dict[str, str], tmp_path: Path) -> None:
    env = {**bare, "XDG_DATA_HOME": str(tmp_path / "data")}
    assert run(env, "status").returncode == 0
    assert (tmp_path / "data" / "oob-helper" / "tokens.db").is_file()


def test_store_url_mistakes_get_one_message_with_one_list(bare: dict[str, str]) -> None:
    relative = one_error(run({**bare, "OOB_HELPER_STORE": "sqlite:relative.db"}, "status"))
    ftp = one_error(run({**bare, "OOB_HELPER_STORE": "ftp://x"}, "status"))
    assert "no scheme" not in relative
    assert "a SQLite URL is sqlite:/// followed by the file's path" in relative
    pattern = r"^oob-helper: error: OOB_HELPER_STORE: '.*' is not a store URL \((.*)\); use one of: (.*)$"
    shapes = [re.match(pattern, line) for line in (relative, ftp)]
    assert all(shapes), (relative, ftp)
    assert shapes[0] is not None
    assert shapes[1] is not None
    assert shapes[0].group(2) == shapes[1].group(2)  # the same list of forms


def test_a_redis_refusal_reads_as_one_plain_sentence(bare: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run({**bare, "OOB_HELPER_STORE": f"redis://127.0.0.1:{port}/0"}, "status")
    assert result.returncode == 4
    message = one_error(result)
    assert f"Redis store redis://127.0.0.1:{port}/0 is unreachable (connection refused)" in message
    assert "Error 111" not in message
    assert ".;" not in message


def test_token_and_refresh_need_the_client_id_only_to_refresh(
    bare: dict[str, str], tmp_path: Path, mock_aweber: MockServer
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    store = open_store(store_url, encryption_keys=[])
    now = mock_aweber.now()
    token = Token(access_token="fresh-access", refresh_token="r1", expires_at=now + 3600)
    store.put(InstallRecord(install="shop", state="connected", token=token), expected_version=None)
    env = {**bare, "OOB_HELPER_STORE": store_url}

    fresh = run(env, "token", "--install", "shop")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout == "fresh-access\n"

    record = store.get("shop")
    assert record is not None
    expired = dataclasses.replace(token, expires_at=now - 10)
    store.put(dataclasses.replace(record, token=expired), expected_version=record.version)
    store.close()
    for command in (["token", "--install", "shop"], ["refresh", "--install", "shop"], ["refresh", "--all"]):
        result = run(env, *command)
        assert result.returncode == 2, (command, result.stderr)
        assert "missing client id (needed to refresh the access token)" in one_error(result)
        assert "OOB_HELPER_CLIENT_ID" in result.stderr


def test_not_connected_is_exit_3_as_the_readme_and_help_say(bare: dict[str, str]) -> None:
    result = run(bare, "token", "--install", "nope")
    assert result.returncode == 3
    assert "'nope' is not connected" in one_error(result)
    assert '"state": "not_connected"' in run(bare, "status", "--install", "nope", "--json").stdout
    readme = (ROOT / "README.md").read_text()
    row = re.search(r"^\| 3 \| (.*) \|$", readme, re.MULTILINE)
    assert row is not None
    assert "never connected" in row.group(1)
    assert "reauthorization required" in row.group(1)
    assert "`not_connected`" in row.group(1)
    assert "`reauthorization_required`" in row.group(1)
    helped = " ".join(run(bare, "--help").stdout.split())
    assert "3 a person must connect (the install was never connected, or needs reauthorization" in helped


def test_connect_with_stdin_closed_ends_the_prompt_line_first(bare: dict[str, str]) -> None:
    result = run({**bare, "OOB_HELPER_CLIENT_ID": "demo-public"}, "connect", "--install", "x")
    assert result.returncode == 2
    assert (
        "Paste the authorization code (or the redirect URL): \noob-helper: error: no authorization code"
        in (result.stderr)
    )
