"""The API slice's data and rules, without HTTP: demo data, paging maths, finds, writes, limits."""

from __future__ import annotations

import pytest

from mock_server.api.model import BadRequest, NotAllowed, NotFound, Page, parse_paging
from mock_server.clock import Clock
from mock_server.config import MockConfig
from mock_server.directory import Directory
from mock_server.ratelimit import RateLimited, RateLimiter

START = 1_800_000_000.0


@pytest.fixture
def clock() -> Clock:
    return Clock(START, frozen=True)


@pytest.fixture
def directory(clock: Clock) -> Directory:
    return Directory(clock)


def test_demo_account_has_two_lists_and_250_subscribers_on_the_first(directory: Directory) -> None:
    account_id = directory.create_account("demo", demo_data=True)
    first, second = directory.lists(account_id)
    assert len(directory.subscribers(account_id, first.id)) == 250
    assert {sub.status for sub in directory.subscribers(account_id, first.id)} == {"subscribed"}
    assert sorted(sub.status for sub in directory.subscribers(account_id, second.id)) == [
        "subscribed",
        "unconfirmed",
        "unsubscribed",
    ]
    counts = directory.list_counts(first)
    assert counts["total_subscribers"] == 250
    assert counts["total_subscribed_subscribers"] == 250


def test_accounts_without_demo_data_are_empty_and_ids_restart_after_reset(directory: Directory) -> None:
    first = directory.create_account("demo", demo_data=True)
    other = directory.create_account("alice")
    assert other == first + 1
    assert directory.lists(other) == []
    before = [sub.uuid for sub in directory.subscribers(first, directory.lists(first)[0].id)]
    directory.reset()
    assert directory.create_account("demo", demo_data=True) == first
    after = [sub.uuid for sub in directory.subscribers(first, directory.lists(first)[0].id)]
    assert after == before


@pytest.mark.parametrize(
    ("start", "size", "total", "entries", "next_start", "prev_start"),
    [
        (0, 100, 250, range(0, 100), 100, None),
        (100, 100, 250, range(100, 200), 200, 0),
        (200, 100, 250, range(200, 250), None, 100),
        (0, 100, 100, range(0, 100), None, None),
        (0, 1, 0, range(0), None, None),
        (5, 10, 250, range(5, 15), 15, 0),
        (300, 100, 250, range(0), None, 200),
        (249, 1, 250, range(249, 250), None, 248),
    ],
)
def test_paging_maths(
    start: int,
    size: int,
    total: int,
    entries: range,
    next_start: int | None,
    prev_start: int | None,
) -> None:
    page = Page(start, size, total)
    assert page.take(list(range(total))) == list(entries)
    assert page.next_start == next_start
    assert page.prev_start == prev_start


def test_paging_defaults_are_start_0_and_size_100() -> None:
    assert parse_paging(None, None, 250) == Page(0, 100, 250)
    assert parse_paging("", "", 5) == Page(0, 100, 5)
    assert parse_paging(" 7 ", "1", 5) == Page(7, 1, 5)


