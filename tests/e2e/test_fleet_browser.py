"""The fleet page in a real browser over a SQLite store of 10,000 installs in mixed states
(issue 13, item 7): the state and problem filters, the search and the keyset pages work, and
every row links to its site's page. A screenshot lands in ``test-artifacts/fleet.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token
from oob_helper.web.fleet import fleet_app
from oob_helper.web.runner import WebServer

pytestmark = pytest.mark.browser

NOW = 1_800_000_000.0
COUNT = 10_000


def fleet_record(i: int) -> InstallRecord:
    """Every 13th install needs reauthorization; the rest are connected."""
    token = Token(access_token=f"AT-{i}", refresh_token=f"RT-{i}", expires_at=NOW + 3600, obtained_at=NOW)
    if i % 13 == 0:
        return InstallRecord(
            install=f"shop{i:05d}.example",
            token=token,
            state="reauthorization_required",
            reason=f"the grant was revoked (case {i})",
            state_changed_at=NOW - 3600,
            version=1,
        )
    return InstallRecord(
        install=f"shop{i:05d}.example",
        token=token,
        state="connected",
        account_name=f"Shop {i}",
        last_refresh_at=NOW - 60,
        version=1,
    )


@pytest.fixture(scope="module")
def fleet_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fleet') / 'fleet.db'}"
    store = open_store(url, encryption_keys=())
    assert store.import_records(fleet_record(i) for i in range(1, COUNT + 1)) == COUNT  # type: ignore[attr-defined]
    helper = OAuthHelper(Settings(provider=AWEBER, client_id="fleet", store_url=url), store)
    app = fleet_app(helper, clock=lambda: NOW, site_url=lambda install: f"https://{install}/aweber/")
    with WebServer(app) as server:
        yield server.url + "/"
        server.check_errors()
    helper.close()


def rows(page: Page) -> list[str]:
    return page.locator("tbody tr td:first-child a").all_inner_texts()


def test_filters_search_and_pages(page: Page, fleet_url: str, artifacts_dir: Path) -> None:
    page.goto(fleet_url)
    first = rows(page)
    assert first == [f"shop{i:05d}.example" for i in range(1, 51)]
    expect(page.locator("tbody tr").first.locator("a")).to_have_attribute(
        "href", "https://shop00001.example/aweber/"
    )
    page.screenshot(path=str(artifacts_dir / "fleet.png"), full_page=True)

    page.get_by_role("link", name="Next page").click()
    assert rows(page) == [f"shop{i:05d}.example" for i in range(51, 101)]
    page.get_by_role("link", name="Next page").click()
    assert rows(page)[0] == "shop00101.example"
    page.get_by_role("link", name="First page").click()
    assert rows(page) == first

    page.get_by_label("State").select_option("reauthorization_required")
    page.get_by_role("button", name="Show").click()
    stuck = rows(page)
    assert stuck == [f"shop{i:05d}.example" for i in range(13, 13 * 51, 13)]
    expect(page.locator("tbody")).to_contain_text("the grant was revoked (case 13)")
    page.get_by_role("link", name="Next page").click()  # the filter is kept across pages
    assert rows(page)[0] == f"shop{13 * 51:05d}.example"
    assert "state=reauthorization_required" in page.url

    page.goto(fleet_url)
    page.get_by_label("Problem").select_option("some")
    page.get_by_label("Install").fill("SHOP0999")
    page.get_by_role("button", name="Show").click()
    # A search reads at most 5,000 installs per page, so the first page says where it stopped;
    # 09990-09999 holds one install that needs reauthorization: 9997 (= 13 x 769).
    assert rows(page) == []
    expect(page.locator(".warning")).to_contain_text("Looked through 5000 installs")
    page.get_by_role("link", name="Keep looking").click()
    assert rows(page) == ["shop09997.example"]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    expect(page.get_by_role("link", name="Keep looking")).to_have_count(0)

    page.goto(fleet_url + "?state=nonsense")
    expect(page.locator("h1")).to_have_text("That filter cannot be used")
    expect(page.locator(".problem")).to_contain_text("state must be one of")
