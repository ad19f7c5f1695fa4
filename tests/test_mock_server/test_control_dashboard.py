"""The QA dashboard over real HTTP: what it shows, its CSRF-protected forms, its login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"


def issue_tokens(mock: MockServer, *, scope: str = "account.read list.read") -> dict[str, Any]:
    """A confidential client's token pair, through headless approval and the token endpoint."""
    approved = mock.approve(
        {"client_id": "demo-confidential", "redirect_uri": OOB, "response_type": "code", "scope": scope}
    )
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def browser_like(mock_aweber: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock_aweber.url) as client:
        yield client


def test_dashboard_shows_clients_users_tokens_clock_and_log(
    mock_aweber: MockServer, browser_like: httpx.Client
) -> None:
    mock_aweber.set_clock(1_800_000_000.0, frozen=True)
    tokens = issue_tokens(mock_aweber)
    page = browser_like.get("/_mock/")
    assert page.status_code == 200
    html = page.text
    for expected in ("demo-public", "demo-confidential", "public (PKCE)", OOB, "demo"):
        assert expected in html
    assert "2027-01-15 08:00:00 UTC" in html  # the mock clock
    assert "2h 0m 0s" in html  # the access token's time left
    assert "POST /oauth2/token" in html
    assert "authorization_code" in html
    assert tokens["access_token"] not in html
    assert tokens["refresh_token"] not in html
    assert tokens["access_token"][:4] + "…" in html
    assert "<script" not in html
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_dashboard_log_redacts_secrets_sent_in_the_query(
    mock_aweber: MockServer, browser_like: httpx.Client
) -> None:
    httpx.post(
        mock_aweber.token_url,
        params={
            "grant_type": "refresh_token",
            "refresh_token": "sekrit-rt-1",
            "client_secret": "sekrit-cs-2",
        },
    )
    html = browser_like.get("/_mock/").text
    assert "grant_type=refresh_token" in html
    assert "sekrit-rt-1" not in html
    assert "sekrit-cs-2" not in html


