"""Embedding the web helper: mounted in a host app, behind a proxy prefix, with the host's own
install resolver, admin check and templates; the signing key kept in the store; cookies.

Everything runs over real HTTP (uvicorn on a free loopback port) against the live mock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from mock_server.runner import MockServer
from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.web import create_app
from oob_helper.web.csrf import SECRET_KEY_SETTING
from oob_helper.web.headers import SECURITY_HEADERS
from oob_helper.web.runner import WebServer


@pytest.fixture
def helper(mock_aweber: MockServer, tmp_path: Path) -> Iterator[OAuthHelper]:
    settings = Settings(
        provider=AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base),
        client_id="demo-public",
        store_url="sqlite:///" + str(tmp_path / "tokens.db"),
    )
    h = OAuthHelper(settings, open_store(settings.store_url, encryption_keys=()))
    yield h
    h.close()


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match, f"no {name} field"
    return match.group(1)


def headless_code(mock: MockServer, page: str, username: str = "demo") -> str:
    link = re.search(r'class="connect-link" href="([^"]+)"', page)
    assert link
    params = dict(parse_qsl(urlsplit(link.group(1).replace("&amp;", "&")).query))
    code: str = mock.approve(params, username=username)["code"]
    return code


async def tenant_from_header(request: Request) -> str | None:
    return request.headers.get("x-tenant")


def admin_by_token(request: Request, install: str) -> bool:
    return request.headers.get("x-admin") == "letmein"


def test_mounted_in_a_host_app_with_its_resolver_and_admin_check(
    helper: OAuthHelper, mock_aweber: MockServer
) -> None:
    aweber = create_app(
        helper, secret_key="k" * 40, install_resolver=tenant_from_header, is_admin=admin_by_token
    )
    host = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("host home")),
            Mount("/wp-admin/aweber", app=aweber, name="aweber"),
        ]
    )
    with WebServer(host) as server:
        admin = httpx.Client(base_url=server.url, headers={"x-admin": "letmein", "x-tenant": "blog-1"})
        with admin:
            assert admin.get("/").text == "host home"
            page = admin.get("/wp-admin/aweber/")
            assert page.status_code == 200
            assert 'action="/wp-admin/aweber/code"' in page.text
            assert 'href="/wp-admin/aweber/static/style.css"' in page.text
            assert "Path=/wp-admin/aweber" in page.headers["set-cookie"]
            css = admin.get("/wp-admin/aweber/static/style.css")
            assert css.status_code == 200
            assert css.headers["content-type"].startswith("text/css")
            assert css.headers["x-frame-options"] == SECURITY_HEADERS["X-Frame-Options"]

            done = admin.post(
                "/wp-admin/aweber/code",
                data={
                    "csrf_token": hidden(page.text, "csrf_token"),
                    "attempt": hidden(page.text, "attempt"),
                    "code": headless_code(mock_aweber, page.text),
                },
            )
            # Post/redirect/get, under the mount path; the flash cookie carries the outcome.
            assert done.status_code == 303, done.text
            assert done.headers["location"] == "/wp-admin/aweber/"
            assert "Path=/wp-admin/aweber" in done.headers["set-cookie"]
            shown = admin.get(done.headers["location"])
            assert "Connected to Demo Company." in shown.text
            assert helper.status("blog-1").state == "connected"
            assert helper.status("blog-2").state == "not_connected"

            other = admin.get("/wp-admin/aweber/", headers={"x-tenant": "blog-2"})
            assert "Not connected" in other.text
            assert "Demo Company" not in other.text

            no_tenant = httpx.get(server.url + "/wp-admin/aweber/", headers={"x-admin": "letmein"})
            assert no_tenant.status_code == 400
            not_admin = httpx.get(server.url + "/wp-admin/aweber/", headers={"x-tenant": "blog-1"})
            assert not_admin.status_code == 403
            assert "Demo Company" not in not_admin.text
        server.check_errors()


def test_behind_a_reverse_proxy_prefix(helper: OAuthHelper) -> None:
    app = create_app(helper, secret_key="k" * 40)
    with WebServer(app, root_path="/helper") as server:
        page = httpx.get(server.url + "/", headers={"Host": "localhost"})
        assert page.status_code == 200
        assert 'action="/helper/code"' in page.text
        assert 'href="/helper/static/style.css"' in page.text
        assert 'href="/helper/static/favicon.ico"' in page.text
        connect_page = httpx.get(server.url + "/connect", headers={"Host": "localhost"})
        assert 'href="/helper/"' in connect_page.text  # its way back to the status page


def test_host_templates_override_the_shipped_ones(helper: OAuthHelper, tmp_path: Path) -> None:
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "base.html").write_text(
        "<!doctype html><title>Shop admin</title><p>Shop admin theme</p>{% block content %}{% endblock %}"
    )
    app = create_app(helper, secret_key="k" * 40, templates_dir=theme)
    with WebServer(app) as server:
        page = httpx.get(server.url + "/", headers={"Host": "localhost"})
        assert "Shop admin theme" in page.text
        assert "Connect to AWeber" in page.text
        assert "Authorization code" in page.text


def test_generated_secret_key_is_kept_in_the_store_and_shared(helper: OAuthHelper, tmp_path: Path) -> None:
    assert helper.store.get_setting(SECRET_KEY_SETTING) is None
    first = create_app(helper)
    key = helper.store.get_setting(SECRET_KEY_SETTING)
    assert key
    assert len(key) >= 40
    # A second process on the same store signs with the same key, so its forms interoperate.
    other = OAuthHelper(helper.settings, open_store(helper.settings.store_url, encryption_keys=()))
    try:
        second = create_app(other)
        assert other.store.get_setting(SECRET_KEY_SETTING) == key
        with WebServer(first) as one, WebServer(second) as two:
            client = httpx.Client(headers={"Host": "localhost"})
            with client:
                page = client.get(one.url + "/")
                cookie = page.cookies["oob_helper_session"]
                posted = client.post(
                    two.url + "/code",
                    data={"csrf_token": hidden(page.text, "csrf_token"), "attempt": "x", "code": ""},
                    headers={"Cookie": f"oob_helper_session={cookie}"},
                )
                # Past the CSRF check (403 otherwise), stopped at the forged attempt.
                assert posted.status_code == 400
    finally:
        other.close()


@pytest.mark.parametrize(
    ("options", "headers", "secure"),
    [
        ({}, {}, False),
        ({"https": True}, {}, True),
        ({}, {"X-Forwarded-Proto": "https"}, True),
    ],
)
def test_session_cookie_flags(
    helper: OAuthHelper, options: dict[str, Any], headers: dict[str, str], secure: bool
) -> None:
    app = create_app(helper, secret_key="k" * 40, **options)
    with WebServer(app) as server:
        page = httpx.get(server.url + "/", headers={"Host": "localhost", **headers})
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Domain=" not in cookie  # host-only
        assert ("Secure" in cookie) is secure


def test_every_response_carries_the_security_headers(helper: OAuthHelper) -> None:
    app = create_app(helper, secret_key="k" * 40)
    with WebServer(app) as server, httpx.Client(base_url=server.url, headers={"Host": "localhost"}) as c:
        responses = [
            c.get("/"),
            c.get("/connect"),
            c.get("/static/style.css"),
            c.get("/nope"),
            c.get("/refresh"),
            c.post("/refresh"),
            c.get("/", headers={"Host": "evil.test"}),
        ]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    assert [r.status_code for r in responses] == [200, 200, 200, 404, 405, 403, 400]


@pytest.mark.parametrize("key", ["", " padded ", "line\nbreak", "x" * 201])
def test_unusable_install_keys_from_the_resolver_are_refused(helper: OAuthHelper, key: str) -> None:
    app = create_app(helper, secret_key="k" * 40, install_resolver=lambda request: key)
    with WebServer(app) as server:
        response = httpx.get(server.url + "/")
        assert response.status_code == 400
        assert "could not be determined" in response.text
    assert helper.installs() == []


def test_a_crashing_host_hook_gets_a_500_page_without_details(
    helper: OAuthHelper, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Request) -> str:
        raise RuntimeError("host app bug: secret-ish detail")

    app = create_app(helper, secret_key="k" * 40, install_resolver=broken)
    with WebServer(app) as server:
        response = httpx.get(server.url + "/")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "secret-ish detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "host app bug" in caplog.text  # the operator's log has it


# -- the admin check is told which install -----------------------------------------------------


class SiteUser(SimpleUser):
    """A host app's signed-in user who administers some sites."""

    def __init__(self, name: str, sites: set[str]) -> None:
        super().__init__(name)
        self.administered_sites = sites


