"""A web page cannot drive the mock (issue 11), in the real browser.

An attacker's page, served on another loopback port, tries what worked on the mock before: a
``text/plain`` form whose body is JSON, a ``fetch(..., {mode: "no-cors"})``, a JSON fetch (which
needs a CORS preflight), and the dashboard's own forms. The mock sees every attempt (a recorder
around the app proves the requests arrived) and refuses each; afterwards the control API shows
that nothing changed: no client, no fault, the clock where it was.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import MockServer, create_app

FROZEN_AT = 1_700_000_000.0
CLIENT = {"client_id": "attacker-app", "client_secret": None, "redirect_uris": ["https://evil.example/cb"]}
FAULT = {"path": "/oauth2/token", "count": 100, "status": 503}


class Recorder:
    """The mock's app, noting (method, path, status) of every control-plane request it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state = getattr(app, "state", None)
        self.seen: list[tuple[str, str, int]] = []
        self._changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_mock/"):
            await self.app(scope, receive, send)
            return

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._changed:
                    self.seen.append((scope["method"], scope["path"], int(message["status"])))
                    self._changed.notify_all()
            await send(message)

        await self.app(scope, receive, noting)

    def wait_for(self, done: Callable[[list[tuple[str, str, int]]], bool], timeout: float = 15) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: done(self.seen), timeout), f"the mock saw only {self.seen}"


def _text_plain_form(action: str, body: dict[str, Any], frame: str) -> str:
    """A form whose text/plain body is ``body`` as JSON. The body's last field must be the
    string "x": the form sends ``name=value``, so the '=' lands inside that string."""
    text = json.dumps(body)
    assert text.endswith('"x"}')
    return (
        f'<form method="post" enctype="text/plain" target="{frame}" action="{action}">'
        f'<input type="hidden" name=\'{text[:-2]}\' value=\'"}}\'></form><iframe name="{frame}"></iframe>'
    )


def _dashboard_form(action: str, field: str, value: str, frame: str) -> str:
    return (
        f'<form method="post" target="{frame}" action="{action}">'
        f'<input type="hidden" name="{field}" value="{value}"></form><iframe name="{frame}"></iframe>'
    )


def attack_page(mock_url: str) -> str:
    forms = [
        _text_plain_form(f"{mock_url}/_mock/clients", {**CLIENT, "name": "x"}, "f1"),
        _text_plain_form(f"{mock_url}/_mock/faults", {**FAULT, "body": "x"}, "f2"),
        _dashboard_form(f"{mock_url}/_mock/dashboard/clock/advance", "seconds", "9999", "f3"),
        _dashboard_form(f"{mock_url}/_mock/dashboard/reset", "csrf_token", "guess", "f4"),
    ]
    script = f"""
    <script>
    const M = {json.dumps(mock_url)};
    async function attack() {{
      for (const form of document.forms) form.submit();
      const plain = (path, body) =>
        fetch(M + path, {{method: "POST", mode: "no-cors", body: JSON.stringify(body)}}).catch(() => null);
      await plain("/_mock/clients", {json.dumps(CLIENT)});
      await plain("/_mock/faults", {json.dumps(FAULT)});
      await plain("/_mock/clock/advance", {{seconds: 9999}});
      // A JSON body needs a CORS preflight: the mock grants none, so the POST is never sent.
      await fetch(M + "/_mock/clock/advance", {{
        method: "POST", headers: {{"Content-Type": "application/json"}}, body: '{{"seconds": 9999}}'
      }}).catch(() => null);
      document.title = "sent";
    }}
    window.addEventListener("load", attack);
    </script>"""
    head = "<!doctype html><html><head><title>cat pictures</title></head>"
    return f"{head}<body>{''.join(forms)}{script}</body></html>"


@pytest.fixture
def mock() -> Iterator[tuple[MockServer, Recorder]]:
    recorder = Recorder(create_app())
    with MockServer(app=recorder) as server:
        server.set_clock(FROZEN_AT, frozen=True)
        recorder.seen.clear()  # only the page's requests from here on
        yield server, recorder


@pytest.fixture
def attacker(mock: tuple[MockServer, Recorder]) -> Iterator[int]:
    """Another loopback port serving the attack page."""
    page = attack_page(mock[0].url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


EXPECTED = {
    ("POST", "/_mock/clients"): 2,  # the text/plain form and the no-cors fetch
    ("POST", "/_mock/faults"): 2,
    ("POST", "/_mock/clock/advance"): 1,  # the no-cors fetch; the JSON one stops at its preflight
    ("OPTIONS", "/_mock/clock/advance"): 1,
    ("POST", "/_mock/dashboard/clock/advance"): 1,
    ("POST", "/_mock/dashboard/reset"): 1,
}


@pytest.mark.browser
@pytest.mark.parametrize("page_host", ["127.0.0.1", "localhost"])  # same-site other port; cross-site
def test_a_cross_site_page_cannot_change_the_mock(
    mock: tuple[MockServer, Recorder], attacker: int, page: Page, page_host: str
) -> None:
    server, recorder = mock
    page.goto(f"http://{page_host}:{attacker}/")
    page.wait_for_function("document.title === 'sent'")

    def arrived(seen: list[tuple[str, str, int]]) -> bool:
        counts = {key: sum(1 for m, p, _ in seen if (m, p) == key) for key in EXPECTED}
        return counts == EXPECTED

    recorder.wait_for(arrived)
    page_requests = list(recorder.seen)
    assert {status for method, _, status in page_requests if method == "POST"} == {403}, page_requests
    # Nothing changed, as the control API tells.
    after = server.state()
    assert [c["client_id"] for c in after["clients"]] == ["demo-public", "demo-confidential"]
    assert "attacker-app" not in json.dumps(after)
    assert server.faults() == []
    assert server.clock() == {"now": FROZEN_AT, "frozen": True}
