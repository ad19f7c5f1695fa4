"""oob_helper.webhooks: AWeber's documented signature, freshness, client id, replays, parsing.

The signature is checked against AWeber's own published example and against the algorithm
computed here independently (hashlib/hmac from the documented steps, not the module's code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from email.utils import formatdate
from typing import Any

import pytest

from oob_helper.errors import ConfigurationError
from oob_helper.stores import open_store
from oob_helper.webhooks import (
    InvalidSignature,
    MalformedDelivery,
    ReplayedDelivery,
    StaleDelivery,
    UnknownClient,
    WebhookReceiver,
    compute_signature,
    decode_key,
    verify,
)

# AWeber's "Verifying Webhook Payloads" example, byte for byte.
DOC_KEY = "bXktdmVyaWZpY2F0aW9uLWtleQ=="
DOC_DATE = "Mon, 21 Oct 2019 19:05:20 GMT"
DOC_BODY = (
    b'{"account": null\n,"client_id": "fKcKvImyD2pQmRDWYSFx92rReytdL4Jh"\n'
    b',"callback": "5AB10F8A-EC5A-40E8-AF0B-7DC8DF580E55"\n,"data": []}'
)
DOC_SIGNATURE = "sha256=74856469e8a97c0939a8d398460e1ffc83e4e40a46e657c61e9d3723035df10a"
DOC_CLIENT = "fKcKvImyD2pQmRDWYSFx92rReytdL4Jh"
DOC_NOW = 1571684720.0  # the example's Date

KEY = base64.b64encode(b"k" * 32).decode()
CLIENT = "my-client-id"
NOW = 1_800_000_000.0


def independent_signature(key_b64: str, date: str, body: bytes) -> str:
    """The documented steps, written out: rstrip(b'date:' + Date + b'\\n' + body), HMAC-SHA256."""
    message = b"date:" + date.encode() + b"\n" + body
    while message and message[-1:] in (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c"):
        message = message[:-1]
    digest = hmac.new(base64.b64decode(key_b64), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def envelope(*events: tuple[str, dict[str, Any]], client_id: str = CLIENT) -> bytes:
    data = [{"event": name, "payload": payload} for name, payload in events]
    body = {"account": "acc-uuid", "client_id": client_id, "callback": "cb-uuid", "data": data}
    return json.dumps(body, indent=2).encode()


def payload(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account": "acc-uuid",
        "ad_tracking": "control panel",
        "custom_fields": {"apple": "fuji"},
        "email": "example@example.com",
        "id": "sub-uuid",
        "links": {"account": "https://a/1", "list": "https://a/1/l", "subscriber": "https://a/1/l/s"},
        "list": "list-uuid",
        "misc_notes": "",
        "name": "Webhooks Tester",
        "signup_ip": "204.194.222.28",
        "signup_location": {"city": "Chalfont", "latitude": 40.2964, "metro_code": "504"},
        "status": "subscribed",
        "subscribed_at": "2019-10-16T19:05:20-05:00",
        "subscription_method": "webform",
        "subscription_url": "https://www.aweber.com/users/leads/add",
        "tags": ["a"],
        "unsubscribe_method": None,
        "unsubscribed_at": None,
        "verified_at": "2019-12-27T10:11:55",
    }
    base.update(changes)
    return base


def signed(
    body: bytes, *, date: str | None = None, key: str = KEY, delivery_id: str = "d-1"
) -> dict[str, str]:
    date = date or formatdate(NOW, usegmt=True)
    return {
        "AWeber-Delivery-ID": delivery_id,
        "Date": date,
        "AWeber-Signature": independent_signature(key, date, body),
        "Content-Type": "application/vnd.aweber.webhook+json; version=1.0",
    }


def test_the_documented_example_verifies() -> None:
    assert independent_signature(DOC_KEY, DOC_DATE, DOC_BODY) == DOC_SIGNATURE
    assert compute_signature(decode_key(DOC_KEY), DOC_DATE, DOC_BODY) == DOC_SIGNATURE
    headers = {"AWeber-Delivery-ID": "238D534C", "Date": DOC_DATE, "AWeber-Signature": DOC_SIGNATURE}
    delivery = verify(headers, DOC_BODY, key=decode_key(DOC_KEY), client_id=DOC_CLIENT, now=DOC_NOW)
    assert delivery.delivery_id == "238D534C"
    assert delivery.callback == "5AB10F8A-EC5A-40E8-AF0B-7DC8DF580E55"
    assert delivery.account is None
    assert delivery.events == ()


@pytest.mark.parametrize("tail", [b"", b"\n", b" \t\r\n\x0b\x0c", b"\n\n  "])
def test_trailing_whitespace_is_stripped_before_signing(tail: bytes) -> None:
    body = envelope(("subscriber.added", payload())) + tail
    assert compute_signature(decode_key(KEY), "d", body) == independent_signature(KEY, "d", body)
    assert compute_signature(decode_key(KEY), "d", body) == compute_signature(
        decode_key(KEY), "d", body.rstrip()
    )


def test_a_signed_delivery_parses_into_typed_events() -> None:
    body = envelope(("subscriber.added", payload()), ("subscriber.subscribed", payload(tags=["x", 3])))
    delivery = verify(signed(body), body, key=decode_key(KEY), client_id=CLIENT, now=NOW)
    first, second = delivery.events
    assert (first.event, second.event) == ("subscriber.added", "subscriber.subscribed")
    assert first.email == "example@example.com"
    assert first.custom_fields == {"apple": "fuji"}
    assert first.subscriber_link == "https://a/1/l/s"
    assert first.signup_location is not None
    assert first.signup_location.metro_code == "504"
    assert first.signup_location.latitude == pytest.approx(40.2964)
    assert first.subscribed_at is not None
    assert first.subscribed_at.utcoffset() is not None
    assert second.tags == ("x",)
    assert first.raw["ad_tracking"] == "control panel"


def test_headers_are_found_whatever_their_case() -> None:
    body = envelope()
    headers = {k.lower(): v for k, v in signed(body).items()}
    assert verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW).delivery_id == "d-1"


def test_a_wrong_key_is_refused() -> None:
    body = envelope(("subscriber.added", payload()))
    other = base64.b64encode(b"x" * 32).decode()
    with pytest.raises(InvalidSignature, match="wrong verification key"):
        verify(signed(body, key=other), body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


def test_a_changed_body_is_refused() -> None:
    body = envelope(("subscriber.added", payload()))
    headers = signed(body)
    changed = body.replace(b"example@example.com", b"attacker@example.com")
    with pytest.raises(InvalidSignature):
        verify(headers, changed, key=decode_key(KEY), client_id=CLIENT, now=NOW)


def test_a_changed_date_is_refused() -> None:
    body = envelope()
    headers = signed(body)
    headers["Date"] = formatdate(NOW + 1, usegmt=True)
    with pytest.raises(InvalidSignature):
        verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


@pytest.mark.parametrize(("offset", "word"), [(-301, "old"), (301, "future")])
def test_a_date_outside_the_tolerance_is_refused(offset: float, word: str) -> None:
    body = envelope()
    headers = signed(body, date=formatdate(NOW + offset, usegmt=True))
    with pytest.raises(StaleDelivery, match=word):
        verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW)
    assert verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW + offset).delivery_id


def test_another_apps_client_id_is_refused() -> None:
    body = envelope(client_id="someone-else")
    with pytest.raises(UnknownClient):
        verify(signed(body), body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


@pytest.mark.parametrize("missing", ["AWeber-Delivery-ID", "Date", "AWeber-Signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    body = envelope()
    headers = signed(body)
    del headers[missing]
    with pytest.raises(MalformedDelivery, match=missing):
        verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


@pytest.mark.parametrize("value", ["md5=abc", "74856469e8a9", "sha256=", "sha256=zz"])
def test_a_malformed_signature_is_refused(value: str) -> None:
    body = envelope()
    headers = signed(body)
    headers["AWeber-Signature"] = value
    with pytest.raises(InvalidSignature):
        verify(headers, body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"client_id": "my-client-id"}', b'{"client_id": "my-client-id", "data": [1]}'],
)
def test_a_signed_but_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedDelivery):
        verify(signed(body), body, key=decode_key(KEY), client_id=CLIENT, now=NOW)


def test_a_key_that_is_not_base64_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="base64"):
        decode_key("not base64!")


def receiver(clock: list[float]) -> WebhookReceiver:
    return WebhookReceiver(
        verification_key=KEY, client_id=CLIENT, store=open_store("memory://"), clock=lambda: clock[0]
    )


def test_the_receiver_refuses_a_replayed_delivery_id() -> None:
    now = [NOW]
    hooks = receiver(now)
    body = envelope(("subscriber.added", payload()))
    assert hooks.accept(signed(body), body).delivery_id == "d-1"
    with pytest.raises(ReplayedDelivery):
        hooks.accept(signed(body), body)
    # A retry signed later, with a fresh Date, is still the same delivery.
    now[0] += 120
    with pytest.raises(ReplayedDelivery):
        hooks.accept(signed(body, date=formatdate(now[0], usegmt=True)), body)
    assert hooks.accept(signed(body, delivery_id="d-2", date=formatdate(now[0], usegmt=True)), body)


def test_a_released_delivery_is_accepted_again() -> None:
    hooks = receiver([NOW])
    body = envelope()
    delivery = hooks.accept(signed(body), body)
    hooks.release(delivery)
    assert hooks.accept(signed(body), body).delivery_id == delivery.delivery_id


def test_the_receiver_checks_the_date_on_its_own_clock() -> None:
    now = [NOW + 3600]
    with pytest.raises(StaleDelivery):
        receiver(now).accept(signed(envelope()), envelope())


def test_the_receiver_repr_holds_no_key() -> None:
    hooks = receiver([NOW])
    assert KEY not in repr(hooks)
    assert "k" * 32 not in repr(hooks)


def test_the_receiver_needs_a_once_store() -> None:
    with pytest.raises(ConfigurationError, match="claim_once"):
        WebhookReceiver(verification_key=KEY, client_id=CLIENT, store=object())  # type: ignore[arg-type]
