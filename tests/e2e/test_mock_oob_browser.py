"""The mock's login, consent and out-of-band pages in a real browser (Debian's Chromium).

Saves ``mock-login.png`` and ``mock-oob-code.png`` to the artifacts folder for the README.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from mock_server import MockServer

pytestmark = pytest.mark.browser

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"


def authorize_url(mock: MockServer, redirect_uri: str = OOB, state: str = "browser-state") -> str:
    query = {
        "response_type": "code",
        "client_id": "demo-confidential",
        "redirect_uri": redirect_uri,
        "scope": "account.read list.read subscriber.read",
        "state": state,
    }
    return f"{mock.authorize_url}?{urlencode(query)}"


def exchange(mock: MockServer, code: str, redirect_uri: str = OOB) -> httpx.Response:
    return httpx.post(
        mock.token_url,
        auth=("demo-confidential", "demo-secret"),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
    )


def csp_violations(page: Page) -> list[str]:
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    return seen


def test_out_of_band_flow(mock_aweber: MockServer, page: Page, artifacts_dir: Path) -> None:
    violations = csp_violations(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(authorize_url(mock_aweber))
    assert page.get_by_role("heading", name="Authorize Demo confidential app").is_visible()
    assert page.get_by_text("See your subscribers and their activity").is_visible()
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.screenshot(path=str(artifacts_dir / "mock-login.png"), full_page=True)
    page.get_by_role("button", name="Allow access").click()

    field = page.get_by_label("Authorization code")
    assert field.is_editable() is False
    code = field.input_value()
    assert len(code) >= 22
    assert page.get_by_text("paste it into Demo confidential app").is_visible()
    page.get_by_role("button", name="Copy").click()
    # The clipboard write settles asynchronously: wait for its message, then read it back.
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == code
    page.screenshot(path=str(artifacts_dir / "mock-oob-code.png"), full_page=True)
    assert violations == []

    answer = exchange(mock_aweber, code)
    assert answer.status_code == 200
    assert answer.json()["state"] == "browser-state"


def test_deny_out_of_band_shows_access_denied(mock_aweber: MockServer, page: Page) -> None:
    page.goto(authorize_url(mock_aweber))
    page.get_by_role("button", name="Deny").click()
    assert page.get_by_role("heading", name="Access denied").is_visible()
    assert mock_aweber.state()["codes"] == []


def test_wrong_password_shows_the_form_again(mock_aweber: MockServer, page: Page) -> None:
    page.goto(authorize_url(mock_aweber))
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Allow access").click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password. Try again."
    assert page.get_by_label("Username").input_value() == "demo"
    assert mock_aweber.state()["codes"] == []
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Allow access").click()
    assert exchange(mock_aweber, page.get_by_label("Authorization code").input_value()).status_code == 200


def test_redirect_flow_and_deny_with_a_registered_url(mock_aweber: MockServer, page: Page) -> None:
    landed: list[str] = []

    def callback(route: Route) -> None:  # nothing listens on :8000; catch the request instead
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="callback reached")

    page.route(f"{CALLBACK}**", callback)
    page.goto(authorize_url(mock_aweber, CALLBACK, state="s-123"))
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url(f"{CALLBACK}**")
    assert len(landed) == 1
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["state"] == ["s-123"]
    assert exchange(mock_aweber, query["code"][0], CALLBACK).status_code == 200

    page.goto(authorize_url(mock_aweber, CALLBACK, state="s-456"))
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{CALLBACK}**")
    denied = parse_qs(urlsplit(landed[-1]).query)
    assert denied["error"] == ["access_denied"]
    assert denied["state"] == ["s-456"]
    assert "code" not in denied
