"""Webhooks end to end: the running mock delivers to a receiver on loopback built with
``oob_helper.webhooks``, for subscribers added and unsubscribed through the API and the dashboard.

The receiver checks the mock's deliveries on the mock's clock (tests move that clock to let
retries fall due). Waiting is for a delivery to arrive, never for time to pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Message, Receive, Scope, Send

from mock_server import MockServer
from oob_helper.stores import open_store
from oob_helper.web.runner import WebServer, bind
from oob_helper.web.webhooks import webhook_app
from oob_helper.webhooks import WebhookDelivery, WebhookReceiver

OOB = "urn:ietf:wg:oauth:2.0:oob"
APP = "demo-confidential"
WAIT = 15.0


@dataclass
class Inbox:
    """What the receiver saw: every raw request with its answer, and the deliveries handled."""

    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    handled: list[WebhookDelivery] = field(default_factory=list)
    fail_next: int = 0
    gate: threading.Event | None = None  # when set by a test, the handler waits for it
    changed: threading.Condition = field(default_factory=threading.Condition)

    def handle(self, delivery: WebhookDelivery) -> None:
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        with self.changed:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("the plugin's database is down")
            self.handled.append(delivery)
            self.changed.notify_all()

    def wait_handled(self, count: int) -> list[WebhookDelivery]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.handled) >= count, WAIT), self.handled
            return list(self.handled)

    def wait_requests(self, count: int) -> list[tuple[dict[str, str], bytes, int]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, WAIT), self.requests
            return list(self.requests)

    def events(self) -> list[tuple[str, str]]:
        return [(e.event, e.email) for d in self.handled for e in d.events]


class Recorder:
    """ASGI wrapper keeping each request's headers, body and answer status."""

    def __init__(self, app: Any, inbox: Inbox) -> None:
        self.app, self.inbox = app, inbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

        async def recording_receive() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.inbox.changed:
                    self.inbox.requests.append((headers, b"".join(chunks), message["status"]))
                    self.inbox.changed.notify_all()
            await send(message)

        await self.app(scope, recording_receive, recording_send)


@dataclass
class Receiver:
    url: str
    inbox: Inbox
    key: str


