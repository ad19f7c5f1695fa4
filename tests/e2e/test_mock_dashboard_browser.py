"""The QA dashboard in a real browser: see a live token, move the clock, expire and revoke it;
readable at 1,100 px and on a 390 px phone once real traffic fills its request log.

Saves ``mock-dashboard.png`` (the README's) from a dashboard with a browser login, a token
exchange, API calls and 50 long authorize requests in its log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
PHONE = {"width": 390, "height": 844}
# How many lines the text of an element takes.
LINES_JS = (
    "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length; }"
)

# What overflows the window, if anything: the page's own width, and each table cell's right edge.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const cells = [...document.querySelectorAll('th, td, header')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5)
    .map(el => el.textContent.trim().slice(0, 40));
  return {scroll: document.documentElement.scrollWidth, width, cells};
}"""


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
    page.screenshot(path=str(artifacts_dir / "mock-dashboard-actions.png"), full_page=True)

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


def real_traffic(mock: MockServer, page: Page) -> None:
    """50 long authorize requests, then a browser login and consent, its code exchanged, API calls."""
    query = {
        "response_type": "code",
        "client_id": "demo-confidential",
        "redirect_uri": OOB,
        "scope": "account.read list.read subscriber.read",
        "state": "browser-state",
    }
    with httpx.Client() as client:
        for n in range(50):
            long_query = {
                **query,
                "client_id": "demo-public",
                "state": f"{n:04d}-" + "s" * 120,
                "code_challenge": "c" * 43,
                "code_challenge_method": "S256",
            }
            client.get(mock.authorize_url, params=long_query)
    page.goto(f"{mock.authorize_url}?{urlencode(query)}")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Allow access").click()
    code = page.get_by_label("Authorization code").input_value()
    answer = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    for path in ("/accounts", "/accounts/1/lists"):
        httpx.get(f"{mock.api_base}{path}", headers=bearer)


def assert_fits(page: Page) -> None:
    found = page.evaluate(OVERFLOW_JS)
    assert found["scroll"] <= found["width"], found
    assert found["cells"] == [], found


@pytest.mark.browser
def test_dashboard_fits_at_1100_px_and_on_a_phone_with_real_traffic(
    mock_aweber: MockServer, page: Page, artifacts_dir: Path
) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    real_traffic(mock_aweber, page)
    problems.clear()  # the authorize requests' own answers are not the dashboard's

    page.goto(mock_aweber.dashboard_url)
    log = page.get_by_role("region", name="Recent requests")
    expect(log).to_contain_text("GET /oauth2/authorize?")
    # 50, plus the browser's GET and POST of the login page, the token exchange, 2 API calls.
    expect(log.locator("tbody tr")).to_have_count(55)
    assert_fits(page)
    # The time stays on one line beside a long request (it was wrapping into four).
    long_row = log.locator("tbody tr").last
    expect(long_row).to_contain_text("code_challenge")
    assert long_row.locator("td").nth(0).evaluate(LINES_JS) == 1
    assert long_row.locator("td").nth(1).evaluate(LINES_JS) > 1  # the request wraps instead
    tokens = page.get_by_role("region", name="Live tokens")
    expect(tokens.get_by_role("columnheader", name="Time left")).to_be_in_viewport()
    # The top of the page (tokens, clients, the newest requests): all of it is 50 long rows more.
    top = {"x": 0, "y": 0, "width": 1100, "height": 1400}
    page.screenshot(path=str(artifacts_dir / "mock-dashboard.png"), full_page=True, clip=top)

    page.set_viewport_size(PHONE)
    page.reload()
    assert_fits(page)
    expect(log).to_contain_text("GET /oauth2/authorize?")
    page.screenshot(path=str(artifacts_dir / "mock-dashboard-phone.png"), full_page=True)
    assert problems == []
