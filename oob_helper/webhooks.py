"""Receive AWeber webhooks: verify a delivery, refuse stale and replayed ones, parse its events.

AWeber signs each delivery (its Webhooks documentation, "Verifying Webhook Payloads"): the
``AWeber-Signature`` header is ``sha256=<hex>``, the HMAC-SHA256 keyed with the base64-decoded
**Verification Key** of the app over ``rstrip('date:' + <Date header> + '\\n' + <raw body>)``,
where rstrip removes trailing space, tab, LF, CR, VT and FF. After the signature, the body's
``client_id`` must be the app's. On top of what AWeber asks, :class:`WebhookReceiver` refuses a
``Date`` further than ``tolerance`` from its clock and a delivery id it has already accepted (AWeber
may send duplicates), remembering ids in the token store (``OnceStore.claim_once``).

Two levels:

- :func:`verify` is pure (time passed in): headers and raw body in, a :class:`WebhookDelivery`
  out, or a :class:`WebhookError` saying why not;
- :class:`WebhookReceiver` adds the clock and the replay check; ``oob_helper.web.webhooks`` wraps
  it in a Starlette endpoint that calls your handler.

Errors carry the HTTP status a receiver should answer with (``status``); messages never contain
the key or the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from oob_helper.errors import ConfigurationError, OobHelperError
from oob_helper.stores.base import OnceStore

__all__ = [
    "EVENTS",
    "InvalidSignature",
    "MalformedDelivery",
    "ReplayedDelivery",
    "SignupLocation",
    "StaleDelivery",
    "SubscriberEvent",
    "UnknownClient",
    "WebhookDelivery",
    "WebhookError",
    "WebhookReceiver",
    "compute_signature",
    "decode_key",
    "verify",
]

EVENTS = ("subscriber.added", "subscriber.subscribed", "subscriber.unsubscribed")
DEFAULT_TOLERANCE = 300.0
DEFAULT_REPLAY_WINDOW = 7 * 86400.0
MAX_BODY = 4 * 1024 * 1024
_RSTRIP = b" \t\n\r\x0b\x0c"
_MAX_ID = 200


class WebhookError(OobHelperError):
    """A delivery that is refused; ``status`` is the HTTP status to answer with."""

    status = 400


class MalformedDelivery(WebhookError):
    """A header is missing or the body is not AWeber's envelope."""


class InvalidSignature(WebhookError):
    """The signature does not match the body and Date under the verification key."""

    status = 401


class StaleDelivery(WebhookError):
    """The signed ``Date`` is too far from the receiver's clock (an old request replayed)."""

    status = 401


class UnknownClient(WebhookError):
    """The delivery is signed but names another app's ``client_id``."""

    status = 403


class ReplayedDelivery(WebhookError):
    """This delivery id was accepted before: a duplicate or a replay; do not act on it again.

    The receiver endpoint answers it with 200 (``{"status": "duplicate"}``): a genuine duplicate
    is then not retried, and "a non-2XX response" may make AWeber stop sending webhooks.
    """

    status = 200


@dataclass(frozen=True)
class SignupLocation:
    """Where the subscription came from, when AWeber knew."""

    city: str | None
    country_code: str | None
    country_name: str | None
    latitude: float | None
    longitude: float | None
    metro_code: str | None  # documented as a number, sent as a string ("504")
    postal_code: str | None
    region_code: str | None
    region_name: str | None


