"""The mountable webhook endpoint over real HTTP: async handlers, duplicates, limits, methods."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from oob_helper.stores import open_store
from oob_helper.web.runner import WebServer
from oob_helper.web.webhooks import webhook_app
from oob_helper.webhooks import WebhookDelivery, WebhookReceiver

KEY = base64.b64encode(b"endpoint-key").decode()
CLIENT = "client-1"
NOW = 1_800_000_000.0


def signed_request(delivery_id: str = "d-1", *, size: int = 0) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"account": "a", "client_id": CLIENT, "callback": "c", "data": [], "pad": "x" * size}
    ).encode()
    date = formatdate(NOW, usegmt=True)
    message = (b"date:" + date.encode() + b"\n" + body).rstrip()
    digest = hmac.new(base64.b64decode(KEY), message, hashlib.sha256).hexdigest()
    return body, {"AWeber-Delivery-ID": delivery_id, "Date": date, "AWeber-Signature": f"sha256={digest}"}


def serve(handler: Any, store_url: str = "memory://") -> WebServer:
    receiver = WebhookReceiver(
        verification_key=KEY, client_id=CLIENT, store=open_store(store_url), clock=lambda: NOW
    )
    return WebServer(webhook_app(receiver, handler))


@pytest.fixture
def seen() -> list[WebhookDelivery]:
    return []


@pytest.fixture
def server(seen: list[WebhookDelivery]) -> Iterator[WebServer]:
    async def handler(delivery: WebhookDelivery) -> None:
        seen.append(delivery)

    with serve(handler) as running:
        yield running
        running.check_errors()


def test_an_async_handler_is_awaited_once_per_delivery(
    server: WebServer, seen: list[WebhookDelivery]
) -> None:
    body, headers = signed_request()
    first = httpx.post(f"{server.url}/", content=body, headers=headers)
    assert first.status_code == 200
    assert first.json() == {"status": "ok", "events": 0}
    assert first.headers["x-content-type-options"] == "nosniff"
    assert httpx.post(f"{server.url}/", content=body, headers=headers).json() == {"status": "duplicate"}
    assert [d.delivery_id for d in seen] == ["d-1"]


def test_only_post_is_answered(server: WebServer) -> None:
    answer = httpx.get(f"{server.url}/")
    assert answer.status_code == 405
    assert "POST" in answer.json()["error_description"]


def test_a_body_over_the_limit_is_refused_unread(server: WebServer, seen: list[WebhookDelivery]) -> None:
    body, headers = signed_request(size=4 * 1024 * 1024)
    answer = httpx.post(f"{server.url}/", content=body, headers=headers)
    assert answer.status_code == 413
    assert seen == []


def test_an_unsigned_request_is_refused_and_says_why(server: WebServer, seen: list[WebhookDelivery]) -> None:
    answer = httpx.post(f"{server.url}/", content=b"{}")
    assert answer.status_code == 400
    assert "AWeber-Delivery-ID" in answer.json()["error_description"]
    assert seen == []
