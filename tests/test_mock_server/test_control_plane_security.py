"""A control plane no web page can drive (issue 11), over real HTTP against a real server.

- a Host the mock does not serve gets 421 on every path (DNS rebinding), and changes nothing;
- a control call with a body that is not ``application/json`` gets 415 and changes nothing;
- a browser request from another origin (``Origin``, ``Sec-Fetch-Site``) to the control API or
  to the dashboard's forms gets 403 and changes nothing;
- scripts, the ``MockServer`` handle and same-origin pages keep working.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from mock_server import MockConfig, MockServer
from mock_server.config import load_config

OOB = "urn:ietf:wg:oauth:2.0:oob"
APPROVE = {
    "client_id": "demo-confidential",
    "redirect_uri": OOB,
    "response_type": "code",
    "scope": "account.read",
    "username": "demo",
}
JSON = {"Content-Type": "application/json"}


def _port(mock: MockServer) -> int:
    port = urlsplit(mock.url).port
    assert port is not None
    return port


# --- Host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_mock/approve", APPROVE),
        ("GET", "/_mock/state", None),
        ("GET", "/_mock/", None),
        ("POST", "/oauth2/token", None),
        ("GET", "/oauth2/authorize", None),
        ("GET", "/1.0/accounts", None),
        ("GET", "/openapi.json", None),
        ("GET", "/favicon.ico", None),
    ],
)
def test_a_foreign_host_is_refused_on_every_path(
    mock_aweber: MockServer, method: str, path: str, body: dict[str, str] | None
) -> None:
    before = mock_aweber.events()
    rebound = {"Host": f"evil.example:{_port(mock_aweber)}"}
    answer = httpx.request(method, f"{mock_aweber.url}{path}", json=body, headers=rebound)
    assert answer.status_code == 421
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    error = answer.json()
    assert error["error"] == "misdirected_request"
    assert "evil.example" in error["error_description"]
    assert "--allowed-host" in error["error_description"]
    assert "code" not in error
    # Nothing happened: no code minted, nothing logged.
    assert mock_aweber.state()["codes"] == []
    assert mock_aweber.events() == before


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_port_are_served(mock_aweber: MockServer, name: str) -> None:
    host = {"Host": f"{name}:{_port(mock_aweber)}"}
    assert httpx.post(f"{mock_aweber.url}/_mock/approve", json=APPROVE, headers=host).status_code == 200
    assert httpx.get(f"{mock_aweber.url}/openapi.json", headers=host).status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1:1", "localhost:80", "127.0.0.1.evil.example", "a b"]
)
def test_loopback_names_on_another_port_or_look_alikes_are_refused(
    mock_aweber: MockServer, host: str
) -> None:
    answer = httpx.get(f"{mock_aweber.url}/openapi.json", headers={"Host": host})
    assert answer.status_code == 421


def test_a_request_without_a_host_header_is_refused(mock_aweber: MockServer) -> None:
    with socket.create_connection(("127.0.0.1", _port(mock_aweber)), timeout=5) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 421 ")
    assert b"no Host header" in answer


@pytest.fixture
def allowing() -> Iterator[MockServer]:
    config = MockConfig(allowed_hosts=("aweber-mock", "ci.example:9000", "*.sites.example"))
    with MockServer(config) as mock:
        yield mock


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("aweber-mock:8081", True),  # no port in the entry: any port
        ("aweber-mock", True),
        ("ci.example:9000", True),
        ("ci.example:9001", False),
        ("ci.example", False),
        ("a.sites.example:5000", True),
        ("sites.example:5000", False),  # *.suffix is for sub-domains only
        ("evil.example", False),
    ],
)
def test_configured_hosts_are_served(allowing: MockServer, host: str, served: bool) -> None:
    answer = httpx.get(f"{allowing.url}/_mock/clock", headers={"Host": host})
    assert answer.status_code == (200 if served else 421)


def test_allowed_hosts_come_from_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text('allowed_hosts = ["aweber-mock:8081"]\n')
    with MockServer(load_config(path)) as mock:
        assert httpx.get(f"{mock.url}/_mock/clock", headers={"Host": "aweber-mock:8081"}).status_code == 200
        assert httpx.get(f"{mock.url}/_mock/clock", headers={"Host": "aweber-mock:8082"}).status_code == 421


def test_a_star_serves_every_host() -> None:
    with MockServer(MockConfig(allowed_hosts=("*",))) as mock:
        assert httpx.get(f"{mock.url}/_mock/clock", headers={"Host": "anything.example"}).status_code == 200


# --- Content-Type --------------------------------------------------------------------------------

CLIENT = {"client_id": "attacker-app", "client_secret": None, "redirect_uris": ["https://evil.example/cb"]}
FAULT = {"path": "/oauth2/token", "count": 100, "status": 503}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_control_body_that_is_not_json_is_refused(
    mock_aweber: MockServer, content_type: str | None
) -> None:
    mock_aweber.set_clock(1_700_000_000.0, frozen=True)
    headers = {"Content-Type": content_type} if content_type else {}
    for path, body in (("clients", CLIENT), ("faults", FAULT), ("clock/advance", {"seconds": 9999})):
        answer = httpx.post(f"{mock_aweber.url}/_mock/{path}", content=json.dumps(body), headers=headers)
        assert answer.status_code == 415, (path, answer.text)
        assert answer.json()["error"] == "unsupported_media_type"
        assert "Content-Type: application/json" in answer.json()["error_description"]
    state = mock_aweber.state()
    assert "attacker-app" not in [c["client_id"] for c in state["clients"]]
    assert mock_aweber.faults() == []
    assert mock_aweber.now() == 1_700_000_000.0


def test_json_with_a_charset_and_calls_without_a_body_work(mock_aweber: MockServer) -> None:
    answer = httpx.post(
        f"{mock_aweber.url}/_mock/clients",
        content=json.dumps({**CLIENT, "client_id": "ok-app"}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 201, answer.text
    assert httpx.post(f"{mock_aweber.url}/_mock/reset").status_code == 204
    assert httpx.delete(f"{mock_aweber.url}/_mock/faults").status_code == 204
    assert httpx.post(f"{mock_aweber.url}/_mock/tokens/expire", content=b"").status_code == 200


# --- cross-site browsers -------------------------------------------------------------------------


def _foreign_headers(mock: MockServer) -> list[dict[str, str]]:
    other_port = f"http://127.0.0.1:{_port(mock) + 1}"
    return [
        {"Origin": other_port},  # another loopback port is another origin
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # sandboxed frames, file: pages, no-referrer pages
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same machine is same-site
        {"Origin": mock.url, "Sec-Fetch-Site": "cross-site"},
    ]


def test_cross_site_control_calls_are_refused(mock_aweber: MockServer) -> None:
    for foreign in _foreign_headers(mock_aweber):
        headers = {**JSON, **foreign}
        for method, path, body in (
            ("POST", "clients", CLIENT),
            ("POST", "faults", FAULT),
            ("POST", "approve", APPROVE),
            ("POST", "reset", None),
            ("GET", "state", None),
            ("POST", "webhooks/settings", {"paused": True}),
        ):
            answer = httpx.request(method, f"{mock_aweber.url}/_mock/{path}", json=body, headers=headers)
            assert answer.status_code == 403, (foreign, path, answer.text)
            assert answer.json()["error"] == "forbidden"
            assert "web pages cannot drive the control API" in answer.json()["error_description"]
    state = mock_aweber.state()
    assert "attacker-app" not in [c["client_id"] for c in state["clients"]]
    assert state["codes"] == []
    assert mock_aweber.faults() == []
    assert mock_aweber.webhooks()["settings"]["paused"] is False


def test_cross_site_is_refused_before_the_token_is_checked() -> None:
    with MockServer(control_token="tok-1") as mock:
        bearer = {"Authorization": "Bearer tok-1", "Origin": "http://evil.example"}
        assert httpx.post(f"{mock.url}/_mock/faults", json=FAULT, headers=bearer).status_code == 403
        assert httpx.post(f"{mock.url}/_mock/faults", json=FAULT).status_code == 401
        assert mock.faults() == []


def test_same_origin_browser_calls_work(mock_aweber: MockServer) -> None:
    for own in ({"Origin": mock_aweber.url}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        answer = httpx.post(f"{mock_aweber.url}/_mock/clock/advance", json={"seconds": 1}, headers=own)
        assert answer.status_code == 200, (own, answer.text)


def _csrf(http: httpx.Client) -> str:
    page = http.get("/_mock/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    # So that the browser sends the page's own origin with its forms, not "Origin: null".
    assert page.headers["referrer-policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in page.text
    return match.group(1)


def _unchanged(mock: MockServer) -> tuple[float, int, bool]:
    return mock.now(), len(mock.faults()), bool(mock.webhooks()["settings"]["paused"])


@pytest.mark.parametrize(
    ("path", "fields", "after"),
    [
        ("/_mock/dashboard/reset", {}, (1_700_000_000.0, 0, False)),
        ("/_mock/dashboard/clock/advance", {"seconds": "9999"}, (1_700_009_999.0, 1, False)),
        ("/_mock/dashboard/webhooks/pause", {"paused": "true"}, (1_700_000_000.0, 1, True)),
    ],
)
def test_cross_site_dashboard_forms_are_refused_even_with_a_csrf_token(
    mock_aweber: MockServer, path: str, fields: dict[str, str], after: tuple[float, int, bool]
) -> None:
    mock_aweber.set_clock(1_700_000_000.0, frozen=True)
    mock_aweber.add_fault("/oauth2/token", status=503)
    before = _unchanged(mock_aweber)
    with httpx.Client(base_url=mock_aweber.url) as http:
        csrf = _csrf(http)
        for foreign in _foreign_headers(mock_aweber):
            answer = http.post(path, data={**fields, "csrf_token": csrf}, headers=foreign)
            assert answer.status_code == 403, (foreign, answer.text)
            assert "only the dashboard&#39;s own pages can use its forms" in answer.text
        assert _unchanged(mock_aweber) == before
        # The same form from the dashboard's own origin goes through.
        own = http.post(path, data={**fields, "csrf_token": csrf}, headers={"Origin": mock_aweber.url})
        assert own.status_code == 303, own.text
    now, faults, paused = _unchanged(mock_aweber)
    # A reset restarts the clock, so only its other effects are compared.
    assert (faults, paused) == after[1:]
    if not path.endswith("/reset"):
        assert now == after[0]


def test_cross_site_login_and_logout_are_refused() -> None:
    with MockServer(control_token="tok-2") as mock, httpx.Client(base_url=mock.url) as http:
        form = {"csrf_token": _csrf(http), "token": "tok-2"}
        refused = http.post("/_mock/login", data=form, headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403
        assert "mock_dashboard" not in refused.cookies
        logged_in = http.post("/_mock/login", data=form, headers={"Origin": mock.url})
        assert logged_in.status_code == 303
        assert "mock_dashboard" in http.cookies
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/_mock/").text)
        assert csrf is not None
        out = http.post(
            "/_mock/logout", data={"csrf_token": csrf.group(1)}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert out.status_code == 403
        assert "mock_dashboard" not in out.headers.get("set-cookie", "")
        assert http.get("/_mock/").status_code == 200  # still logged in


def test_the_dashboard_page_itself_opens_from_a_link(mock_aweber: MockServer) -> None:
    # A link from a CI page is a cross-site navigation: the page opens, its forms stay guarded.
    answer = httpx.get(f"{mock_aweber.url}/_mock/", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 200
