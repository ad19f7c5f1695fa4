"""The trouble banner on the web helper's status page, in a real browser (issue 13).

The helper is configured with a 180-day refresh-token lifetime (``refresh_token_lifetime``,
as ``OOB_HELPER_REFRESH_TOKEN_LIFETIME=180d`` would), so an AWeber connection ages as a
Constant Contact one does. Its clock and the mock's are moved together (no sleeps). The
banner's screenshots land in ``test-artifacts/web-banner-*.png``; the README shows them
(copied to ``docs/images/``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from secret_sweep import SecretSweep
from test_web_browser import LiveHelper, connect_through_pages, shot, watch_console

from mock_server.clock import Clock
from mock_server.runner import MockServer
from oob_helper.config import Settings
from oob_helper.health import DAY
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.web import create_app
from oob_helper.web.pages import format_time
from oob_helper.web.runner import WebServer

pytestmark = pytest.mark.browser


@pytest.fixture
def live(mock_aweber: MockServer, tmp_path: Path) -> Iterator[LiveHelper]:
    clock = Clock()
    clock.set(mock_aweber.now(), frozen=True)  # moved only by the test
    settings = Settings(
        provider=AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base),
        client_id="demo-public",
        store_url="sqlite:///" + str(tmp_path / "tokens.db"),
        refresh_token_lifetime=180 * DAY,
    )
    helper = OAuthHelper(settings, open_store(settings.store_url, encryption_keys=()), clock=clock.now)
    app = create_app(helper, allowed_hosts=["site-a.localhost"], clock=clock.now)
    with WebServer(app) as server:
        yield LiveHelper(server, helper, clock)
        server.check_errors()
    helper.close()


def advance(live: LiveHelper, mock: MockServer, seconds: float) -> None:
    mock.advance_clock(seconds)
    live.clock.advance(seconds)


def test_the_banner_warns_before_the_refresh_token_lapses_and_its_button_fixes_it(
    page: Page, live: LiveHelper, mock_aweber: MockServer, artifacts_dir: Path, secret_sweep: SecretSweep
) -> None:
    secret_sweep.watch_mock(mock_aweber)
    events: list[LifecycleEvent] = []
    live.helper.subscribe(events.append)
    console = watch_console(page)
    site = live.url("site-a")
    install = f"site-a.localhost:{live.server.port}"
    connect_through_pages(page, site, "demo", "demo", artifacts_dir, "banner")
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#banner")).to_have_count(0)  # a fresh connection is in no trouble
    connected_at = live.helper.status(install).refresh_token_issued_at
    assert connected_at is not None

    advance(live, mock_aweber, 170 * DAY)
    page.goto(site)
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading")).to_have_text("This connection will stop working soon")
    expect(banner.locator(".banner-text")).to_contain_text("refresh now to keep the connection")
    expect(banner.locator(".banner-since")).to_have_text(format_time(connected_at + 166 * DAY))
    expect(banner.locator(".banner-breaks")).to_have_text(format_time(connected_at + 180 * DAY))
    shot(page, artifacts_dir, "banner-expiring")
    secret_sweep.scan("the banner page", page.content())
    # The page view told the warnings once; a reload shows the banner and tells nothing again.
    page.reload()
    expect(banner).to_be_visible()
    assert [e.kind for e in events].count("refresh_token_expiring") == 1

    banner.get_by_role("button", name="Refresh now").click()
    expect(page.locator(".notice")).to_have_text("The access token was refreshed.")
    expect(page.locator("#banner")).to_have_count(0)
    record = live.helper.status(install)
    assert record.refresh_token_used_at == live.clock.now()
    assert live.helper.health(record).problem is None
    assert console == []
    secret_sweep.scan("events", json.dumps([e.to_dict() for e in events]), repr(events))


def connected_site(
    page: Page, live: LiveHelper, mock: MockServer, artifacts_dir: Path, sweep: SecretSweep, name: str
) -> tuple[list[str], str, str]:
    """Connect site-a through the pages; returns the console watch, the site URL, the install."""
    sweep.watch_mock(mock)
    console = watch_console(page)
    site = live.url("site-a")
    connect_through_pages(page, site, "demo", "demo", artifacts_dir, name)
    expect(page.locator("#status-line")).to_contain_text("Connected")
    return console, site, f"site-a.localhost:{live.server.port}"


def test_the_banner_says_why_reauthorization_is_required_and_the_connect_form_fixes_it(
    page: Page, live: LiveHelper, mock_aweber: MockServer, artifacts_dir: Path, secret_sweep: SecretSweep
) -> None:
    console, site, install = connected_site(
        page, live, mock_aweber, artifacts_dir, secret_sweep, "banner-reauth"
    )

    mock_aweber.revoke_tokens(client_id="demo-public")
    advance(live, mock_aweber, 3600)
    page.get_by_role("button", name="Refresh now").click()  # the provider refuses: marked
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading")).to_have_text("This connection has stopped working")
    expect(banner.locator(".banner-reason")).to_contain_text("invalid_grant")
    marked = live.helper.status(install)
    assert marked.state == "reauthorization_required"
    assert marked.state_changed_at is not None
    expect(banner.locator(".banner-since")).to_have_text(format_time(marked.state_changed_at))
    expect(banner.get_by_role("button", name="Refresh now")).to_have_count(0)
    expect(page.get_by_label("Authorization code")).to_be_visible()  # the Connect form is there
    shot(page, artifacts_dir, "banner-reauthorization")
    secret_sweep.scan("the banner page", page.content())

    banner.get_by_role("link", name="Connect again").click()
    assert page.url.endswith("#connect")
    connect_through_pages(
        page, site, "demo", "demo", artifacts_dir, "banner-reconnect", state="Reauthorization required"
    )
    expect(page.locator("#status-line")).to_contain_text("Connected")
    expect(page.locator("#banner")).to_have_count(0)
    assert live.helper.status(install).state == "connected"
    assert console == []


def test_the_banner_says_a_copied_store_needs_adopt_store_or_a_new_connection(
    page: Page, live: LiveHelper, mock_aweber: MockServer, artifacts_dir: Path, secret_sweep: SecretSweep
) -> None:
    console, site, install = connected_site(
        page, live, mock_aweber, artifacts_dir, secret_sweep, "banner-copy"
    )
    # What a copied store looks like from here: the record names the store it was made in,
    # elsewhere (test_clone_guard.py makes real copies of every backend).
    elsewhere = "sqlite:/srv/production/tokens.db@production-machine"
    record = live.helper.status(install)
    live.helper.store.import_record(dataclasses.replace(record, store_location=elsewhere))  # type: ignore[attr-defined]
    mark = max(int(e["id"]) for e in mock_aweber.events())

    page.goto(site)
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading")).to_have_text("This looks like a copy of another site's connection")
    expect(banner.locator(".banner-text")).to_contain_text("oob-helper adopt-store")
    expect(banner.locator(".banner-text")).to_contain_text("oob-helper connect --install")
    expect(banner.locator(".banner-reason")).to_have_text(f"connected in the store at {elsewhere}")
    expect(banner.locator(".banner-since")).to_have_count(0)  # found, not timed
    expect(banner.get_by_role("button", name="Refresh now")).to_have_count(0)
    shot(page, artifacts_dir, "banner-copy")
    secret_sweep.scan("the banner page", page.content())

    # The page's own Refresh now answers with the same words (409) and sends nothing.
    refresh = page.get_by_role("button", name="Refresh now")
    expect(refresh).to_have_count(1)
    refresh.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This looks like a copy of another site's connection"
    )
    expect(page.locator(".hint")).to_contain_text("adopt-store")

    # Disconnecting the copy forgets it here only: the grant is the original site's.
    page.goto(site)
    page.get_by_role("button", name="Disconnect").click()
    page.get_by_role("button", name="Yes, disconnect").click()
    expect(page.locator(".notice")).to_have_text(
        "Forgotten here only: this connection was copied from another store, so its grant (the "
        "original site's) was not revoked."
    )
    assert live.helper.status(install).state == "not_connected"
    assert [e for e in mock_aweber.events() if int(e["id"]) > mark] == []  # nothing reached the provider
    # The browser logs the error page's status (twice, in its own words), and nothing else.
    assert console
    assert all("409" in line for line in console), console
