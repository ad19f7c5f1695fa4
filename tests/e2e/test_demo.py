"""``oob-helper demo`` as a user runs it: start it, connect through the browser, stop it with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

OOB_HELPER = Path(sys.executable).with_name("oob-helper")


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """The demo on free ports; yields the process and the URLs it printed."""
    if not OOB_HELPER.exists():
        pytest.fail(f"{OOB_HELPER} is missing: install the project with `pip install -e .`")
    proc = subprocess.Popen(
        [str(OOB_HELPER), "demo", "--helper-port", "0", "--mock-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    printed = "".join(lines)
    urls = {
        name: match.group(1)
        for name, label in (("helper", "Web helper"), ("mock", "Mock AWeber"))
        if (match := re.search(rf"{label}:\s+(http://\S+)", printed))
    }
    try:
        assert set(urls) == {"helper", "mock"}, printed
        assert "username demo, password demo" in printed
        yield proc, urls
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


def test_demo_connects_in_the_browser_and_stops_on_sigterm(
    demo: tuple[subprocess.Popen[str], dict[str, str]], page: Page, artifacts_dir: Path
) -> None:
    proc, urls = demo
    page.goto(urls["helper"])
    expect(page.locator("#status-line")).to_contain_text("Not connected")
    page.screenshot(path=str(artifacts_dir / "demo-start.png"), full_page=True)
    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name="Connect to AWeber").click()
    mock_page = new_tab.value
    assert mock_page.url.startswith(urls["mock"])
    mock_page.get_by_label("Username").fill("demo")
    mock_page.get_by_label("Password").fill("demo")
    mock_page.get_by_role("button", name="Allow access").click()
    code = mock_page.get_by_label("Authorization code").input_value()
    mock_page.close()
    page.get_by_label("Authorization code").fill(code)
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#status-line")).to_contain_text("Demo Company")
    page.screenshot(path=str(artifacts_dir / "demo-connected.png"), full_page=True)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 143  # terminated, as the README's exit code table says
    assert proc.stdout is not None
    rest = proc.stdout.read()
    assert "stopped" in rest
    assert "Traceback" not in rest


def test_demo_stops_cleanly_on_ctrl_c(demo: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    proc, _ = demo
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130  # interrupted
    assert proc.stdout is not None
    rest = proc.stdout.read()
    assert "stopped" in rest
    assert "Traceback" not in rest