class HeaderLogin(AuthenticationBackend):
    """Stands in for the host app's session login: the user named by a header."""

    USERS: ClassVar[dict[str, set[str]]] = {"alice": {"a.sites.example"}, "bob": {"b.sites.example"}}

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.headers.get("x-user")
        if name not in self.USERS:
            return None
        return AuthCredentials(["authenticated"]), SiteUser(name, self.USERS[name])


def readme_is_admin(request: Request, install: str) -> bool:
    """The README's example, word for word."""
    return bool(request.user.is_authenticated and install in request.user.administered_sites)


def test_the_readme_admin_check_refuses_one_sites_admin_on_another_site(helper: OAuthHelper) -> None:
    """With wildcard hosts, the admin of site A sending site B's Host must be refused (issue 9)."""
    aweber = create_app(
        helper, secret_key="k" * 40, allowed_hosts=["*.sites.example"], is_admin=readme_is_admin
    )
    host = Starlette(
        routes=[Mount("/admin/aweber", app=aweber)],
        middleware=[Middleware(AuthenticationMiddleware, backend=HeaderLogin())],
    )
    with WebServer(host) as server, httpx.Client(base_url=server.url) as client:
        own = client.get("/admin/aweber/", headers={"x-user": "alice", "Host": "a.sites.example"})
        assert own.status_code == 200
        assert "Not connected" in own.text
        other = client.get("/admin/aweber/", headers={"x-user": "alice", "Host": "b.sites.example"})
        assert other.status_code == 403
        assert "Only site administrators" in other.text
        form = {"csrf_token": "x"}
        refused = client.post(
            "/admin/aweber/disconnect", data=form, headers={"x-user": "alice", "Host": "b.sites.example"}
        )
        assert refused.status_code == 403
        assert (
            client.get("/admin/aweber/", headers={"x-user": "bob", "Host": "b.sites.example"}).status_code
            == 200
        )
        assert client.get("/admin/aweber/", headers={"Host": "a.sites.example"}).status_code == 403
        server.check_errors()


def test_a_one_argument_admin_check_still_works_with_a_deprecation_warning(helper: OAuthHelper) -> None:
    def legacy(request: Request) -> bool:
        return request.headers.get("x-admin") == "yes"

    with pytest.warns(DeprecationWarning, match=r"is_admin\(request, install\)"):
        app = create_app(helper, secret_key="k" * 40, allowed_hosts=["localhost"], is_admin=legacy)
    with WebServer(app) as server:
        assert httpx.get(server.url + "/", headers={"Host": "localhost", "x-admin": "yes"}).status_code == 200
        assert httpx.get(server.url + "/", headers={"Host": "localhost"}).status_code == 403
        server.check_errors()
