"""The records of the mock's webhooks: apps, callbacks, deliveries, faults, and the rules that
need no state (the signature, the Date format, the payload).

Pure, like ``mock_server.webhooks``, which keeps these records and decides what is due.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import urlsplit

from mock_server.api.model import Account, MailingList, Subscriber
from mock_server.api.views import Links, iso

EVENTS = ("subscriber.added", "subscriber.subscribed", "subscriber.unsubscribed")
MEDIA_TYPE = "application/vnd.aweber.webhook+json; version=1.0"
# What a new subscriber emits: added, and subscribed (the mock's adds are subscribed at once).
JOINED = ("subscriber.added", "subscriber.subscribed")
LEFT = "subscriber.unsubscribed"
FAULT_KINDS = ("drop", "delay", "duplicate", "reorder")
# The webhook payload names API unsubscribes "api: unsubscribe" / "api: move"; the directory
# records the REST representation's wording.
_UNSUBSCRIBE_METHODS = {"api unsubscribe": "api: unsubscribe", "api move": "api: move"}
# Whitespace that AWeber's rstrip removes: space, tab, LF, CR, VT, FF.
_RSTRIP = b" \t\n\r\x0b\x0c"

DeliveryState = Literal["pending", "held", "sending", "delivered", "failed", "lost", "cancelled"]
FaultKind = Literal["drop", "delay", "duplicate", "reorder"]


class WebhookError(ValueError):
    """A webhook request the mock refuses; the message says what is wrong and how to fix it."""


def signature(key: bytes, date: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 over ``rstrip(b'date:' + date + b'\\n' + body)``."""
    message = (b"date:" + date.encode("utf-8") + b"\n" + body).rstrip(_RSTRIP)
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def http_date(now: float) -> str:
    """An RFC 7231 IMF-fixdate, e.g. ``Mon, 21 Oct 2019 19:05:20 GMT``."""
    return formatdate(now, usegmt=True)


@dataclass
class WebhookApp:
    """An app's webhook set-up on labs.aweber.com."""

    client_id: str
    allow_list: list[str]
    events: list[str]
    key: bytes = field(repr=False)

    @property
    def verification_key(self) -> str:
        """The key as AWeber shows it: base64."""
        return base64.b64encode(self.key).decode()

    def public_view(self) -> dict[str, Any]:
        """The app without its key."""
        return {"client_id": self.client_id, "allow_list": list(self.allow_list), "events": list(self.events)}


@dataclass
class Callback:
    """One customer account's Webhook URL for one app."""

    id: str
    client_id: str
    account_id: int
    url: str
    base_url: str
    created_at: float

    def public_view(self) -> dict[str, Any]:
        """The callback as the control API shows it."""
        return {
            "callback": self.id,
            "client_id": self.client_id,
            "account_id": self.account_id,
            "url": self.url,
            "created_at": self.created_at,
        }


@dataclass
class Attempt:
    """One try at sending a delivery, and what came of it."""

    number: int
    at: float
    date: str
    status: int | None = None
    error: str | None = None
    duplicate_status: int | None = None

    def view(self) -> dict[str, Any]:
        """JSON-ready."""
        data: dict[str, Any] = {
            "number": self.number,
            "at": self.at,
            "status": self.status,
            "error": self.error,
        }
        if self.duplicate_status is not None:
            data["duplicate_status"] = self.duplicate_status
        return data


@dataclass
class Delivery:
    """One signed request (a batch of events) and its attempts."""

    id: str
    callback: Callback
    body: bytes = field(repr=False)
    events: list[str]
    created_at: float
    due_at: float
    order: int
    state: DeliveryState = "pending"
    drop_next: bool = False
    duplicate: bool = False
    reorder_fault: int | None = None
    faults: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """JSON-ready, without the body (which holds subscribers' data)."""
        return {
            "delivery_id": self.id,
            "callback": self.callback.id,
            "client_id": self.callback.client_id,
            "account_id": self.callback.account_id,
            "url": self.callback.url,
            "events": list(self.events),
            "state": self.state,
            "faults": list(self.faults),
            "created_at": self.created_at,
            "due_at": self.due_at,
            "attempts": [attempt.view() for attempt in self.attempts],
        }


@dataclass
class Send:
    """What the delivery worker must send now: URL, headers, body, and how many times."""

    delivery_id: str
    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    copies: int
    drop: bool


@dataclass
class DeliveryFault:
    """A fault armed for the next ``remaining`` deliveries (optionally of one callback)."""

    id: int
    kind: FaultKind
    remaining: int
    delay_seconds: float = 0.0
    callback: str | None = None
    held: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """JSON-ready."""
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "count": self.remaining}
        if self.kind == "delay":
            data["delay_seconds"] = self.delay_seconds
        if self.callback is not None:
            data["callback"] = self.callback
        return data


@dataclass
class Settings:
    """How deliveries are made; changed by ``POST /_mock/webhooks/settings``."""

    retries: int = 3
    retry_delay: float = 1.0
    timeout: float = 5.0
    batch_size: int = 100
    paused: bool = False

    def view(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
            "batch_size": self.batch_size,
            "paused": self.paused,
        }


SETTING_LIMITS: dict[str, tuple[type, float, float]] = {
    "retries": (int, 0, 20),
    "retry_delay": (float, 0.0, 86400.0),
    "timeout": (float, 0.1, 60.0),
    "batch_size": (int, 1, 1000),
}


def check_url(url: object, what: str) -> str:
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise WebhookError(f"{what} must be a URL string of at most 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError(f"{what} must be an absolute http:// or https:// URL, not {url[:80]!r}")
    if parts.username or parts.password:
        raise WebhookError(f"{what} must not carry a user name or password")
    return url


def payload(
    account: Account,
    mailing_list: MailingList,
    subscriber: Subscriber,
    links: Links,
    *,
    moved_at: float | None = None,
) -> dict[str, Any]:
    """A ``subscriber.*`` payload as AWeber documents it (custom fields without values omitted).

    ``moved_at``: the subscriber left this list by a move then (AWeber: ``api: move``).
    """
    method = "api move" if moved_at is not None else subscriber.unsubscribe_method
    body: dict[str, Any] = {
        "account": account.uuid,
        "ad_tracking": subscriber.ad_tracking,
        "custom_fields": {k: v for k, v in subscriber.custom_fields.items() if v is not None},
        "email": subscriber.email,
        "id": subscriber.uuid,
        "links": {
            "account": links.account(account.id),
            "list": links.mailing_list(account.id, mailing_list.id),
            "subscriber": links.subscriber(account.id, mailing_list.id, subscriber.id),
        },
        "list": mailing_list.uuid,
        "misc_notes": subscriber.misc_notes,
        "name": subscriber.name,
        "signup_ip": subscriber.ip_address,
        "signup_location": None,  # the mock has no geolocation: AWeber sends null when unknown
        "status": "unsubscribed" if moved_at is not None else subscriber.status,
        "subscribed_at": iso(subscriber.subscribed_at),
        "subscription_method": subscriber.subscription_method,
        "subscription_url": None,
        "tags": list(subscriber.tags),
        "unsubscribe_method": _UNSUBSCRIBE_METHODS.get(method, method) if method else None,
        "unsubscribed_at": iso(moved_at if moved_at is not None else subscriber.unsubscribed_at),
        "verified_at": iso(subscriber.verified_at),
    }
    return body
