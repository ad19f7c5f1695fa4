"""JSON representations of the API slice's resources, with every link on the caller's base URL.

Shapes follow providers.md A11.3/A11.4: entries carry ``self_link`` and ``resource_type_link``
(accounts and lists also ``http_etag``); collections carry ``entries``, ``start``,
``total_size`` (``total_size_link`` for ``find`` results), ``resource_type_link``,
``self_link``, and ``next_collection_link`` / ``prev_collection_link`` except on the last /
first page. Links are built from the request's own base URL, so a client that follows them
stays on the mock, and they never repeat an ``access_token`` given in the query string.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from mock_server.api.model import Account, Activity, MailingList, Page, Subscriber

# Query parameters that never go into a link: a token must not leak into stored links, and the
# paging parameters are set afresh for each neighbour page.
_NOT_IN_LINKS = frozenset({"access_token", "ws.start", "ws.size", "ws.show"})
_LIST_COLLECTIONS = (
    "campaigns",
    "custom_fields",
    "segments",
    "landing_pages",
    "web_forms",
    "web_form_split_tests",
)


def iso(timestamp: float | None) -> str | None:
    """AWeber's ISO 8601 timestamps (with offset), or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def etag(body: Mapping[str, Any]) -> str:
    """A representation's ``http_etag``: a digest of its other fields."""
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False)
    return f'"{digest.hexdigest()}"'


class Links:
    """Every URL the API hands out, rooted at the request's base URL."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.api = f"{self.base}/1.0"

    def resource_type(self, name: str) -> str:
        """A ``resource_type_link`` such as ``<base>/1.0/#subscriber``."""
        return f"{self.api}/#{name}"

    def accounts(self) -> str:
        """The accounts collection."""
        return f"{self.api}/accounts"

    def account(self, account_id: int) -> str:
        """One account."""
        return f"{self.api}/accounts/{account_id}"

    def lists(self, account_id: int) -> str:
        """An account's lists collection."""
        return f"{self.account(account_id)}/lists"

    def mailing_list(self, account_id: int, list_id: int) -> str:
        """One list."""
        return f"{self.lists(account_id)}/{list_id}"

    def subscribers(self, account_id: int, list_id: int) -> str:
        """A list's subscribers collection."""
        return f"{self.mailing_list(account_id, list_id)}/subscribers"

    def subscriber(self, account_id: int, list_id: int, subscriber_id: int) -> str:
        """One subscriber."""
        return f"{self.subscribers(account_id, list_id)}/{subscriber_id}"


def account_json(account: Account, links: Links) -> dict[str, Any]:
    """An Account representation."""
    body: dict[str, Any] = {
        "id": account.id,
        "uuid": account.uuid,
        "company": account.company,
        "analytics_src": f"https://analytics.aweber.com/js/awt_analytics.js?id={account.id}",
        "self_link": links.account(account.id),
        "resource_type_link": links.resource_type("account"),
        "lists_collection_link": links.lists(account.id),
        "integrations_collection_link": f"{links.account(account.id)}/integrations",
    }
    body["http_etag"] = etag(body)
    return body


def list_json(mailing_list: MailingList, counts: Mapping[str, int], links: Links) -> dict[str, Any]:
    """A List representation, with its subscriber counters."""
    self_link = links.mailing_list(mailing_list.account_id, mailing_list.id)
    body: dict[str, Any] = {
        "id": mailing_list.id,
        "uuid": mailing_list.uuid,
        "name": mailing_list.name,
        "unique_list_id": mailing_list.unique_list_id,
        "self_link": self_link,
        "resource_type_link": links.resource_type("list"),
        "subscribers_collection_link": f"{self_link}/subscribers",
        **{f"{name}_collection_link": f"{self_link}/{name}" for name in _LIST_COLLECTIONS},
        "draft_broadcasts_link": f"{self_link}/broadcasts?status=draft",
        "scheduled_broadcasts_link": f"{self_link}/broadcasts?status=scheduled",
        "sent_broadcasts_link": f"{self_link}/broadcasts?status=sent",
        "vapid_public_key": None,
        **counts,
    }
    body["http_etag"] = etag(body)
    return body


def subscriber_json(
    subscriber: Subscriber,
    account_id: int,
    links: Links,
    *,
    single: bool = False,
    mailing_list: MailingList | None = None,
) -> dict[str, Any]:
    """A Subscriber representation; ``uuid`` only on a single GET, list fields on finds."""
    body: dict[str, Any] = {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "is_verified": subscriber.is_verified,
        "verified_at": iso(subscriber.verified_at),
        "subscribed_at": iso(subscriber.subscribed_at),
        "subscription_method": subscriber.subscription_method,
        "subscription_url": None,
        "unsubscribed_at": iso(subscriber.unsubscribed_at),
        "unsubscribe_method": subscriber.unsubscribe_method,
        "ad_tracking": subscriber.ad_tracking,
        "misc_notes": subscriber.misc_notes,
        "custom_fields": dict(subscriber.custom_fields),
        "tags": list(subscriber.tags),
        "ip_address": subscriber.ip_address,
        "area_code": None,
        "city": None,
        "country": None,
        "dma_code": None,
        "latitude": None,
        "longitude": None,
        "postal_code": None,
        "region": None,
        "last_followup_message_number_sent": subscriber.last_followup_message_number_sent,
        "last_followup_sent_at": None,
        "last_followup_sent_link": None,
        "self_link": links.subscriber(account_id, subscriber.list_id, subscriber.id),
        "resource_type_link": links.resource_type("subscriber"),
    }
    if single:
        body["uuid"] = subscriber.uuid
    if mailing_list is not None:
        body["list_link"] = links.mailing_list(account_id, mailing_list.id)
        body["list_name"] = mailing_list.name
    return body


def activity_json(number: int, activity: Activity, subscriber_link: str, links: Links) -> dict[str, Any]:
    """Entry ``number`` of ``ws.op=getActivity``; every entry has ``type`` and ``event_time``."""
    return {
        "id": number,
        "self_link": None,
        "type": activity.type,
        "event_time": iso(activity.event_time),
        "subscriber_link": subscriber_link,
        "resource_type_link": links.resource_type(f"{activity.type}_entry"),
    }


def collection_json(
    entries: Sequence[dict[str, Any]],
    page: Page,
    *,
    url: str,
    query: Sequence[tuple[str, str]],
    resource_type_link: str,
    find: bool = False,
) -> dict[str, Any]:
    """A collection page. ``url`` is the collection without query; ``query`` the request's."""
    kept = [(key, value) for key, value in query if key not in _NOT_IN_LINKS]

    def link(extra: list[tuple[str, str]]) -> str:
        params = kept + extra
        return f"{url}?{urlencode(params)}" if params else url

    body: dict[str, Any] = {"entries": list(entries), "start": page.start}
    if find:
        body["total_size_link"] = link([("ws.show", "total_size")])
    else:
        body["total_size"] = page.total
    if page.next_start is not None:
        body["next_collection_link"] = link([("ws.start", str(page.next_start)), ("ws.size", str(page.size))])
    if page.prev_start is not None:
        body["prev_collection_link"] = link([("ws.start", str(page.prev_start)), ("ws.size", str(page.size))])
    body["resource_type_link"] = resource_type_link
    body["self_link"] = link([]) if find else url
    return body
