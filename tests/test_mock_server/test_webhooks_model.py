"""The mock's webhook model (no HTTP): allow-lists, events, batches, signatures, retries, faults.

Time is the mock's frozen clock; the signature is recomputed here from AWeber's documented
steps, not with the module's function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from mock_server import Clock, MockState
from mock_server.webhooks import Send, WebhookError

NOW = 1_800_000_000.0
APP = "demo-confidential"
PAYLOAD_FIELDS = {
    "account", "ad_tracking", "custom_fields", "email", "id", "links", "list", "misc_notes", "name",
    "signup_ip", "signup_location", "status", "subscribed_at", "subscription_method",
    "subscription_url", "tags", "unsubscribe_method", "unsubscribed_at", "verified_at",
}  # fmt: skip


@pytest.fixture
def state() -> MockState:
    mock = MockState(clock=Clock(NOW, frozen=True))
    mock.webhooks.configure_app(APP, ["http://127.0.0.1:9/hooks/"])
    return mock


def connect(state: MockState, url: str = "http://127.0.0.1:9/hooks/a", account: int = 1) -> str:
    return state.webhooks.subscribe(APP, account, url, "http://mock.test/").id


def add(state: MockState, email: str = "new@example.com", list_id: int = 1001) -> None:
    state.directory.add_subscriber(
        1, list_id, {"email": email, "custom_fields": {"apple": "fuji", "pear": None}}
    )


def documented_signature(key_b64: str, date: str, body: bytes) -> str:
    message = (b"date:" + date.encode() + b"\n" + body).rstrip(b" \t\n\r\x0b\x0c")
    return "sha256=" + hmac.new(base64.b64decode(key_b64), message, hashlib.sha256).hexdigest()


def events_of(send: Send) -> list[str]:
    return [item["event"] for item in json.loads(send.body)["data"]]


def test_the_callback_url_must_start_with_an_allow_listed_prefix(state: MockState) -> None:
    with pytest.raises(WebhookError, match="allow-listed"):
        connect(state, "http://127.0.0.1:9/other")
    # AWeber's prefixes are plain prefixes: its own example allows "/api-unexpected-suffix".
    state.webhooks.configure_app(APP, ["https://example.com/api"])
    assert connect(state, "https://example.com/api-unexpected-suffix")
    with pytest.raises(WebhookError, match="http"):
        connect(state, "ftp://example.com/api")


@pytest.mark.parametrize(
    ("allow_list", "events", "message"),
    [([], None, "allow_list"), (["/relative"], None, "absolute"), (["http://x/"], ["order.paid"], "events")],
)
def test_bad_app_set_ups_are_refused_with_the_reason(
    state: MockState, allow_list: list[str], events: list[str] | None, message: str
) -> None:
    with pytest.raises(WebhookError, match=message):
        state.webhooks.configure_app(APP, allow_list, events)


def test_an_added_subscriber_is_one_signed_batch_of_added_and_subscribed(state: MockState) -> None:
    callback = connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    assert events_of(send) == ["subscriber.added", "subscriber.subscribed"]
    key = state.webhooks.app(APP).verification_key
    assert send.headers["AWeber-Signature"] == documented_signature(key, send.headers["Date"], send.body)
    assert parsedate_to_datetime(send.headers["Date"]).timestamp() == NOW
    assert send.headers["Content-Type"] == "application/vnd.aweber.webhook+json; version=1.0"
    envelope = json.loads(send.body)
    assert envelope["client_id"] == APP
    assert envelope["callback"] == callback
    payload = envelope["data"][0]["payload"]
    assert set(payload) == PAYLOAD_FIELDS
    assert envelope["account"] == payload["account"]
    assert payload["custom_fields"] == {"apple": "fuji"}  # fields without values are omitted
    assert payload["links"]["subscriber"].startswith(
        "http://mock.test/1.0/accounts/1/lists/1001/subscribers/"
    )
    assert payload["status"] == "subscribed"
    assert send.copies == 1
    assert not send.drop


def test_only_the_accounts_own_callbacks_get_its_events(state: MockState) -> None:
    other = state.add_user("other", "password")["account_id"]
    connect(state, "http://127.0.0.1:9/hooks/other", account=other)
    mine = connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    assert json.loads(send.body)["callback"] == mine


def test_only_the_events_the_app_selected_are_sent(state: MockState) -> None:
    state.webhooks.configure_app(APP, ["http://127.0.0.1:9/hooks/"], ["subscriber.unsubscribed"])
    connect(state)
    add(state)
    assert state.webhooks.take_due() == []
    subscriber = state.directory.subscriber_by_email(1, 1001, "new@example.com")
    state.directory.update_subscriber(1, 1001, subscriber.id, {"status": "unsubscribed"})
    (send,) = state.webhooks.take_due()
    payload = json.loads(send.body)["data"][0]["payload"]
    assert events_of(send) == ["subscriber.unsubscribed"]
    assert payload["unsubscribe_method"] == "api: unsubscribe"
    assert payload["status"] == "unsubscribed"


def test_a_move_unsubscribes_from_one_list_and_adds_to_the_other(state: MockState) -> None:
    connect(state)
    subscriber = state.directory.subscriber_by_email(1, 1001, "subscriber002@example.com")
    state.directory.move_subscriber(1, 1001, subscriber.id, 1002)
    (send,) = state.webhooks.take_due()
    data = json.loads(send.body)["data"]
    assert [item["event"] for item in data] == [
        "subscriber.unsubscribed",
        "subscriber.added",
        "subscriber.subscribed",
    ]
    assert data[0]["payload"]["unsubscribe_method"] == "api: move"
    assert data[0]["payload"]["list"] != data[1]["payload"]["list"]


def test_events_waiting_while_paused_go_out_together_in_batches_of_batch_size(state: MockState) -> None:
    connect(state)
    state.webhooks.update_settings({"paused": True, "batch_size": 4})
    for number in range(3):
        add(state, f"new{number}@example.com")
    assert state.webhooks.take_due() == []
    state.webhooks.update_settings({"paused": False})
    sends = state.webhooks.take_due()
    assert [len(events_of(s)) for s in sends] == [4, 2]
    assert len({s.delivery_id for s in sends}) == 2


def answer(state: MockState, send: Send, status: int | None) -> Any:
    return state.webhooks.record(send.delivery_id, status, None if status else "refused")


def test_a_non_2xx_answer_is_retried_on_the_mock_clock_then_given_up(state: MockState) -> None:
    connect(state)
    state.webhooks.update_settings({"retries": 2, "retry_delay": 10})
    add(state)
    (first,) = state.webhooks.take_due()
    assert answer(state, first, 500).state == "pending"
    assert state.webhooks.take_due() == []
    state.clock.advance(9.9)
    assert state.webhooks.take_due() == []
    state.clock.advance(0.1)
    (second,) = state.webhooks.take_due()
    assert second.delivery_id == first.delivery_id  # a retry keeps the id and the body ...
    assert second.body == first.body
    assert second.headers["Date"] != first.headers["Date"]  # ... and is signed afresh
    assert answer(state, second, None).state == "pending"
    state.clock.advance(20)  # the delay doubles
    (third,) = state.webhooks.take_due()
    delivery = answer(state, third, 503)
    assert delivery.state == "failed"
    assert [a.status for a in delivery.attempts] == [500, None, 503]
    state.clock.advance(3600)
    assert state.webhooks.take_due() == []


def test_a_2xx_answer_ends_the_delivery(state: MockState) -> None:
    connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    assert answer(state, send, 204).state == "delivered"
    state.clock.advance(3600)
    assert state.webhooks.take_due() == []


def test_drop_fault_loses_the_first_attempt_and_the_retry_recovers_it(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "drop"})
    add(state)
    (send,) = state.webhooks.take_due()
    assert send.drop
    answer(state, send, None)
    state.clock.advance(1)
    (retry,) = state.webhooks.take_due()
    assert not retry.drop
    assert retry.delivery_id == send.delivery_id


def test_drop_without_retries_loses_the_delivery(state: MockState) -> None:
    connect(state)
    state.webhooks.update_settings({"retries": 0})
    state.webhooks.add_fault({"kind": "drop"})
    add(state)
    (send,) = state.webhooks.take_due()
    assert answer(state, send, None).state == "lost"


def test_duplicate_fault_sends_two_copies(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "duplicate"})
    add(state)
    add(state, "second@example.com")  # the fault was used up by the first delivery
    (send,) = state.webhooks.take_due()
    assert send.copies == 2


def test_delay_fault_holds_a_delivery_on_the_mock_clock(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "delay", "delay_seconds": 30})
    add(state)
    assert state.webhooks.take_due() == []
    add(state, "later@example.com")
    (later,) = state.webhooks.take_due()
    assert json.loads(later.body)["data"][0]["payload"]["email"] == "later@example.com"
    state.clock.advance(30)
    (delayed,) = state.webhooks.take_due()
    assert json.loads(delayed.body)["data"][0]["payload"]["email"] == "new@example.com"


def test_reorder_fault_releases_held_deliveries_newest_first(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "reorder", "count": 3})
    emails = []
    for number in range(3):
        add(state, f"n{number}@example.com")
        emails.append(f"n{number}@example.com")
        sends = state.webhooks.take_due()
        if number < 2:
            assert sends == []
    assert [json.loads(s.body)["data"][0]["payload"]["email"] for s in sends] == emails[::-1]
    assert state.webhooks.faults() == []


def test_clearing_faults_releases_a_partial_reorder(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "reorder", "count": 5})
    add(state)
    assert state.webhooks.take_due() == []
    state.webhooks.clear_faults()
    assert len(state.webhooks.take_due()) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "drop", "count": 0}, "count"),
        ({"kind": "reorder", "count": 1}, "at least 2"),
        ({"kind": "delay"}, "delay_seconds"),
        ({"kind": "drop", "path": "/x"}, "unknown field"),
    ],
)
def test_bad_fault_specs_are_refused_with_the_reason(
    state: MockState, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(WebhookError, match=message):
        state.webhooks.add_fault(spec)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retries": -1}, "retries"),
        ({"timeout": "5"}, "timeout"),
        ({"paused": 1}, "paused"),
        ({"x": 1}, "unknown"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(
    state: MockState, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(WebhookError, match=message):
        state.webhooks.update_settings(changes)


def test_reset_forgets_apps_callbacks_and_deliveries(state: MockState) -> None:
    connect(state)
    add(state)
    state.reset()
    assert state.webhooks.apps() == []
    assert state.webhooks.callbacks() == []
    assert state.webhooks.take_due() == []
    assert state.webhooks.deliveries() == []


def test_the_delivery_view_holds_no_body_or_signature(state: MockState) -> None:
    connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    view = json.dumps([d.view() for d in state.webhooks.deliveries()])
    assert "new@example.com" not in view
    assert send.headers["AWeber-Signature"].removeprefix("sha256=") not in view


# -- every pair of transitions of a delivery: pending -> sending -> delivered | pending | failed
# | lost, against reset, removing the callback, pausing and clearing faults.


def test_an_answer_after_a_reset_is_ignored(state: MockState) -> None:
    connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    state.reset()
    assert state.webhooks.record(send.delivery_id, 200) is None
    assert state.webhooks.deliveries() == []


def test_removing_the_callback_cancels_what_waits_and_what_is_in_flight(state: MockState) -> None:
    callback = connect(state)
    state.webhooks.update_settings({"paused": True})
    add(state)
    state.webhooks.update_settings({"paused": False})
    (in_flight,) = state.webhooks.take_due()
    add(state, "waiting@example.com")  # an event not yet batched
    assert state.webhooks.unsubscribe(callback)
    delivery = state.webhooks.record(in_flight.delivery_id, 500)
    assert delivery is not None
    assert delivery.state == "cancelled"  # no retry for a URL the customer removed
    state.clock.advance(3600)
    assert state.webhooks.take_due() == []


def test_removing_the_callback_cancels_a_retry_that_waits(state: MockState) -> None:
    callback = connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    state.webhooks.record(send.delivery_id, 503)
    state.webhooks.unsubscribe(callback)
    state.clock.advance(3600)
    assert state.webhooks.take_due() == []
    assert [d.state for d in state.webhooks.deliveries()] == ["cancelled"]


def test_a_pause_holds_a_retry_until_resumed(state: MockState) -> None:
    connect(state)
    add(state)
    (send,) = state.webhooks.take_due()
    state.webhooks.record(send.delivery_id, 500)
    state.webhooks.update_settings({"paused": True})
    state.clock.advance(60)
    assert state.webhooks.take_due() == []
    assert state.webhooks.next_due_at() is None
    state.webhooks.update_settings({"paused": False})
    assert [s.delivery_id for s in state.webhooks.take_due()] == [send.delivery_id]


def test_a_delivery_in_flight_is_not_handed_out_twice(state: MockState) -> None:
    connect(state)
    add(state)
    assert len(state.webhooks.take_due()) == 1
    state.clock.advance(3600)
    assert state.webhooks.take_due() == []


def test_clearing_faults_while_a_dropped_attempt_is_in_flight_keeps_the_retry(state: MockState) -> None:
    connect(state)
    state.webhooks.add_fault({"kind": "drop", "count": 2})
    add(state)
    (send,) = state.webhooks.take_due()
    state.webhooks.clear_faults()
    state.webhooks.record(send.delivery_id, None, "dropped")
    state.clock.advance(1)
    (retry,) = state.webhooks.take_due()
    assert not retry.drop


def test_emits_from_many_threads_all_arrive_once(state: MockState) -> None:
    connect(state)
    state.webhooks.update_settings({"paused": True, "batch_size": 1000})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: add(state, f"t{n}@example.com"), range(40)))
    state.webhooks.update_settings({"paused": False})
    sends = state.webhooks.take_due()
    emails = [item["payload"]["email"] for s in sends for item in json.loads(s.body)["data"]]
    assert sorted(set(emails)) == sorted(f"t{n}@example.com" for n in range(40))
    assert len(emails) == 80  # added and subscribed for each


def test_resubscribing_an_unsubscribed_subscriber_emits_subscribed(state: MockState) -> None:
    connect(state)
    former = state.directory.subscriber_by_email(1, 1002, "former@example.com")
    state.directory.update_subscriber(1, 1002, former.id, {"status": "subscribed"})
    (send,) = state.webhooks.take_due()
    (item,) = json.loads(send.body)["data"]
    assert item["event"] == "subscriber.subscribed"
    assert item["payload"]["email"] == "former@example.com"
    assert item["payload"]["unsubscribe_method"] is None
