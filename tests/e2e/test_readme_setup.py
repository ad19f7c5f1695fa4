"""The README's two set-up commands, followed as a new user would, in a fresh copy.

Each runs in a copy of the project without its virtualenv, so the command itself must create
the environment and install what it needs (from the package index, as on a fresh machine).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {
    ".venv",
    ".git",
    "test-artifacts",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".nox",
    "__pycache__",
}

pytestmark = pytest.mark.slow


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (\S.*)$", section, re.MULTILINE)


def test_the_readme_has_exactly_two_setup_commands() -> None:
    assert _setup_commands() == ["scripts/demo", "scripts/test"]


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    """The project's files without any environment or cache, as a clone would have them."""
    target = tmp_path / "oob-helper"
    shutil.copytree(ROOT, target, ignore=lambda _dir, names: [n for n in names if n in SKIP_DIRS])
    return target


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST", "OOB_HELPER"))}
    # The interpreter a new user has: the one this virtualenv was made from, not the venv itself.
    env["PYTHON"] = getattr(sys, "_base_executable", None) or "python3"
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


@pytest.fixture
def demo(fresh_copy: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], threading.Event]]:
    proc = subprocess.Popen(
        ["bash", "scripts/demo", "--helper-port", "0", "--mock-port", "0"],
        cwd=fresh_copy,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                ready.set()
        ready.set()  # the process ended: let the test look at what it said

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield proc, lines, ready
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        reader.join(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_the_demo_command_installs_and_serves_the_helper(
    demo: tuple[subprocess.Popen[str], list[str], threading.Event],
) -> None:
    proc, lines, ready = demo
    assert ready.wait(600), "no demo banner in 10 minutes"  # a fresh venv installs packages first
    found = [re.search(r"Web helper:\s+(http://\S+)", line) for line in lines]
    urls = [match.group(1) for match in found if match]
    assert urls, "".join(lines)[-3000:]
    helper_url = urls[0]
    assert any("Demo login" in line and "demo" in line for line in lines)

    page = httpx.get(helper_url, timeout=30)
    assert page.status_code == 200
    assert "Not connected" in page.text
    assert "Connect to AWeber" in page.text

    proc.send_signal(signal.SIGTERM)  # bash execs the demo, so this reaches it
    assert proc.wait(60) == 143, "".join(lines)[-3000:]  # terminated, as the README says


def test_the_test_command_sets_up_and_runs_the_suite(fresh_copy: Path) -> None:
    # The whole suite runs elsewhere in this run; here the command runs one test file to show
    # that on its own it installs, lints, type-checks and tests.
    result = subprocess.run(
        ["bash", "scripts/test", "tests/test_foundation.py", "-q", "-p", "no:cacheprovider"],
        cwd=fresh_copy,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "scripts/test: mypy (strict)" in output
    # The editable install is quiet (it used to print setuptools' BuildBackendWarning).
    installing = output.split("scripts/test: ruff", 1)[0]
    assert "BuildBackendWarning" not in installing, installing[-4000:]
    assert "same name as your package" not in installing
    assert re.search(r"\b1 passed\b", output), output[-2000:]
