"""The QA dashboard in a real browser: see a live token, move the clock, expire and revoke it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"


def issue_tokens(mock: MockServer) -> dict[str, Any]:
    approved = mock.approve(
        {
            "client_id": "demo-confidential",
            "redirect_uri": OOB,
            "response_type": "code",
            "scope": "account.read",
        }
    )
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


@pytest.mark.browser
def test_dashboard_moves_the_clock_and_expires_and_revokes_tokens(
    mock_aweber: MockServer, page: Page, artifacts_dir: Path
) -> None:
    mock_aweber.set_clock(1_800_000_000.0, frozen=True)
    tokens = issue_tokens(mock_aweber)
    httpx.get(f"{mock_aweber.api_base}/accounts", params={"access_token": tokens["access_token"]})
    mock_aweber.add_fault("/oauth2/token", status=503, count=2)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(mock_aweber.dashboard_url)
    expect(page).to_have_title("mock-aweber dashboard")
    expect(page.locator("#clock")).to_have_text("2027-01-15 08:00:00 UTC")
    tokens_section = page.get_by_role("region", name="Live tokens")
    expect(tokens_section.get_by_role("cell", name="2h 0m 0s")).to_be_visible()
    expect(page.get_by_role("region", name="Clients")).to_contain_text("demo-public")
    expect(page.get_by_role("region", name="Users")).to_contain_text("demo")
    log = page.get_by_role("region", name="Recent requests")
    expect(log).to_contain_text("POST /oauth2/token")
    expect(log).to_contain_text("access_token=[redacted]")
    expect(page.get_by_role("region", name="Armed faults")).to_contain_text("status 503")
    assert tokens["access_token"] not in page.content()
    page.screenshot(path=str(artifacts_dir / "mock-dashboard.png"), full_page=True)

    page.get_by_label("Seconds").fill("3600")
    page.get_by_role("button", name="Advance clock").click()
    expect(page.get_by_role("status")).to_have_text("The clock moved.")
    expect(page.locator("#clock")).to_have_text("2027-01-15 09:00:00 UTC")
    expect(tokens_section.get_by_role("cell", name="1h 0m 0s")).to_be_visible()
    assert mock_aweber.now() == 1_800_003_600.0

    page.get_by_role("button", name="Expire").click()
    expect(page.get_by_role("status")).to_have_text("The grant's access tokens expired.")
    expect(tokens_section.get_by_role("cell", name="access", exact=True)).to_have_count(0)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{mock_aweber.api_base}/accounts", headers=bearer).status_code == 401

    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text("The grant's tokens were revoked.")
    expect(tokens_section).to_contain_text("No live tokens.")
    assert mock_aweber.state()["tokens"] == []
    # No CSP violations (no script, the style block allowed by its hash).
    assert not [line for line in console if "Content Security Policy" in line]


@pytest.fixture
def guarded() -> Iterator[MockServer]:
    with MockServer(control_token="qa-token-7") as mock:
        yield mock


@pytest.mark.browser
def test_dashboard_login_with_the_control_token(guarded: MockServer, page: Page) -> None:
    page.goto(guarded.dashboard_url)
    page.get_by_label("Control token").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Control token").fill("qa-token-7")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("region", name="Clients")).to_contain_text("demo-confidential")
    page.get_by_role("button", name="Freeze clock").click()
    expect(page.get_by_role("status")).to_have_text("The clock is frozen.")
    assert guarded.clock()["frozen"] is True
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Control token")).to_be_visible()
    guarded.check_errors()
