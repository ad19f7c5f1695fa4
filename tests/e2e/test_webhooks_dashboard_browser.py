"""The dashboard's Webhooks section in a real browser: set up the app, connect a receiver built with
``oob_helper.webhooks``, add and unsubscribe a subscriber, and see the signed deliveries arrive."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.routing import Mount

from mock_server import MockServer
from oob_helper.stores import open_store
from oob_helper.web.runner import WebServer, bind
from oob_helper.web.webhooks import webhook_app
from oob_helper.webhooks import WebhookDelivery, WebhookReceiver

OOB = "urn:ietf:wg:oauth:2.0:oob"
APP = "demo-confidential"


def authorize(mock: MockServer) -> None:
    scope = "account.read subscriber.read"
    approved = mock.approve({"client_id": APP, "redirect_uri": OOB, "response_type": "code", "scope": scope})
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": OOB},
        auth=(APP, "demo-secret"),
    )
    assert response.status_code == 200, response.text


@pytest.mark.browser
def test_webhooks_from_the_dashboard_reach_a_receiver(
    mock_aweber: MockServer, page: Page, artifacts_dir: Path
) -> None:
    authorize(mock_aweber)
    sock = bind("127.0.0.1", 0)
    receiver_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    page.goto(mock_aweber.dashboard_url)
    section = page.get_by_role("region", name="Webhooks")
    expect(section).to_contain_text("Delivery worker: running")
    section.locator("#webhook-app-client").select_option(APP)
    section.get_by_label("Callback URL allow-list").fill(f"{receiver_url}/hooks/")
    section.get_by_role("button", name="Save webhook set-up").click()
    expect(page.get_by_role("status")).to_have_text("The app's webhook set-up was saved.")
    key = page.get_by_role("region", name="Webhooks").locator("table").first.locator("td").nth(3).inner_text()

    handled: list[WebhookDelivery] = []
    arrived = threading.Condition()

    def on_delivery(delivery: WebhookDelivery) -> None:
        with arrived:
            handled.append(delivery)
            arrived.notify_all()

    hooks = WebhookReceiver(
        verification_key=key,
        client_id=APP,
        store=open_store("memory://"),
        clock=mock_aweber.mock_state.clock.now,
    )
    with WebServer(
        Starlette(routes=[Mount("/hooks/aweber", app=webhook_app(hooks, on_delivery))]), sock=sock
    ):
        section = page.get_by_role("region", name="Webhooks")
        section.get_by_label("Webhook URL").fill(f"{receiver_url}/hooks/aweber/")
        section.get_by_role("button", name="Connect Webhook URL").click()
        expect(page.get_by_role("status")).to_have_text("The Webhook URL was connected.")

        section = page.get_by_role("region", name="Webhooks")
        section.locator("#sub-add-list").fill("1001")
        section.get_by_label("Add e-mail").fill("browser@example.com")
        section.get_by_label("Name", exact=True).fill("From the browser")
        section.get_by_role("button", name="Add subscriber").click()
        expect(page.get_by_role("status")).to_have_text("The subscriber was added.")
        with arrived:
            assert arrived.wait_for(lambda: len(handled) == 1, 15)

        section = page.get_by_role("region", name="Webhooks")
        section.locator("#sub-unsubscribe-list").fill("1001")
        section.get_by_label("Unsubscribe e-mail").fill("browser@example.com")
        section.get_by_role("button", name="Unsubscribe subscriber").click()
        expect(page.get_by_role("status")).to_have_text("The subscriber was unsubscribed.")
        with arrived:
            assert arrived.wait_for(lambda: len(handled) == 2, 15)

    assert [(e.event, e.email) for d in handled for e in d.events] == [
        ("subscriber.added", "browser@example.com"),
        ("subscriber.subscribed", "browser@example.com"),
        ("subscriber.unsubscribed", "browser@example.com"),
    ]
    assert handled[0].events[0].name == "From the browser"
    # The deliveries and their answers show on the dashboard once the mock has recorded them.
    pause = threading.Event()
    for _ in range(300):
        if [d["state"] for d in mock_aweber.webhooks()["deliveries"]] == ["delivered", "delivered"]:
            break
        pause.wait(0.05)
    page.reload()
    deliveries = page.get_by_role("region", name="Webhooks").locator("table").last
    expect(deliveries.get_by_role("cell", name="delivered", exact=True)).to_have_count(2)
    expect(page.get_by_role("region", name="Recent requests")).to_contain_text(
        f"POST {receiver_url}/hooks/aweber/"
    )
    page.screenshot(path=str(artifacts_dir / "mock-dashboard-webhooks.png"), full_page=True)
