"""Bad input against the web helper over real HTTP: each gets a clear page and status, never a
500 or a traceback, and nothing stored changes.

One helper process (uvicorn on a free loopback port) serves two installs, ``site-a.test`` and
``site-b.test``, chosen by the Host header; the live mock plays AWeber, and pytest-httpserver
scripts a misbehaving token endpoint.
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from pytest_httpserver import HTTPServer
from starlette.requests import Request

from mock_server.clock import Clock
from mock_server.runner import MockServer
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER, Provider
from oob_helper.stores import open_store
from oob_helper.web import create_app
from oob_helper.web.csrf import CSRF_SALT
from oob_helper.web.headers import SECURITY_HEADERS
from oob_helper.web.runner import WebServer

SECRET = "test-secret-key-" + "x" * 32
XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@dataclass
class Form:
    """What a status page offers: the CSRF token, and the connect attempt when shown."""

    csrf: str
    attempt: str | None
    authorize_url: str | None


class Site:
    """A browser stand-in for one install: its own cookie jar and Host header."""

    def __init__(self, server: WebServer, name: str) -> None:
        self.host = f"{name}:{server.port}"
        # Like a browser, it follows each action's 303 back to the status page.
        self.http = httpx.Client(
            base_url=server.url, headers={"Host": self.host}, timeout=30, follow_redirects=True
        )

    def get(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kwargs)

    def form(self, path: str = "/") -> Form:
        page = self.get(path)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        attempt = re.search(r'name="attempt" value="([^"]+)"', page.text)
        link = re.search(r'class="connect-link" href="([^"]+)"', page.text)
        assert csrf is not None
        return Form(
            csrf=csrf.group(1),
            attempt=attempt.group(1) if attempt else None,
            authorize_url=html.unescape(link.group(1)) if link else None,
        )

    def submit(self, code: str, form: Form | None = None) -> httpx.Response:
        form = form or self.form()
        assert form.attempt is not None
        return self.post("/code", {"csrf_token": form.csrf, "attempt": form.attempt, "code": code})


@dataclass
class Web:
    """The running helper, its sites and the things tests need to check nothing changed."""

    helper: OAuthHelper
    server: WebServer
    clock: Clock
    a: Site
    b: Site

    def snapshot(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.helper.installs()]


@contextmanager
def running_web(provider: Provider, **app_options: Any) -> Iterator[Web]:
    clock = Clock(1_900_000_000.0, frozen=True)
    settings = Settings(provider=provider, client_id="demo-public")
    helper = OAuthHelper(settings, open_store("memory://", encryption_keys=()), clock=clock.now)
    options: dict[str, Any] = {"allowed_hosts": ["site-a.test", "site-b.test"], "secret_key": SECRET}
    options.update(app_options)
    app = create_app(helper, clock=clock.now, **options)
    with WebServer(app) as server:
        web = Web(helper, server, clock, Site(server, "site-a.test"), Site(server, "site-b.test"))
        try:
            yield web
        finally:
            web.a.http.close()
            web.b.http.close()
            server.check_errors()
            helper.close()


@pytest.fixture
def web(mock_aweber: MockServer) -> Iterator[Web]:
    mock_aweber.set_clock(1_900_000_000.0, frozen=True)
    with running_web(AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base)) as running:
        yield running


def approve(mock: MockServer, form: Form, username: str = "demo") -> str:
    assert form.authorize_url is not None
    params = dict(parse_qsl(urlsplit(form.authorize_url).query))
    code: str = mock.approve(params, username=username)["code"]
    return code


def connect(web: Web, mock: MockServer, site: Site, username: str = "demo") -> None:
    form = site.form()
    response = site.submit(approve(mock, form, username), form)
    assert response.status_code == 200, response.text
    assert "Connected" in response.text


def assert_refused(response: httpx.Response, status: int, *phrases: str) -> None:
    """A clear page with the right status; no traceback; security headers present."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    assert "What to do:" in response.text
    for phrase in phrases:
        assert phrase in response.text, f"{phrase!r} missing from the page"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value


# --- CSRF --------------------------------------------------------------------------------------


