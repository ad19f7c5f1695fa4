"""``oob-helper token`` for a connected install with a valid token loads only what it needs.

Cron jobs and plugin shells start the CLI once per job, so its start-up is its cost. The
command runs as users run it (a subprocess, ``python -X importtime -m oob_helper``), and the
modules it imported are read from the interpreter's own import log. The wall-time ratio to
``python -c "import httpx"`` is measured in bench/ (bench_cli_startup), not asserted here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token

INSTALL = "cron.example"
# Never needed to print a valid stored token: the web helper and its framework, the other
# store drivers, the HTTP client and its connection pool (nothing is sent), asyncio, the config
# parser (there is no config file) and package metadata (only --version reads it).
NOT_NEEDED = [
    "oob_helper.web",
    "starlette",
    "jinja2",
    "uvicorn",
    "redis",
    "psycopg",
    "psycopg_pool",
    "cryptography",
    "oob_helper.stores.redis",
    "oob_helper.stores.postgres",
    "httpx",
    "httpcore",
    "anyio",
    "asyncio",
    "tomllib",
    "importlib.metadata",
]


def _imported(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oob_helper", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, modules


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    store = open_store(store_url, encryption_keys=[])
    now = time.time()
    token = Token(access_token="valid-access", refresh_token="r", expires_at=now + 86400, obtained_at=now)
    store.put(InstallRecord(install=INSTALL, token=token, state="connected"), expected_version=None)
    store.close()
    keep = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    return {
        **keep,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no config file
        "OOB_HELPER_STORE": store_url,
        "OOB_HELPER_CLIENT_ID": "cron-app",
    }


def test_token_with_a_valid_cached_token_imports_only_what_it_needs(env: dict[str, str]) -> None:
    result, modules = _imported(["token", "--install", INSTALL], env)
    assert (result.returncode, result.stdout.strip()) == (0, "valid-access"), result.stderr[-2000:]
    assert "oob_helper.stores.sqlite" in modules  # the import log does list what it loads
    loaded = sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED))
    assert loaded == []


def test_version_still_reads_the_package_metadata(env: dict[str, str]) -> None:
    result, modules = _imported(["--version"], env)
    assert result.returncode == 0
    assert result.stdout.startswith("oob-helper ")
    assert "importlib.metadata" in modules


# httpx's own command line (httpx._main) and what it imports when installed (the test extras
# install rich and pygments; uvicorn brings click).
HTTPX_COMMAND_LINE = ["click", "rich", "pygments"]


def test_a_command_that_sends_skips_httpx_command_line(env: dict[str, str]) -> None:
    store = open_store(env["OOB_HELPER_STORE"], encryption_keys=[])
    record = store.get(INSTALL)
    assert record is not None
    expired = Token(access_token="old", refresh_token="r", expires_at=time.time() - 60, obtained_at=0)
    store.put(dataclasses.replace(record, token=expired), expected_version=record.version)
    store.close()
    closed_port = {**env, "OOB_HELPER_AUTH_BASE": "http://127.0.0.1:9", "OOB_HELPER_CLIENT_SECRET": "s"}
    result, modules = _imported(["token", "--install", INSTALL], closed_port)
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert {"httpx", "httpcore"} <= modules  # it did build a client and try to send
    loaded = sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in HTTPX_COMMAND_LINE))
    assert loaded == []


def test_httpx_command_line_still_works_in_the_cli_process() -> None:
    code = (
        "from oob_helper.transport import defer_httpx_command_line as d; d(); import httpx, sys; "
        "sys.argv = ['httpx', '--help']; httpx.main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage: httpx" in result.stdout