@pytest.mark.parametrize(
    ("start", "size", "message"),
    [
        (None, "101", 'Maximum for "ws.size" parameter is 100.'),
        (None, "0", 'Minimum for "ws.size" parameter is 1.'),
        ("-1", None, 'Minimum for "ws.start" parameter is 0.'),
        ("abc", None, 'Invalid value for "ws.start" parameter'),
        (None, "1.5", 'Invalid value for "ws.size" parameter'),
        (None, "9" * 40, 'Invalid value for "ws.size" parameter'),
    ],
)
def test_invalid_paging_values_are_refused(start: str | None, size: str | None, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_paging(start, size, 10)
    assert info.value.message.startswith(message)


def test_find_filters_match_exactly_and_combine(directory: Directory) -> None:
    account_id = directory.create_account("demo", demo_data=True)
    first, _ = directory.lists(account_id)
    found = directory.find_subscribers(account_id, first.id, {"email": "subscriber010@example.com"})
    assert [sub.email for sub in found] == ["subscriber010@example.com"]
    assert directory.find_subscribers(account_id, first.id, {"email": "SUBSCRIBER010@example.com"}) == []
    vip = directory.find_subscribers(account_id, first.id, {"tags": '["vip"]'})
    assert len(vip) == 25
    assert len(directory.find_subscribers(account_id, first.id, {"tags_not_in": '["vip"]'})) == 225
    everywhere = directory.find_subscribers(account_id, None, {"email": "subscriber001@example.com"})
    assert len(everywhere) == 2
    assert len(directory.find_subscribers(account_id, None, {})) == 253
    assert [s.status for s in directory.find_subscribers(account_id, None, {"status": "unconfirmed"})] == [
        "unconfirmed"
    ]
    with pytest.raises(BadRequest):
        directory.find_subscribers(account_id, first.id, {"status": "bogus"})
    with pytest.raises(BadRequest):
        directory.find_subscribers(account_id, first.id, {"tags": "not json"})


def test_add_update_delete_and_their_refusals(directory: Directory, clock: Clock) -> None:
    account_id = directory.create_account("demo", demo_data=True)
    first, second = directory.lists(account_id)
    sub, created = directory.add_subscriber(
        account_id, first.id, {"email": "new@example.com", "name": "New", "tags": ["A"]}
    )
    assert created
    assert (sub.status, sub.tags) == ("subscribed", ["a"])
    assert sub.subscribed_at == pytest.approx(START)
    with pytest.raises(BadRequest, match="already subscribed"):
        directory.add_subscriber(account_id, first.id, {"email": "NEW@example.com"})
    again, created = directory.add_subscriber(
        account_id, first.id, {"email": "new@example.com", "update_existing": "true", "tags": ["b"]}
    )
    assert (again.id, created, again.tags) == (sub.id, False, ["a", "b"])
    clock.advance(10)
    updated = directory.update_subscriber(
        account_id, first.id, sub.id, {"status": "unsubscribed", "tags": {"add": ["c"], "remove": ["a"]}}
    )
    assert (updated.status, updated.tags) == ("unsubscribed", ["b", "c"])
    assert updated.unsubscribed_at == pytest.approx(START + 10)
    assert [item.type for item in directory.activity(account_id, first.id, sub.id)] == [
        "subscribed",
        "unsubscribed",
    ]
    with pytest.raises(BadRequest):
        directory.update_subscriber(account_id, first.id, sub.id, {"status": "unconfirmed"})
    with pytest.raises(NotAllowed):
        directory.delete_subscriber(account_id, first.id, sub.id)
    pending = directory.subscriber_by_email(account_id, second.id, "pending@example.com")
    with pytest.raises(NotAllowed):
        directory.delete_subscriber(account_id, second.id, pending.id)
    kept = directory.subscribers(account_id, first.id)[0]
    directory.delete_subscriber(account_id, first.id, kept.id)
    with pytest.raises(NotFound):
        directory.subscriber(account_id, first.id, kept.id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "email: Missing required argument."),
        ({"email": "not-an-address"}, "email: Invalid email address."),
        ({"email": "x@example.com\n"}, "email: Invalid email address."),
        ({"email": "a" * 45 + "@example.com"}, "email: Value is longer than 50 characters."),
        ({"email": 5}, "email: Expected a string."),
        ({"email": "x@example.com", "name": "n" * 61}, "name: Value is longer than 60 characters."),
        ({"email": "x@example.com", "ip_address": "10.0.0.1"}, "Invalid Subscriber IP address."),
        ({"email": "x@example.com", "ip_address": "nope"}, "ip_address: Invalid IP address."),
        ({"email": "x@example.com", "tags": "a,b"}, "tags: Invalid JSON."),
        ({"email": "x@example.com", "custom_fields": [1]}, "custom_fields: Expected an object."),
        ({"email": "x@example.com", "last_followup_message_number_sent": 1002}, "last_followup"),
        ({"email": "x@example.com", "update_existing": "maybe"}, "update_existing"),
    ],
)
def test_add_subscriber_validation(directory: Directory, fields: dict[str, object], message: str) -> None:
    account_id = directory.create_account("demo", demo_data=True)
    first, _ = directory.lists(account_id)
    with pytest.raises(BadRequest) as info:
        directory.add_subscriber(account_id, first.id, fields)
    assert info.value.message.startswith(message)


def test_unknown_ids_are_not_found(directory: Directory) -> None:
    account_id = directory.create_account("demo", demo_data=True)
    with pytest.raises(NotFound):
        directory.mailing_list(account_id, 1)
    with pytest.raises(NotFound):
        directory.account(99)
    with pytest.raises(NotFound):
        directory.subscriber_by_email(account_id, directory.lists(account_id)[0].id, "nobody@example.com")


def test_rate_limiter_allows_120_a_minute_then_locks_out_for_60_seconds(clock: Clock) -> None:
    limiter = RateLimiter(clock, MockConfig())
    for _ in range(120):
        limiter.hit(1)
    with pytest.raises(RateLimited) as info:
        limiter.hit(1)
    assert info.value.until == pytest.approx(START + 60)
    limiter.hit(2)  # per account
    clock.advance(59.9)
    with pytest.raises(RateLimited):
        limiter.hit(1)
    clock.advance(0.1)
    limiter.hit(1)


def test_rate_limiter_window_slides_and_can_be_switched_off(clock: Clock) -> None:
    limiter = RateLimiter(clock, MockConfig(rate_limit_per_minute=3, rate_limit_lockout=5))
    limiter.hit(1)
    clock.advance(30)
    limiter.hit(1)
    limiter.hit(1)
    clock.advance(30)  # the first hit has left the window
    limiter.hit(1)
    with pytest.raises(RateLimited):
        limiter.hit(1)
    limiter.enabled = False
    limiter.hit(1)
    limiter.reset()
    assert limiter.enabled
    limiter.hit(1)
    assert not RateLimiter(clock, MockConfig(rate_limit_enabled=False)).enabled