def control(mock: MockServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{mock.url}/_mock/{path}", json=body)


def authorize(mock: MockServer, scope: str = "account.read subscriber.read subscriber.write") -> str:
    approved = mock.approve({"client_id": APP, "redirect_uri": OOB, "response_type": "code", "scope": scope})
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": OOB},
        auth=(APP, "demo-secret"),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def receiver(mock_aweber: MockServer) -> Iterator[Receiver]:
    """A webhook receiver on loopback at ``/hooks/aweber/``, allow-listed for the demo app."""
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    key = mock_aweber.set_up_webhooks(APP, [f"{url}/hooks/"])["verification_key"]
    inbox = Inbox()
    hooks = WebhookReceiver(
        verification_key=key,
        client_id=APP,
        store=open_store("memory://"),
        clock=mock_aweber.mock_state.clock.now,
    )
    with WebServer(
        Recorder(Starlette(routes=[Mount("/hooks/aweber", app=webhook_app(hooks, inbox.handle))]), inbox),
        sock=sock,
    ) as server:
        yield Receiver(server.url, inbox, key)
        server.check_errors()


def connect(mock: MockServer, receiver: Receiver) -> str:
    authorize(mock)
    callback: str = mock.connect_webhook(APP, f"{receiver.url}/hooks/aweber/")["callback"]
    return callback


def api_add(mock: MockServer, token: str, email: str) -> None:
    response = httpx.post(
        f"{mock.api_base}/accounts/1/lists/1001/subscribers",
        json={"email": email, "name": "Webhook Tester"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def api_unsubscribe(mock: MockServer, token: str, email: str) -> None:
    response = httpx.patch(
        f"{mock.api_base}/accounts/1/lists/1001/subscribers",
        params={"subscriber_email": email},
        json={"status": "unsubscribed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 209, response.text


def test_subscribers_added_and_unsubscribed_through_the_api_arrive_signed(
    mock_aweber: MockServer, receiver: Receiver
) -> None:
    callback = connect(mock_aweber, receiver)
    token = authorize(mock_aweber)
    api_add(mock_aweber, token, "hook1@example.com")
    (first,) = receiver.inbox.wait_handled(1)
    assert [(e.event, e.email) for e in first.events] == [
        ("subscriber.added", "hook1@example.com"),
        ("subscriber.subscribed", "hook1@example.com"),
    ]
    assert first.callback == callback
    assert first.client_id == APP
    assert first.events[0].name == "Webhook Tester"
    # The payload's links lead back to the mock's API.
    link = first.events[0].subscriber_link
    assert link is not None
    assert link.startswith(mock_aweber.api_base)
    found = httpx.get(link, headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200
    assert found.json()["email"] == "hook1@example.com"
    api_unsubscribe(mock_aweber, token, "hook1@example.com")
    second = receiver.inbox.wait_handled(2)[1]
    assert [(e.event, e.status, e.unsubscribe_method) for e in second.events] == [
        ("subscriber.unsubscribed", "unsubscribed", "api: unsubscribe")
    ]
    assert second.delivery_id != first.delivery_id


def test_the_signature_is_the_documented_one(mock_aweber: MockServer, receiver: Receiver) -> None:
    connect(mock_aweber, receiver)
    api_add(mock_aweber, authorize(mock_aweber), "sig@example.com")
    headers, body, status = receiver.inbox.wait_requests(1)[0]
    assert status == 200
    message = (b"date:" + headers["date"].encode() + b"\n" + body).rstrip(b" \t\n\r\x0b\x0c")
    digest = hmac.new(base64.b64decode(receiver.key), message, hashlib.sha256).hexdigest()
    assert headers["aweber-signature"] == f"sha256={digest}"
    assert headers["content-type"] == "application/vnd.aweber.webhook+json; version=1.0"
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["aweber-delivery-id"])


def test_wrong_key_changed_body_old_date_and_replay_are_refused(
    mock_aweber: MockServer, receiver: Receiver
) -> None:
    connect(mock_aweber, receiver)
    api_add(mock_aweber, authorize(mock_aweber), "replay@example.com")
    headers, body, _ = receiver.inbox.wait_requests(1)[0]
    receiver.inbox.wait_handled(1)
    url = f"{receiver.url}/hooks/aweber/"
    keep = {
        k: v
        for k, v in headers.items()
        if k in ("date", "aweber-signature", "aweber-delivery-id", "content-type")
    }

    def sign(key_b64: str, date: str, payload: bytes) -> str:
        message = (b"date:" + date.encode() + b"\n" + payload).rstrip()
        return "sha256=" + hmac.new(base64.b64decode(key_b64), message, hashlib.sha256).hexdigest()

    wrong = {**keep, "aweber-signature": sign(base64.b64encode(b"not the key").decode(), keep["date"], body)}
    assert httpx.post(url, content=body, headers=wrong).status_code == 401
    changed = body.replace(b"replay@example.com", b"attacker@example.com")
    assert httpx.post(url, content=changed, headers=keep).status_code == 401
    old_date = formatdate(mock_aweber.now() - 3600, usegmt=True)
    stale = {
        **keep,
        "date": old_date,
        "aweber-delivery-id": "fresh-id",
        "aweber-signature": sign(receiver.key, old_date, body),
    }
    answer = httpx.post(url, content=body, headers=stale)
    assert answer.status_code == 401
    assert "old" in answer.json()["error_description"]
    replayed = httpx.post(url, content=body, headers=keep)
    assert replayed.status_code == 200
    assert replayed.json() == {"status": "duplicate"}
    assert len(receiver.inbox.handled) == 1


def test_a_duplicated_delivery_is_handled_once(mock_aweber: MockServer, receiver: Receiver) -> None:
    connect(mock_aweber, receiver)
    assert mock_aweber.add_webhook_fault("duplicate")["kind"] == "duplicate"
    api_add(mock_aweber, authorize(mock_aweber), "twice@example.com")
    first, second = receiver.inbox.wait_requests(2)
    assert first[0]["aweber-delivery-id"] == second[0]["aweber-delivery-id"]
    assert first[1] == second[1]
    assert (first[2], second[2]) == (200, 200)
    assert len(receiver.inbox.wait_handled(1)) == 1
    wait_for_attempts(mock_aweber, 1)
    (delivery,) = mock_aweber.webhooks()["deliveries"]
    assert delivery["faults"] == ["duplicate"]
    assert delivery["attempts"][0]["duplicate_status"] == 200


def test_a_dropped_delivery_is_recovered_by_the_retry(mock_aweber: MockServer, receiver: Receiver) -> None:
    connect(mock_aweber, receiver)
    assert mock_aweber.webhook_settings(retry_delay=30)["retry_delay"] == 30
    mock_aweber.add_webhook_fault("drop")
    api_add(mock_aweber, authorize(mock_aweber), "dropped@example.com")
    wait_for_attempts(mock_aweber, 1)
    assert receiver.inbox.requests == []
    mock_aweber.advance_clock(30)
    (delivery,) = receiver.inbox.wait_handled(1)
    assert [e.email for e in delivery.events] == ["dropped@example.com"] * 2
    wait_for_attempts(mock_aweber, 2)
    logged = [e for e in mock_aweber.events() if e.get("kind") == "webhook"]
    assert [(e["attempt"], e["status"], e["result"]) for e in logged] == [
        (1, None, "will retry"),
        (2, 200, "delivered"),
    ]
    assert "dropped by a fault" in logged[0]["error"]


def wait_for_attempts(mock: MockServer, count: int) -> None:
    """Until the mock's log shows ``count`` webhook attempts (the worker runs on its own)."""
    condition = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if sum(e.get("kind") == "webhook" for e in mock.events()) >= count:
            return
        condition.wait(0.05)
    pytest.fail(f"the mock made fewer than {count} webhook attempts")


def test_a_failing_handler_gets_the_retry(mock_aweber: MockServer, receiver: Receiver) -> None:
    connect(mock_aweber, receiver)
    receiver.inbox.fail_next = 1
    api_add(mock_aweber, authorize(mock_aweber), "retry@example.com")
    ((_, _, status),) = receiver.inbox.wait_requests(1)
    assert status == 500
    wait_for_attempts(mock_aweber, 1)
    mock_aweber.advance_clock(1)
    (delivery,) = receiver.inbox.wait_handled(1)
    statuses = [s for _, _, s in receiver.inbox.wait_requests(2)]
    assert statuses == [500, 200]
    assert delivery.events[0].email == "retry@example.com"


def test_a_reordered_pair_arrives_newest_first(mock_aweber: MockServer, receiver: Receiver) -> None:
    connect(mock_aweber, receiver)
    mock_aweber.add_webhook_fault("reorder", count=2)
    token = authorize(mock_aweber)
    api_add(mock_aweber, token, "one@example.com")
    wait_for_pending(mock_aweber, 1)
    api_add(mock_aweber, token, "two@example.com")
    handled = receiver.inbox.wait_handled(2)
    assert [d.events[0].email for d in handled] == ["two@example.com", "one@example.com"]


def wait_for_pending(mock: MockServer, count: int) -> None:
    """Until the mock holds ``count`` deliveries (the first add has become a delivery)."""
    condition = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if len(control(mock, "GET", "webhooks").json()["deliveries"]) >= count:
            return
        condition.wait(0.05)
    pytest.fail(f"the mock made fewer than {count} deliveries")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_the_dashboard_sets_up_connects_adds_and_unsubscribes(
    mock_aweber: MockServer, receiver: Receiver
) -> None:
    authorize(mock_aweber)
    with httpx.Client(base_url=mock_aweber.url) as browser:
        page = browser.get("/_mock/")
        assert "Webhooks" in page.text
        assert receiver.key in page.text  # the verification key is shown to QA
        csrf = csrf_of(page.text)
        form = {"csrf_token": csrf, "client_id": APP, "username": "demo"}
        done = browser.post(
            "/_mock/dashboard/webhooks/connect",
            data={**form, "url": f"{receiver.url}/hooks/aweber/", "base_url": mock_aweber.url + "/"},
        )
        assert done.status_code == 303, done.text
        add = {"csrf_token": csrf, "username": "demo", "list_id": "1001", "email": "dash@example.com"}
        assert (
            browser.post("/_mock/dashboard/webhooks/subscriber/add", data={**add, "name": "Dash"}).status_code
            == 303
        )
        receiver.inbox.wait_handled(1)
        assert browser.post("/_mock/dashboard/webhooks/subscriber/unsubscribe", data=add).status_code == 303
        receiver.inbox.wait_handled(2)
        page = browser.get("/_mock/").text
        assert "delivered" in page
        refused = browser.post(
            "/_mock/dashboard/webhooks/subscriber/add", data={**add, "csrf_token": "x" * 64}
        )
        assert refused.status_code == 403
    assert receiver.inbox.events() == [
        ("subscriber.added", "dash@example.com"),
        ("subscriber.subscribed", "dash@example.com"),
        ("subscriber.unsubscribed", "dash@example.com"),
    ]


def test_the_dashboard_app_form_and_its_refusals(mock_aweber: MockServer) -> None:
    with httpx.Client(base_url=mock_aweber.url) as browser:
        csrf = csrf_of(browser.get("/_mock/").text)
        saved = browser.post(
            "/_mock/dashboard/webhooks/app",
            data={
                "csrf_token": csrf,
                "client_id": APP,
                "allow_list": "http://127.0.0.1:1/a/\nhttp://127.0.0.1:1/b/",
            },
        )
        assert saved.status_code == 303
        app = control(mock_aweber, "GET", f"webhooks/apps/{APP}").json()
        assert app["allow_list"] == ["http://127.0.0.1:1/a/", "http://127.0.0.1:1/b/"]
        assert base64.b64decode(app["verification_key"])
        # Not authorized yet: AWeber keeps the Webhook URL field disabled.
        refused = browser.post(
            "/_mock/dashboard/webhooks/connect",
            data={
                "csrf_token": csrf,
                "client_id": APP,
                "username": "demo",
                "url": "http://127.0.0.1:1/a/x",
                "base_url": mock_aweber.url,
            },
        )
        assert refused.status_code == 400
        assert "has not authorized" in refused.text


def test_control_calls_refuse_bad_input_with_the_fix(mock_aweber: MockServer) -> None:
    cases = [
        ("webhooks/apps", {"client_id": "nobody", "allow_list": ["http://x/"]}, "POST /_mock/clients"),
        ("webhooks/apps", {"client_id": APP, "allow_list": "http://x/"}, "allow_list"),
        ("webhooks/callbacks", {"client_id": APP, "username": "demo", "url": "http://x/"}, "webhooks/apps"),
        ("webhooks/settings", {"retries": 99}, "retries"),
        ("webhooks/faults", {"kind": "melt"}, "kind"),
    ]
    for path, body, hint in cases:
        answer = control(mock_aweber, "POST", path, body)
        assert answer.status_code == 400, (path, answer.text)
        assert hint in answer.json()["error_description"], (path, answer.text)
    authorize(mock_aweber)
    control(
        mock_aweber, "POST", "webhooks/apps", {"client_id": APP, "allow_list": ["http://127.0.0.1:1/ok/"]}
    )
    answer = control(
        mock_aweber,
        "POST",
        "webhooks/callbacks",
        {"client_id": APP, "username": "demo", "url": "http://127.0.0.1:1/no/"},
    )
    assert answer.status_code == 400
    assert "allow-listed" in answer.json()["error_description"]
    assert control(mock_aweber, "GET", "webhooks/apps/nobody").status_code == 404
    assert control(mock_aweber, "DELETE", "webhooks/callbacks/nope").status_code == 404
    assert json.loads(control(mock_aweber, "GET", "webhooks").text)["worker_running"] is True


def test_concurrent_copies_of_one_delivery_reach_the_handler_once(
    mock_aweber: MockServer, receiver: Receiver
) -> None:
    connect(mock_aweber, receiver)
    body = b'{"account": "a", "client_id": "demo-confidential", "callback": "c", "data": []}'
    date = formatdate(mock_aweber.now(), usegmt=True)
    message = (b"date:" + date.encode() + b"\n" + body).rstrip()
    digest = hmac.new(base64.b64decode(receiver.key), message, hashlib.sha256).hexdigest()
    headers = {"AWeber-Delivery-ID": "same-delivery", "Date": date, "AWeber-Signature": f"sha256={digest}"}
    url = f"{receiver.url}/hooks/aweber/"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx.post(url, content=body, headers=headers).json(), range(16)))
    assert answers.count({"status": "ok", "events": 0}) == 1
    assert answers.count({"status": "duplicate"}) == 15
    assert len(receiver.inbox.handled) == 1


def test_a_reset_while_a_delivery_is_in_flight_ends_it_quietly(
    mock_aweber: MockServer, receiver: Receiver
) -> None:
    connect(mock_aweber, receiver)
    release = threading.Event()
    receiver.inbox.gate = release
    api_add(mock_aweber, authorize(mock_aweber), "inflight@example.com")
    wait_for_pending(mock_aweber, 1)
    mock_aweber.reset()
    release.set()
    assert receiver.inbox.wait_requests(1)[0][2] == 200
    assert mock_aweber.webhooks()["deliveries"] == []
    assert [e for e in mock_aweber.events() if e.get("kind") == "webhook"] == []
    mock_aweber.check_errors()
