"""The broadcast state machine without HTTP: mock_server.mailings."""

from __future__ import annotations

import pytest

from mock_server.api.model import NotFound, Subscriber
from mock_server.mailings import Broadcast, Mailings, SchedulingError, statistics


def people(count: int) -> list[Subscriber]:
    return [Subscriber(n, f"u{n}", 1, f"p{n}@example.com", "subscribed", 0.0) for n in range(count)]


def mailings(seed: int = 0, audience: int = 40) -> Mailings:
    crowd = people(audience)
    return Mailings(lambda _: crowd, seed)


def test_a_handler_holding_a_deleted_broadcast_cannot_bring_it_back() -> None:
    book = mailings()
    held = book.create(1, 0.0, subject="s", body_text="t")
    book.delete(held)
    for act in (
        lambda: book.schedule(held, 100.0, 0.0),
        lambda: book.cancel(held, 0.0),
        lambda: book.replace(held, subject="x"),
    ):
        with pytest.raises(NotFound):
            act()
    assert book.broadcasts(1, "scheduled", 0.0) == []


def test_sending_happens_when_the_clock_passes_scheduled_for_and_not_before() -> None:
    book = mailings()
    item = book.create(1, 0.0, subject="s", body_text="t")
    book.schedule(item, 100.0, 0.0)
    assert book.broadcast(1, item.id, 99.9).status == "scheduled"
    assert book.broadcast(1, item.id, 100.0).status == "sent"
    assert item.sent_at == 100.0
    with pytest.raises(SchedulingError):
        book.schedule(item, 200.0, 100.0)
    book.cancel(item, 150.0)
    assert item.status == "sent"


def test_events_are_the_seeds_and_show_only_once_they_happened() -> None:
    def sent(seed: int) -> tuple[Mailings, Broadcast]:
        book = mailings(seed)
        item = book.create(1, 0.0, subject="s", body_text="t")
        book.schedule(item, 10.0, 0.0)
        book.catch_up(10.0)
        return book, item

    (book, one), (_, same), (_, other) = sent(5), sent(5), sent(6)
    key = [(e.kind, e.at, e.subscriber.id, e.url) for e in one.events]
    assert key == [(e.kind, e.at, e.subscriber.id, e.url) for e in same.events]
    assert key != [(e.kind, e.at, e.subscriber.id, e.url) for e in other.events]
    early = book.visible_events(one, "open", 10.0 + 600)
    late = book.visible_events(one, "open", 10.0 + 3600)
    assert len(early) < len(late) == len([e for e in one.events if e.kind == "open"])
    stats = statistics(one, late, book.visible_events(one, "click", 10.0 + 3600))
    assert stats["unique_opens"] == len({e.subscriber.id for e in late})
    assert sum(stats["hourly_opens"]) == len(late)  # type: ignore[arg-type]
