"""Shared fixtures: a real headless Chromium (Debian's), and a folder for test artifacts.

The ``mock_aweber`` fixture comes from the project's own pytest plugin (entry point pytest11).
Browser tests never skip: without /usr/bin/chromium they fail and say how to install it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from secret_sweep import TOTALS, SecretSweep

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("OOB_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Without the background-networking flags Chromium keeps dialling out of this closed network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def secret_sweep(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretSweep]:
    """The secrets sweep (tests/secret_sweep.py), logs captured at DEBUG; checked at the end."""
    caplog.set_level(logging.DEBUG)
    sweep = SecretSweep(caplog, monkeypatch)
    yield sweep
    if not sweep.checked:  # a test that called check() itself asserted on its counts already
        sweep.check()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line on what the secrets sweep covered in this run."""
    if TOTALS["tests"]:
        terminalreporter.write_line(
            f"secrets sweep: {TOTALS['tests']} clean checks looked for {TOTALS['secrets']} secrets "
            f"in {TOTALS['outputs']} outputs"
        )


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests put screenshots and other artifacts (kept after the run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright (its own browser download is not used).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and ``asyncio.run`` in any later test would then fail.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install chromium` "
            "(scripts/test does this when run as root)"
        )
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only browser tests pay for it

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[Page]:
    """A fresh browser context and page; a screenshot is saved when the test fails."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    yield page
    report: Any = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
        page.screenshot(path=str(artifacts_dir / f"FAILED-{name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
