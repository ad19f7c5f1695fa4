"""Acceptance 1: starting at GET /1.0/accounts and following every link it is given, a client
reaches every GET operation of AWeber's v1 API without a 404, and every representation has
the field set of the inventory's section 2 (../shared/aweber-api.md), kept here as a table."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import httpx

from mock_server import MockConfig, MockServer
from tests.test_mock_server.test_api import get_token

ALL_SCOPES = " ".join(
    [
        *("account.read", "list.read", "list.write", "subscriber.read", "subscriber.write"),
        *("email.read", "email.write", "landing-page.read"),
    ]
)
_FORM = {
    "conversion_percentage",
    "html_source_link",
    "http_etag",
    "id",
    "is_active",
    "javascript_source_link",
    "name",
    "resource_type_link",
    "self_link",
    "tags",
    "total_displays",
    "total_submissions",
    "total_unique_displays",
    "type",
    "unique_conversion_percentage",
}
_SUBSCRIBER = {
    "ad_tracking", "area_code", "city", "country", "custom_fields", "dma_code", "email", "id",
    "ip_address", "is_verified", "last_followup_message_number_sent", "last_followup_sent_at",
    "last_followup_sent_link", "latitude", "longitude", "misc_notes", "name", "postal_code",
    "region", "resource_type_link", "self_link", "status", "subscribed_at", "subscription_method",
    "subscription_url", "tags", "unsubscribe_method", "unsubscribed_at", "verified_at",
}  # fmt: skip
_CAMPAIGN = {
    "campaign_type", "click_tracking_enabled", "content_type", "id", "is_archived",
    "links_collection_link", "message_interval", "message_number", "resource_type_link",
    "scheduled_at", "self_link", "sent_at", "spam_assassin_score", "stats_collection_link",
    "subject", "total_clicks", "total_opens", "total_sent", "total_spam_complaints",
    "total_undelivered", "total_unsubscribes", "twitter_account_link",
}  # fmt: skip
_STAT = {"description", "id", "resource_type_link", "self_link", "value"}
_EVENT = {"email", "event_time", "resource_type_link", "subscriber_link", "type"}
# resource_type_link fragment -> the inventory's field set (section 2).
SHAPES: dict[str, set[str]] = {
    "account": {
        "analytics_src", "http_etag", "id", "integrations_collection_link", "lists_collection_link",
        "resource_type_link", "self_link", "uuid", "company",
    },
    "list": {
        "campaigns_collection_link", "custom_fields_collection_link", "draft_broadcasts_link",
        "scheduled_broadcasts_link", "sent_broadcasts_link", "http_etag", "id",
        "landing_pages_collection_link", "name", "resource_type_link", "segments_collection_link",
        "self_link", "subscribers_collection_link", "total_subscribed_subscribers",
        "total_subscribers", "total_subscribers_subscribed_today",
        "total_subscribers_subscribed_yesterday", "total_unconfirmed_subscribers",
        "total_unsubscribed_subscribers", "unique_list_id", "uuid", "vapid_public_key",
        "web_form_split_tests_collection_link", "web_forms_collection_link",
    },
    "subscriber": _SUBSCRIBER,
    "custom_field": {
        "http_etag", "id", "is_subscriber_updateable", "name", "resource_type_link", "self_link",
    },
    "segment": {"id", "is_split_test", "name", "resource_type_link", "self_link"},
    "web_form": _FORM,
    "web_form_split_test": {
        "components_collection_link", "http_etag", "id", "is_active", "javascript_source_link", "name",
        "resource_type_link", "self_link",
    },
    "component": _FORM | {"web_form_link", "weight"},
    "landing_page": {
        "created_at", "id", "modified_at", "name", "published_at", "published_url",
        "resource_type_link", "self_link", "status",
    },
    "integration": {"http_etag", "id", "login", "service_name", "resource_type_link", "self_link"},
    "broadcast_campaign": _CAMPAIGN,
    "followup_campaign": _CAMPAIGN,
    "integer_stat": _STAT,
    "decimal_stat": _STAT,
    "list_stat": _STAT,
    "open": _EVENT,
    "click": _EVENT | {"first_click_at", "last_click_at", "total_clicks"},
}  # fmt: skip
# What a single GET adds to the collection entry's fields.
SINGLE_EXTRAS = {"subscriber": {"uuid"}, "landing_page": {"content_html", "published_html"}}
BROADCAST = {
    "archive_url", "body_html", "body_text", "body_amp", "broadcast_id", "click_tracking_enabled",
    "clicks_collection_link", "created_at", "exclude_lists", "facebook_integration",
    "has_customized_body_text", "include_lists", "is_archived", "links", "notify_on_send",
    "opens_collection_link", "scheduled_for", "segment_link", "segment_name", "self_link", "sent_at",
    "stats", "status", "subject", "twitter_integration", "uuid",
}  # fmt: skip
BROADCAST_ENTRY = {"uuid", "broadcast_id", "self_link", "status", "scheduled_for", "sent_at", "subject"}

A, L = "/1.0/accounts/{n}", "/1.0/accounts/{n}/lists/{n}"
# Every GET operation of the inventory's section 1 that is a path of its own (the ws.op finds
# are not linked from anywhere; test_api_operations covers them), and L/tags, which no
# representation links to.
GET_PATHS = {
    "/1.0/accounts", A, f"{A}/lists", L,
    f"{L}/custom_fields", f"{L}/custom_fields/{{n}}",
    f"{L}/subscribers", f"{L}/subscribers/{{n}}",
    f"{L}/broadcasts", f"{L}/broadcasts/total", f"{L}/broadcasts/{{n}}",
    f"{L}/broadcasts/{{n}}/opens", f"{L}/broadcasts/{{n}}/clicks",
    f"{L}/campaigns", f"{L}/campaigns/{{c}}",
    f"{L}/campaigns/{{c}}/stats", f"{L}/campaigns/{{c}}/stats/{{s}}",
    f"{A}/integrations", f"{A}/integrations/{{n}}",
    f"{L}/landing_pages", f"{L}/landing_pages/{{u}}",
    f"{L}/segments", f"{L}/segments/{{n}}",
    f"{L}/web_forms", f"{L}/web_forms/{{n}}",
    f"{L}/web_form_split_tests", f"{L}/web_form_split_tests/{{n}}",
    f"{L}/web_form_split_tests/{{n}}/components", f"{L}/web_form_split_tests/{{n}}/components/{{p}}",
}  # fmt: skip
_PATTERNS = [
    (re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"), "/{u}"),
    (re.compile(r"/campaigns/[bf]\d+"), "/campaigns/{c}"),
    (re.compile(r"/stats/[a-z_]+$"), "/stats/{s}"),
    (re.compile(r"/components/\d+-\d+$"), "/components/{p}"),
    (re.compile(r"/\d+(?=/|$)"), "/{n}"),
]


def template(path: str) -> str:
    """A path with its ids replaced, to compare with GET_PATHS."""
    for pattern, replacement in _PATTERNS:
        path = pattern.sub(replacement, path)
    return path


def check_entry(entry: dict[str, Any], *, single: bool) -> None:
    """The entry's field set is the inventory's for its resource type."""
    if "broadcast_id" in entry:
        assert set(entry) == (BROADCAST if single else BROADCAST_ENTRY), entry
        return
    kind = entry["resource_type_link"].rsplit("#", 1)[1]
    expected = SHAPES[kind] | (SINGLE_EXTRAS.get(kind, set()) if single else set())
    if kind == "subscriber" and "list_link" in entry:  # account-wide find results
        expected = expected | {"list_link", "list_name"}
    assert set(entry) == expected, (kind, set(entry) ^ expected)


def links_in(value: object, base: str) -> list[str]:
    """Every API URL in a representation's ``*_link`` fields and link arrays."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "resource_type_link":
                continue
            if key.endswith("_link") and isinstance(item, str) and item.startswith(base):
                found.append(item)
            elif key in ("include_lists", "exclude_lists") and isinstance(item, list):
                found += [link for link in item if isinstance(link, str)]
            elif isinstance(item, dict | list):
                found += links_in(item, base)
    elif isinstance(value, list):
        for item in value:
            found += links_in(item, base)
    return found