def test_code_without_csrf_token_is_refused(web: Web) -> None:
    form = web.a.form()
    before = web.snapshot()
    response = web.a.post("/code", {"attempt": form.attempt or "", "code": "abc123"})
    assert_refused(response, 403, "without its security token", "nothing was changed")
    assert web.snapshot() == before


@pytest.mark.parametrize("token", ["forged", "eyJpIjoic2l0ZS1hLnRlc3QifQ.AAAAAA.BBBBBBBBBB", "a" * 2000])
def test_forged_csrf_token_is_refused(web: Web, token: str) -> None:
    form = web.a.form()
    response = web.a.post("/code", {"csrf_token": token, "attempt": form.attempt or "", "code": "abc"})
    assert_refused(response, 403, "not one this site issued")
    assert web.snapshot() == []


def test_csrf_token_signed_with_another_key_is_refused(web: Web) -> None:
    form = web.a.form()
    forged = URLSafeTimedSerializer("attacker-key", salt=CSRF_SALT).dumps({"i": web.a.host, "s": "x"})
    response = web.a.post("/code", {"csrf_token": forged, "attempt": form.attempt or "", "code": "abc"})
    assert_refused(response, 403, "not one this site issued")


def test_expired_csrf_token_is_refused(web: Web) -> None:
    form = web.a.form()
    web.clock.advance(3601)
    response = web.a.submit("abc123", form)
    assert_refused(response, 403, "expired")
    assert web.snapshot() == []


def test_csrf_token_from_another_install_is_refused(web: Web) -> None:
    form_a = web.a.form()
    form_b = web.b.form()
    # Site A's token and session cookie, replayed against site B with B's attempt.
    cookie = "; ".join(f"{name}={value}" for name, value in web.a.http.cookies.items())
    with httpx.Client(base_url=web.server.url, headers={"Host": web.b.host, "Cookie": cookie}) as replay:
        response = replay.post(
            "/code", data={"csrf_token": form_a.csrf, "attempt": form_b.attempt or "", "code": "abc123"}
        )
    assert_refused(response, 403, "belongs to another site")


def test_csrf_token_without_session_cookie_is_refused(web: Web) -> None:
    form = web.a.form()
    web.a.http.cookies.clear()
    response = web.a.submit("abc123", form)
    assert_refused(response, 403, "session cookie")


def test_csrf_token_from_another_browser_session_is_refused(web: Web, mock_aweber: MockServer) -> None:
    victim_form = web.a.form()
    attacker = Site(web.server, "site-a.test")
    try:
        attacker.form()  # the attacker's own session cookie
        response = attacker.submit(approve(mock_aweber, victim_form), victim_form)
        assert_refused(response, 403, "another browser session")
    finally:
        attacker.http.close()
    assert web.snapshot() == []


@pytest.mark.parametrize("action", ["/refresh", "/disconnect"])
def test_actions_without_csrf_token_change_nothing(web: Web, mock_aweber: MockServer, action: str) -> None:
    connect(web, mock_aweber, web.a)
    before = web.snapshot()
    response = web.a.post(action, {})
    assert_refused(response, 403, "nothing was changed")
    assert web.snapshot() == before


# --- what is pasted ------------------------------------------------------------------------------


@pytest.mark.parametrize("pasted", ["", "   ", "\n\t"])
def test_empty_paste_is_refused(web: Web, pasted: str) -> None:
    response = web.a.submit(pasted)
    assert_refused(response, 400, "No authorization code was pasted")
    assert web.snapshot() == []


@pytest.mark.parametrize("pasted", ["not a code!!", "'; DROP TABLE installs; --", XSS, "%00%0a"])
def test_garbage_paste_is_refused_and_the_attempt_survives(
    web: Web, mock_aweber: MockServer, pasted: str
) -> None:
    form = web.a.form()
    response = web.a.submit(pasted, form)
    assert_refused(response, 400, "not an authorization code")
    assert "<script>" not in response.text
    assert web.snapshot() == []
    # A typo does not spend the attempt: the real code still works with the same form.
    assert web.a.submit(approve(mock_aweber, form), form).status_code == 200