def test_dashboard_escapes_what_it_shows(mock_aweber: MockServer, browser_like: httpx.Client) -> None:
    mock_aweber.add_client("evil", None, [OOB], name="<script>alert(1)</script>")
    html = browser_like.get("/_mock/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_advance_clock_form_needs_its_csrf_token(mock_aweber: MockServer, browser_like: httpx.Client) -> None:
    mock_aweber.set_clock(1_000_000.0, frozen=True)
    csrf = csrf_of(browser_like.get("/_mock/").text)
    forged = httpx.post(f"{mock_aweber.url}/_mock/dashboard/clock/advance", data={"seconds": "60"})
    assert forged.status_code == 403
    wrong = browser_like.post(
        "/_mock/dashboard/clock/advance", data={"seconds": "60", "csrf_token": "x" * 64}
    )
    assert wrong.status_code == 403
    assert mock_aweber.now() == 1_000_000.0
    done = browser_like.post("/_mock/dashboard/clock/advance", data={"seconds": "3600", "csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/_mock/?done=advanced"
    assert mock_aweber.now() == 1_003_600.0
    assert "The clock moved." in browser_like.get(done.headers["location"]).text


@pytest.mark.parametrize(("seconds", "named"), [("", "Seconds is missing"), ("soon", "must be a number")])
def test_advance_clock_form_refuses_bad_seconds(
    mock_aweber: MockServer, browser_like: httpx.Client, seconds: str, named: str
) -> None:
    csrf = csrf_of(browser_like.get("/_mock/").text)
    answer = browser_like.post(
        "/_mock/dashboard/clock/advance", data={"seconds": seconds, "csrf_token": csrf}
    )
    assert answer.status_code == 400
    assert named in answer.text
    assert "Back to the dashboard" in answer.text


def test_freeze_and_unfreeze_forms(mock_aweber: MockServer, browser_like: httpx.Client) -> None:
    csrf = csrf_of(browser_like.get("/_mock/").text)
    browser_like.post("/_mock/dashboard/clock/freeze", data={"frozen": "true", "csrf_token": csrf})
    assert mock_aweber.clock()["frozen"] is True
    assert "Unfreeze clock" in browser_like.get("/_mock/").text
    browser_like.post("/_mock/dashboard/clock/freeze", data={"frozen": "false", "csrf_token": csrf})
    assert mock_aweber.clock()["frozen"] is False


def test_expire_then_revoke_a_grant_from_the_dashboard(
    mock_aweber: MockServer, browser_like: httpx.Client
) -> None:
    tokens = issue_tokens(mock_aweber)
    html = browser_like.get("/_mock/").text
    csrf = csrf_of(html)
    grant = re.search(r'name="grant" value="([^"]+)"', html)
    assert grant
    api = f"{mock_aweber.api_base}/accounts"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(api, headers=bearer).status_code == 200

    expired = browser_like.post(
        "/_mock/dashboard/tokens/expire", data={"grant": grant.group(1), "csrf_token": csrf}
    )
    assert expired.status_code == 303
    assert httpx.get(api, headers=bearer).status_code == 401
    assert [t["type"] for t in mock_aweber.state()["tokens"]] == ["refresh"]

    revoked = browser_like.post(
        "/_mock/dashboard/tokens/revoke", data={"grant": grant.group(1), "csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert mock_aweber.state()["tokens"] == []
    refresh = httpx.post(
        mock_aweber.token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("demo-confidential", "demo-secret"),
    )
    assert refresh.status_code in (400, 401)
    assert "No live tokens." in browser_like.get("/_mock/").text


def test_reset_and_disarm_faults_forms(mock_aweber: MockServer, browser_like: httpx.Client) -> None:
    mock_aweber.add_user("carol", "pw")
    mock_aweber.add_fault("/openapi.json", status=500, count=3)
    html = browser_like.get("/_mock/").text
    assert "status 500" in html
    csrf = csrf_of(html)
    browser_like.post("/_mock/dashboard/faults/clear", data={"csrf_token": csrf})
    assert mock_aweber.mock_state.faults.list() == []
    browser_like.post("/_mock/dashboard/reset", data={"csrf_token": csrf})
    assert [u["username"] for u in mock_aweber.state()["users"]] == ["demo"]


def test_arm_a_targeted_fault_from_the_dashboard(mock_aweber: MockServer, browser_like: httpx.Client) -> None:
    csrf = csrf_of(browser_like.get("/_mock/").text)
    form = {
        "csrf_token": csrf,
        "match": "prefix",
        "path": "/oauth2",
        "method": "POST",
        "grant_type": "refresh_token",
        "client_id": "<b>app</b>",
        "nth": "3",
        "count": "2",
        "kind": "status",
        "value": "502",
        "after_work": "true",
    }
    done = browser_like.post("/_mock/dashboard/faults", data=form)
    assert done.status_code == 303
    [fault] = mock_aweber.faults()
    assert {k: fault[k] for k in ("path_prefix", "method", "grant_type", "client_id", "nth", "count")} == {
        "path_prefix": "/oauth2",
        "method": "POST",
        "grant_type": "refresh_token",
        "client_id": "<b>app</b>",
        "nth": 3,
        "count": 2,
    }
    assert (fault["status"], fault["after_work"]) == (502, True)
    html = browser_like.get(done.headers["location"]).text
    assert "The fault is armed." in html
    assert "&lt;b&gt;app&lt;/b&gt;" in html
    assert "<b>app</b>" not in html
    assert "from match 3" in html
    assert "status 502 after the work" in html


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nth": "0"}, "'nth'"),
        ({"nth": "x"}, "From the nth match"),
        ({"grant_type": "password"}, "'grant_type'"),
    ],
)
def test_the_fault_form_refuses_bad_values(
    mock_aweber: MockServer, browser_like: httpx.Client, change: dict[str, str], named: str
) -> None:
    csrf = csrf_of(browser_like.get("/_mock/").text)
    form = {"csrf_token": csrf, "path": "/oauth2/token", "nth": "1", "count": "1", "kind": "drop", **change}
    answer = browser_like.post("/_mock/dashboard/faults", data=form)
    assert answer.status_code == 400
    assert named in answer.text.replace("&#39;", "'")
    assert mock_aweber.faults() == []


@pytest.fixture(scope="module")
def guarded() -> Iterator[MockServer]:
    with MockServer(control_token="dash-token-9") as mock:
        yield mock


def test_with_a_control_token_the_dashboard_asks_for_it(guarded: MockServer) -> None:
    with httpx.Client(base_url=guarded.url) as browser:
        first = browser.get("/_mock/")
        assert first.status_code == 401
        assert "Control token" in first.text
        assert "demo-confidential" not in first.text
        csrf = csrf_of(first.text)
        assert (
            browser.post(
                "/_mock/dashboard/clock/advance", data={"seconds": "1", "csrf_token": csrf}
            ).status_code
            == 401
        )
        wrong = browser.post("/_mock/login", data={"token": "nope", "csrf_token": csrf})
        assert wrong.status_code == 401
        assert "not right" in wrong.text
        right = browser.post("/_mock/login", data={"token": "dash-token-9", "csrf_token": csrf})
        assert right.status_code == 303
        session = right.cookies.get("mock_dashboard")
        assert session
        assert "dash-token-9" not in session
        assert "HttpOnly" in right.headers["set-cookie"]
        assert "SameSite=strict" in right.headers["set-cookie"]
        page = browser.get("/_mock/")
        assert page.status_code == 200
        assert "demo-confidential" in page.text
        # The session cookie opens the dashboard only, never the JSON control API.
        assert browser.get("/_mock/clock").status_code == 401
        browser.post("/_mock/logout", data={"csrf_token": csrf_of(page.text)})
        assert browser.get("/_mock/").status_code == 401


def test_token_in_the_url_logs_in_once_and_leaves_the_address_bar(guarded: MockServer) -> None:
    with httpx.Client(base_url=guarded.url) as browser:
        bad = browser.get("/_mock/", params={"token": "wrong"})
        assert bad.status_code == 401
        hop = browser.get("/_mock/", params={"token": "dash-token-9"})
        assert hop.status_code == 303
        assert hop.headers["location"] == "/_mock/"
        assert browser.get("/_mock/").status_code == 200


def test_login_form_needs_its_csrf_token(guarded: MockServer) -> None:
    forged = httpx.post(f"{guarded.url}/_mock/login", data={"token": "dash-token-9"})
    assert forged.status_code == 403
    assert "mock_dashboard" not in forged.cookies


def test_bearer_header_opens_the_dashboard(guarded: MockServer) -> None:
    page = httpx.get(f"{guarded.url}/_mock/", headers={"Authorization": "Bearer dash-token-9"})
    assert page.status_code == 200
    assert "Live tokens" in page.text


def test_favicon_is_served_and_kept_out_of_the_request_log(mock_aweber: MockServer) -> None:
    icon = httpx.get(f"{mock_aweber.url}/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon.content.startswith(b"\x00\x00\x01\x00")  # an ICO header
    assert icon.headers["x-content-type-options"] == "nosniff"
    assert [e for e in mock_aweber.events() if e.get("path") == "/favicon.ico"] == []