def test_following_links_from_accounts_reaches_every_get_operation() -> None:
    # Every link is a few hundred requests: more than AWeber's 120 a minute allow.
    with MockServer(MockConfig(rate_limit_enabled=False)) as mock:
        walk(mock)
        mock.check_errors()


def walk(mock_aweber: MockServer) -> None:
    """Follow every API link breadth-first from /1.0/accounts, checking every answer."""
    token = get_token(mock_aweber, ALL_SCOPES)
    base = mock_aweber.api_base
    assert base.endswith("/1.0")
    seen: set[str] = set()
    reached: set[str] = set()
    queue = deque([f"{base}/accounts"])
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        while queue:
            url = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.text)
            body = response.json()
            path = httpx.URL(url).path
            reached.add(template(path))
            if isinstance(body, dict) and "entries" in body:
                for entry in body["entries"]:
                    check_entry(entry, single=False)
            elif isinstance(body, dict) and ("resource_type_link" in body or "broadcast_id" in body):
                check_entry(body, single=True)
            queue.extend(link for link in links_in(body, base) if link not in seen)
    assert GET_PATHS - reached == set()
    assert len(seen) > 60  # every demo resource, not one of each


def test_every_link_stays_on_the_mock_and_never_carries_the_token(mock_aweber: MockServer) -> None:
    token = get_token(mock_aweber, ALL_SCOPES)
    base = mock_aweber.api_base
    with httpx.Client() as client:
        lists = client.get(f"{base}/accounts/1/lists", params={"access_token": token}).json()
    for link in links_in(lists, "http"):
        assert link.startswith(mock_aweber.url)
        assert token not in link