def test_overlong_paste_is_refused(web: Web) -> None:
    response = web.a.submit("A" * 3000)
    assert_refused(response, 400, "not an authorization code")
    assert web.snapshot() == []


def test_oversized_paste_is_refused_before_reading_it(web: Web) -> None:
    response = web.a.submit("A" * 100_000)
    assert_refused(response, 413, "far too long")
    assert web.snapshot() == []


def test_form_in_another_encoding_is_refused(web: Web) -> None:
    form = web.a.form()
    response = web.a.http.post("/code", json={"csrf_token": form.csrf, "attempt": form.attempt, "code": "x"})
    assert_refused(response, 415, "unexpected format")


def test_code_from_another_installs_attempt_is_refused(web: Web, mock_aweber: MockServer) -> None:
    form_a = web.a.form()
    code_for_a = approve(mock_aweber, form_a)
    response = web.b.submit(code_for_a)
    assert_refused(response, 400, "refused the code")
    assert web.snapshot() == []


def test_attempt_reference_from_another_install_is_refused(web: Web) -> None:
    form_a = web.a.form()
    form_b = web.b.form()
    response = web.b.post(
        "/code", {"csrf_token": form_b.csrf, "attempt": form_a.attempt or "", "code": "abc"}
    )
    assert_refused(response, 400, "started for another site")


@pytest.mark.parametrize("attempt", ["", "forged.reference.value"])
def test_missing_or_forged_attempt_reference_is_refused(web: Web, attempt: str) -> None:
    form = web.a.form()
    response = web.a.post("/code", {"csrf_token": form.csrf, "attempt": attempt, "code": "abc123"})
    assert_refused(response, 400, "cannot be completed", "Start again")


def test_expired_attempt_is_refused(web: Web, mock_aweber: MockServer) -> None:
    form = web.a.form()
    code = approve(mock_aweber, form)
    web.clock.advance(601)
    response = web.a.submit(code, form)
    assert_refused(response, 400, "expired", "Start again")
    assert web.snapshot() == []


def test_reused_attempt_is_refused(web: Web, mock_aweber: MockServer) -> None:
    form = web.a.form()
    assert web.a.submit(approve(mock_aweber, form), form).status_code == 200
    before = web.snapshot()
    response = web.a.submit(approve(mock_aweber, form), form)
    assert_refused(response, 409, "already used")
    assert web.snapshot() == before


def test_pasted_redirect_with_access_denied_is_refused(web: Web) -> None:
    pasted = "http://127.0.0.1:8000/callback?" + urlencode({"error": "access_denied", "state": "x"})
    response = web.a.submit(pasted)
    assert_refused(response, 403, "Access was denied", "Allow access")
    assert web.snapshot() == []


def test_pasted_redirect_with_wrong_state_is_refused(web: Web) -> None:
    pasted = "http://127.0.0.1:8000/callback?" + urlencode({"code": "abc123", "state": "someone-elses"})
    response = web.a.submit(pasted)
    assert_refused(response, 400, "different connection attempt")
    assert web.snapshot() == []


def test_code_submissions_are_rate_limited_per_install(web: Web) -> None:
    form = web.a.form()
    for _ in range(10):
        assert web.a.submit("", form).status_code == 400
    response = web.a.submit("abc123", form)
    assert_refused(response, 429, "at most 10 codes a minute")
    assert response.headers["retry-after"] == "61"
    assert web.b.submit("").status_code == 400  # the other install is not limited
    web.clock.advance(61)
    assert web.a.submit("", form).status_code == 400


# --- what the provider sends back ----------------------------------------------------------------


@pytest.fixture
def scripted(httpserver: HTTPServer) -> Iterator[Web]:
    provider = AWEBER.with_bases(httpserver.url_for("/").rstrip("/"), httpserver.url_for("/1.0"))
    with running_web(provider) as running:
        yield running


def test_provider_error_description_is_escaped(scripted: Web, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": XSS}, status=400
    )
    response = scripted.a.submit("abc123")
    assert_refused(response, 400, "refused the code", "&lt;script&gt;alert(")
    assert "<script>" not in response.text
    assert "<img" not in response.text
    assert scripted.snapshot() == []


