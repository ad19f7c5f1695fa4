"""The web helper in a real browser: two sites served by one helper process, each connected to
its own mock AWeber user through the real pages, refreshed, aged past expiry, disconnected.

Chromium resolves every ``*.localhost`` name to loopback, so ``site-a.localhost:PORT`` and
``site-b.localhost:PORT`` reach the same helper while being two installs. Screenshots of every
step land in ``test-artifacts/web-<step>.png`` (the README uses them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from mock_server.clock import Clock
from mock_server.runner import MockServer
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.web import create_app
from oob_helper.web.runner import WebServer

pytestmark = pytest.mark.browser


@dataclass
class LiveHelper:
    server: WebServer
    helper: OAuthHelper
    clock: Clock

    def url(self, site: str) -> str:
        return f"http://{site}.localhost:{self.server.port}/"


@pytest.fixture
def live(mock_aweber: MockServer, tmp_path: Path) -> Iterator[LiveHelper]:
    clock = Clock()
    settings = Settings(
        provider=AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base),
        client_id="demo-public",
        store_url="sqlite:///" + str(tmp_path / "tokens.db"),
    )
    helper = OAuthHelper(settings, open_store(settings.store_url, encryption_keys=()), clock=clock.now)
    app = create_app(helper, allowed_hosts=["site-a.localhost", "site-b.localhost"], clock=clock.now)
    with WebServer(app) as server:
        yield LiveHelper(server, helper, clock)
        server.check_errors()
    helper.close()


def shot(page: Page, artifacts: Path, step: str) -> None:
    page.screenshot(path=str(artifacts / f"web-{step}.png"), full_page=True)


def watch_console(page: Page) -> list[str]:
    """Every console error, page error and failed response the page sees (favicon included)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.append(str(error)))
    page.on("response", lambda r: seen.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return seen


def reload_shows_status(page: Page, url: str) -> None:
    """The action ended on the status page itself: a reload is a plain GET, no resubmit prompt."""
    assert page.url == url
    response = page.reload()
    assert response is not None
    assert response.request.method == "GET"
    assert response.status == 200
    assert page.url == url
    expect(page.locator(".notice")).to_have_count(0)  # the outcome was said once


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_walkthrough_words() -> set[str]:
    """What the README's set-up paragraph tells a newcomer to click or expect to read."""
    section = README.read_text().split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    paragraph = " ".join(section.split("`scripts/demo` prints", 1)[1].split("\n\n", 1)[0].split())
    return set(re.findall(r"\*\*(.+?)\*\*", paragraph)) | set(re.findall(r'"([^"]+)"', paragraph))


def connect_through_pages(
    page: Page,
    url: str,
    username: str,
    password: str,
    artifacts: Path,
    prefix: str,
    seen: list[str] | None = None,
    state: str = "Not connected",
) -> None:
    """Status page -> Connect to AWeber (new tab) -> sign in and Allow access -> copy -> paste -> Connect.

    ``seen`` collects the text of each page on the way (for the README check); ``state`` is
    what the status line says before.
    """
    seen = [] if seen is None else seen
    page.goto(url)
    expect(page.locator("#status-line")).to_contain_text(state)
    seen.append(page.inner_text("body"))
    shot(page, artifacts, f"{prefix}-not-connected")
    link = page.get_by_role("link", name="Connect to AWeber")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    with page.context.expect_page() as new_tab:
        link.click()
    mock_page = new_tab.value
    mock_page.wait_for_load_state()
    mock_page.get_by_label("Username").fill(username)
    mock_page.get_by_label("Password").fill(password)
    seen.append(mock_page.inner_text("body"))
    shot(mock_page, artifacts, f"{prefix}-mock-login")
    mock_page.get_by_role("button", name="Allow access").click()
    code_field = mock_page.get_by_label("Authorization code")
    expect(code_field).to_have_attribute("readonly", "")
    code = code_field.input_value()
    assert code
    seen.append(mock_page.inner_text("body"))
    shot(mock_page, artifacts, f"{prefix}-mock-code")
    mock_page.close()
    page.get_by_label("Authorization code").fill(code)
    page.get_by_role("button", name="Connect", exact=True).click()


def test_two_sites_connect_refresh_expire_and_disconnect_independently(
    page: Page, live: LiveHelper, mock_aweber: MockServer, artifacts_dir: Path
) -> None:
    alice = mock_aweber.add_user("alice", "alice-password")
    site_a, site_b = live.url("site-a"), live.url("site-b")
    console = watch_console(page)
    seen: list[str] = []

    connect_through_pages(page, site_a, "demo", "demo", artifacts_dir, "a", seen)
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#status-line")).to_contain_text("Demo Company")
    expect(page.locator(".notice")).to_have_text("Connected to Demo Company.")
    expect(page.get_by_text("Back to the status page")).to_have_count(0)
    seen.append(page.inner_text("body"))
    shot(page, artifacts_dir, "a-connected")
    reload_shows_status(page, site_a)

    connect_through_pages(page, site_b, "alice", "alice-password", artifacts_dir, "b")
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#status-line")).to_contain_text("Alice Company")
    expect(page.locator(".account-id").first).to_have_text(str(alice["account_id"]))
    shot(page, artifacts_dir, "b-connected")

    # Each install sees only its own account.
    page.goto(site_a)
    expect(page.locator("#status-line")).to_contain_text("Demo Company")
    expect(page.locator("#status-line")).not_to_contain_text("Alice")
    record_a = live.helper.status(f"site-a.localhost:{live.server.port}")
    record_b = live.helper.status(f"site-b.localhost:{live.server.port}")
    assert record_a.account_id != record_b.account_id

    before = record_a.token
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator(".notice")).to_have_text("The access token was refreshed.")
    shot(page, artifacts_dir, "a-refreshed")
    reload_shows_status(page, site_a)
    after = live.helper.status(f"site-a.localhost:{live.server.port}").token
    assert before is not None
    assert after is not None
    assert after.access_token != before.access_token

    # Past the access token's lifetime on both clocks: the page still works and says so.
    mock_aweber.advance_clock(7300)
    live.clock.advance(7300)
    page.goto(site_a)
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator(".expiry")).to_contain_text("expired")
    shot(page, artifacts_dir, "a-expired")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator(".notice")).to_have_text("The access token was refreshed.")
    expect(page.locator(".expiry")).to_contain_text("in 1 h")
    shot(page, artifacts_dir, "a-refreshed-after-expiry")

    # Disconnect asks first; Cancel leaves the connection alone.
    page.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_role("heading")).to_have_text("Disconnect this site from AWeber?")
    seen.append(page.inner_text("body"))
    shot(page, artifacts_dir, "a-disconnect-confirm")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#status-line")).to_contain_text("Connected")
    assert live.helper.status(f"site-a.localhost:{live.server.port}").state == "connected"
    page.get_by_role("button", name="Disconnect").click()
    page.get_by_role("button", name="Yes, disconnect").click()
    expect(page.locator("#status-line")).to_contain_text("Not connected")
    expect(page.locator(".notice")).to_have_text("Disconnected. The token was revoked and forgotten.")
    expect(page.get_by_role("link", name="Connect to AWeber")).to_be_visible()
    shot(page, artifacts_dir, "a-disconnected")
    reload_shows_status(page, site_a)

    page.goto(site_b)
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#status-line")).to_contain_text("Alice Company")
    shot(page, artifacts_dir, "b-still-connected")
    assert live.helper.status(f"site-b.localhost:{live.server.port}").state == "connected"

    # The provider takes site B's access away: Refresh now says so, keeps the account, offers to connect.
    assert mock_aweber.revoke_tokens(username="alice") > 0
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#status-line")).to_contain_text("Reauthorization required")
    expect(page.locator("#status-line")).to_contain_text("Alice Company")
    expect(page.locator(".reason")).not_to_be_empty()
    expect(page.get_by_role("link", name="Connect to AWeber")).to_be_visible()
    shot(page, artifacts_dir, "b-reauthorization-required")
    reload_shows_status(page, site_b)
    assert console == []
    # Every button, link and message the README's walk-through names is on these pages.
    words = readme_walkthrough_words()
    assert {"Connect to AWeber", "Allow access", "Connect", "Disconnect"} <= words
    missing = [word for word in words if not any(word in text for text in seen)]
    assert missing == [], f"the README names {missing}, which no page shows"


def test_pages_are_not_framed_and_run_no_script(page: Page, live: LiveHelper) -> None:
    response = page.goto(live.url("site-a"))
    assert response is not None
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none' covers it
    assert headers["x-frame-options"] == "DENY"
    assert page.locator("script").count() == 0