@dataclass(frozen=True)
class SubscriberEvent:
    """One ``subscriber.*`` event of a delivery; ``raw`` is the payload as sent."""

    event: str
    account: str
    list: str
    id: str
    email: str
    name: str | None
    status: str
    ad_tracking: str | None
    misc_notes: str | None
    custom_fields: Mapping[str, Any]
    tags: tuple[str, ...]
    signup_ip: str | None
    signup_location: SignupLocation | None
    subscription_method: str | None
    subscription_url: str | None
    subscribed_at: datetime | None
    verified_at: datetime | None
    unsubscribed_at: datetime | None
    unsubscribe_method: str | None
    account_link: str | None
    list_link: str | None
    subscriber_link: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery: its id, signed Date, envelope fields and events (in sent order)."""

    delivery_id: str
    date: datetime
    account: str | None
    client_id: str
    callback: str
    events: tuple[SubscriberEvent, ...]


def decode_key(verification_key: str | bytes) -> bytes:
    """The Verification Key as AWeber shows it (base64) decoded; ConfigurationError if it is not."""
    try:
        key = base64.b64decode(verification_key, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "the webhook verification key is not base64: copy it exactly as AWeber shows it"
        ) from None
    if not key:
        raise ConfigurationError("the webhook verification key is empty")
    return key


def compute_signature(key: bytes, date: str, body: bytes) -> str:
    """``sha256=<hex>`` for a Date header and raw body under a decoded key."""
    message = (b"date:" + date.encode("utf-8") + b"\n" + body).rstrip(_RSTRIP)
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise MalformedDelivery(f"the {name} header is missing: is this request from AWeber?")


def _parse_date(value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise MalformedDelivery("the Date header is not an RFC 7231 date")
    return parsed


def _time(payload: Mapping[str, Any], name: str) -> datetime | None:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None  # AWeber's own example carries "2019-27-12T17:32:09+0000": keep it in raw


def _opt_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def _opt_float(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _location(value: object) -> SignupLocation | None:
    if not isinstance(value, Mapping):
        return None
    metro = value.get("metro_code")
    return SignupLocation(
        city=_opt_str(value, "city"),
        country_code=_opt_str(value, "country_code"),
        country_name=_opt_str(value, "country_name"),
        latitude=_opt_float(value, "latitude"),
        longitude=_opt_float(value, "longitude"),
        metro_code=None if metro is None else str(metro),
        postal_code=_opt_str(value, "postal_code"),
        region_code=_opt_str(value, "region_code"),
        region_name=_opt_str(value, "region_name"),
    )


def _event(item: object) -> SubscriberEvent:
    if not isinstance(item, Mapping) or not isinstance(item.get("payload"), Mapping):
        raise MalformedDelivery("each item of 'data' must be an object with 'event' and 'payload'")
    name, payload = item.get("event"), item["payload"]
    if not isinstance(name, str) or not name:
        raise MalformedDelivery("an item of 'data' has no 'event' name")
    for field in ("account", "list", "id", "email", "status"):
        if not isinstance(payload.get(field), str):
            raise MalformedDelivery(f"a {name} payload has no string {field!r}")
    links = payload.get("links") if isinstance(payload.get("links"), Mapping) else {}
    fields = payload.get("custom_fields")
    tags = payload.get("tags")
    return SubscriberEvent(
        event=name,
        account=payload["account"],
        list=payload["list"],
        id=payload["id"],
        email=payload["email"],
        name=_opt_str(payload, "name"),
        status=payload["status"],
        ad_tracking=_opt_str(payload, "ad_tracking"),
        misc_notes=_opt_str(payload, "misc_notes"),
        custom_fields=dict(fields) if isinstance(fields, Mapping) else {},
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        signup_ip=_opt_str(payload, "signup_ip"),
        signup_location=_location(payload.get("signup_location")),
        subscription_method=_opt_str(payload, "subscription_method"),
        subscription_url=_opt_str(payload, "subscription_url"),
        subscribed_at=_time(payload, "subscribed_at"),
        verified_at=_time(payload, "verified_at"),
        unsubscribed_at=_time(payload, "unsubscribed_at"),
        unsubscribe_method=_opt_str(payload, "unsubscribe_method"),
        account_link=_opt_str(links, "account"),
        list_link=_opt_str(links, "list"),
        subscriber_link=_opt_str(links, "subscriber"),
        raw=payload,
    )


def verify(
    headers: Mapping[str, str],
    body: bytes,
    *,
    key: bytes,
    client_id: str,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> WebhookDelivery:
    """Check a delivery as AWeber documents, plus its Date against ``now``; parse it.

    Order: headers present, signature (constant time), Date within ``tolerance`` seconds of
    ``now``, then the body, whose ``client_id`` must be ``client_id`` (constant time). Nothing
    unsigned is parsed.
    """
    delivery_id = _header(headers, "AWeber-Delivery-ID").strip()
    if not delivery_id or len(delivery_id) > _MAX_ID:
        raise MalformedDelivery(f"the AWeber-Delivery-ID header must be 1 to {_MAX_ID} characters")
    date_header = _header(headers, "Date")
    algorithm, _, sent = _header(headers, "AWeber-Signature").strip().partition("=")
    if algorithm != "sha256":
        raise InvalidSignature("the AWeber-Signature header must be sha256=<hex digest>")
    expected = compute_signature(key, date_header, body).removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), sent.strip().lower().encode()):
        raise InvalidSignature(
            "the AWeber-Signature does not match the body and Date: a wrong verification key, "
            "or the request was changed on the way"
        )
    date = _parse_date(date_header)
    skew = now - date.timestamp()
    if abs(skew) > tolerance:
        when = "old" if skew > 0 else "far in the future"
        raise StaleDelivery(
            f"the delivery's Date is {abs(skew):.0f}s {when} (more than {tolerance:g}s): "
            "a replayed request, or this host's clock is wrong"
        )
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedDelivery("the body is not JSON") from None
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("data"), list):
        raise MalformedDelivery("the body must be an object with a 'data' list")
    sent_client = envelope.get("client_id")
    if not isinstance(sent_client, str) or not hmac.compare_digest(sent_client.encode(), client_id.encode()):
        raise UnknownClient("the delivery is for another app: its client_id is not this app's")
    account, callback = envelope.get("account"), envelope.get("callback")
    return WebhookDelivery(
        delivery_id=delivery_id,
        date=date,
        account=account if isinstance(account, str) else None,
        client_id=sent_client,
        callback=callback if isinstance(callback, str) else "",
        events=tuple(_event(item) for item in envelope["data"]),
    )


class WebhookReceiver:
    """Verification with a clock and replay protection through a store.

    ``store``: any ``OnceStore`` (every built-in token store is one), shared by the processes
    that receive this app's webhooks. ``replay_window``: how long an accepted delivery id is
    remembered; AWeber publishes no retry schedule, and its retries may carry a fresh Date, so
    keep it long (a week by default).
    """

    def __init__(
        self,
        *,
        verification_key: str | bytes,
        client_id: str,
        store: OnceStore,
        tolerance: float = DEFAULT_TOLERANCE,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ConfigurationError("the webhook receiver needs the app's client_id")
        if not isinstance(store, OnceStore):
            raise ConfigurationError(
                "the webhook receiver's store must offer claim_once/release_claim (every built-in store does)"
            )
        self._key = decode_key(verification_key)
        self.client_id = client_id
        self.store = store
        self.tolerance = tolerance
        self.replay_window = replay_window
        self.clock = clock

    def __repr__(self) -> str:
        return f"WebhookReceiver(client_id={self.client_id!r}, tolerance={self.tolerance:g})"

    def _claim_key(self, delivery_id: str) -> str:
        digest = hashlib.sha256(f"{self.client_id}\0{delivery_id}".encode()).hexdigest()
        return f"webhook-delivery:{digest}"

    def accept(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        """Verify and claim a delivery; ReplayedDelivery if its id was accepted before.

        Call :meth:`release` if acting on it then fails, so that AWeber's retry is accepted.
        """
        now = self.clock()
        delivery = verify(
            headers, body, key=self._key, client_id=self.client_id, now=now, tolerance=self.tolerance
        )
        if not self.store.claim_once(
            self._claim_key(delivery.delivery_id), expires_at=now + self.replay_window, now=now
        ):
            raise ReplayedDelivery(f"delivery {delivery.delivery_id} was already accepted")
        return delivery

    def release(self, delivery: WebhookDelivery) -> None:
        """Forget an accepted delivery whose handling failed, so a retry of it is accepted."""
        self.store.release_claim(self._claim_key(delivery.delivery_id))
