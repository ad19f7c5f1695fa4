"""The demo account's data: enough of everything that a client can walk every link.

interface.md promises two lists: the first holds 250 subscribers, all ``subscribed``; the
second holds three (one also on the first list, one ``unconfirmed``, one ``unsubscribed``).
Beside them: custom fields and their values, tags, segments (one a split-test segment), web
forms of several types, a split test with two components, landing pages (published and not),
Facebook and Twitter integrations, followups, and broadcasts in draft, scheduled and sent
(the sent one with opens, clicks and stats, generated when the clock passes its time, like any
other). Ids are deterministic, so they are the same after every reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_server.api.model import Account

if TYPE_CHECKING:
    from mock_server.directory import Directory

DAY = 86400.0


def seed(directory: Directory, account: Account) -> None:
    """Fill a new account with the demo data."""
    _people(directory, account)
    _furniture(directory, account)


def _people(directory: Directory, account: Account) -> None:
    first = directory.create_list(account.id, "Demo Newsletter")
    second = directory.create_list(account.id, "Demo Customers")
    now = directory.clock.now()
    for number in range(1, 251):
        directory.insert_subscriber(
            first,
            email=f"subscriber{number:03d}@example.com",
            name=f"Demo Subscriber {number:03d}",
            status="subscribed",
            at=now - (251 - number) * 3600,
            method="import",
            tags=["demo", "vip"] if number % 10 == 0 else ["demo"],
        )
    directory.insert_subscriber(
        second,
        email="subscriber001@example.com",
        name="Demo Subscriber 001",
        status="subscribed",
        at=now - 7200,
        method="webform",
        tags=["customer"],
    )
    directory.insert_subscriber(
        second,
        email="pending@example.com",
        name="Pending Confirmation",
        status="unconfirmed",
        at=now - 3600,
        method="webform",
        tags=[],
    )
    former = directory.insert_subscriber(
        second,
        email="former@example.com",
        name="Former Subscriber",
        status="subscribed",
        at=now - 86400 * 3,
        method="api",
        tags=[],
    )
    directory.set_status(former, "unsubscribed", now - 86400, "unsubscribe link")
    for sub in list(first.subscribers.values())[:5]:
        sub.custom_fields = {"Favorite Color": "blue", "Plan": "pro"}
        sub.ad_tracking = "demo-ad"


def _furniture(directory: Directory, account: Account) -> None:
    catalog, mailings = directory.catalog, directory.mailings
    now = directory.clock.now()
    first, second = directory.lists(account.id)[:2]
    for mailing_list in (first, second):
        catalog.add_custom_field(mailing_list.id, "Favorite Color", updateable=True)
        catalog.add_custom_field(mailing_list.id, "Plan")
    catalog.add_segment(first.id, "VIP subscribers")
    catalog.add_segment(first.id, "Split test A/B", is_split_test=True)
    catalog.add_segment(second.id, "Recent customers")
    inline = catalog.add_web_form(
        first.id,
        "Sidebar sign-up",
        "inline",
        tags=["sidebar"],
        total_displays=1200,
        total_unique_displays=900,
        total_submissions=84,
    )
    popup = catalog.add_web_form(
        first.id,
        "Exit offer",
        "lightbox",
        tags=["offer"],
        total_displays=400,
        total_unique_displays=350,
        total_submissions=21,
    )
    catalog.add_web_form(second.id, "Checkout opt-in", "styled", total_displays=75, total_submissions=9)
    catalog.add_split_test(first.id, "Sidebar vs exit offer", [(inline.id, 50), (popup.id, 50)])
    catalog.add_landing_page(first.id, "Spring sale", now - 10 * DAY, published=True)
    catalog.add_landing_page(first.id, "Webinar (draft)", now - 2 * DAY, published=False)
    facebook = catalog.add_integration(account.id, "facebook", "Demo Company Page")
    twitter = catalog.add_integration(account.id, "twitter", "@demo_company")
    mailings.add_followup(first.id, "Welcome to the newsletter", 1, 0)
    mailings.add_followup(first.id, "Getting the most out of it", 2, 3)
    body = {"body_html": "<p>Hello from the demo.</p>", "body_text": "Hello from the demo."}
    sent = mailings.create(first.id, now - 3 * DAY, subject="Demo: last week's news", **body)
    sent.facebook_integration, sent.twitter_integration = facebook.id, twitter.id
    mailings.schedule(sent, now - 2 * DAY, now - 3 * DAY)
    scheduled = mailings.create(first.id, now - DAY, subject="Demo: next week's news", **body)
    mailings.schedule(scheduled, now + 7 * DAY, now - DAY)
    mailings.create(first.id, now - 3600, subject="Demo: an unfinished draft", **body)
    mailings.create(second.id, now - 3600, subject="Demo: thanks for your order", **body)
    mailings.catch_up(now)  # the sent broadcast goes out now, so its audience is fixed here