def test_provider_html_error_page_is_reported(scripted: Web, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_data(
        "<html>" + XSS + "</html>", status=500, content_type="text/html"
    )
    response = scripted.a.submit("abc123")
    assert_refused(response, 502, "answered with an error")
    assert "<script>" not in response.text
    assert scripted.snapshot() == []


def test_unreachable_provider_is_reported() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with running_web(AWEBER.with_bases(dead, dead + "/1.0")) as web:
        response = web.a.submit("abc123")
        assert_refused(response, 504, "could not be reached")
        assert web.snapshot() == []


def test_account_name_is_escaped(web: Web, mock_aweber: MockServer) -> None:
    mock_aweber.add_user(XSS, "pw")
    connect(web, mock_aweber, web.a, username=XSS)
    page = web.a.get("/")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "<img" not in page.text
    assert "&lt;script&gt;" in page.text


# --- hosts, methods, access ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "site-a.test.evil.test",
        "evil.test@site-a.test",
        "site-a.test/x",
        "",
        "[::1",
        "ä" * 300,
        "bücher.test",
    ],
)
def test_unknown_or_malicious_hosts_are_refused(web: Web, host: str) -> None:
    response = web.a.http.get("/", headers={"Host": host.encode()})
    assert_refused(response, 400, "This site is not served here")
    assert web.snapshot() == []


@pytest.mark.parametrize("path", ["/code", "/refresh"])
def test_get_on_post_only_actions_is_refused(web: Web, mock_aweber: MockServer, path: str) -> None:
    connect(web, mock_aweber, web.a)
    before = web.snapshot()
    response = web.a.get(path)
    assert_refused(response, 405, "only accepted from the page")
    assert "POST" in response.headers["allow"]
    assert web.snapshot() == before


def test_unknown_page_is_a_clear_404(web: Web) -> None:
    assert_refused(web.a.get("/wp-admin"), 404, "Page not found")


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("POST", "/disconnect"), ("POST", "/code")])
def test_remote_clients_are_refused_by_default(
    web: Web, mock_aweber: MockServer, method: str, path: str
) -> None:
    connect(web, mock_aweber, web.a)
    form = web.a.form()
    before = web.snapshot()
    # uvicorn takes the client address from X-Forwarded-For sent by a loopback proxy.
    response = web.a.http.request(
        method,
        path,
        headers={"X-Forwarded-For": "203.0.113.9"},
        data={"csrf_token": form.csrf} if method == "POST" else None,
    )
    assert_refused(response, 403, "Only site administrators")
    assert web.snapshot() == before


def test_admin_hook_refuses_non_admins(mock_aweber: MockServer) -> None:
    provider = AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base)

    def is_admin(request: Request, install: str) -> bool:
        return request.headers.get("x-role") == "admin"

    with running_web(provider, is_admin=is_admin) as web:
        assert_refused(web.a.get("/"), 403, "Only site administrators")
        assert web.a.get("/", headers={"x-role": "admin"}).status_code == 200


def test_refresh_and_disconnect_when_not_connected(web: Web) -> None:
    form = web.a.form()
    assert_refused(web.a.post("/refresh", {"csrf_token": form.csrf}), 409, "not connected")
    assert_refused(web.a.post("/disconnect", {"csrf_token": form.csrf}), 409, "not connected")


def test_failed_revoke_keeps_the_connection_and_offers_to_forget(web: Web, mock_aweber: MockServer) -> None:
    connect(web, mock_aweber, web.a)
    before = web.snapshot()
    # More failures than the HTTP seam's retries.
    mock_aweber.add_fault("/oauth2/revoke", count=20, status=500, body={"error": "server_error"})
    form = web.a.form()
    response = web.a.post("/disconnect", {"csrf_token": form.csrf})
    assert_refused(response, 502, "The connection is kept", "Disconnect without revoking")
    assert web.snapshot() == before
    forced = web.a.post("/disconnect", {"csrf_token": form.csrf, "force": "1"})
    assert forced.status_code == 200
    assert "Not connected" in forced.text
    assert web.snapshot() == []
