"""Broadcasts and followup campaigns, driven by the mock's clock. Pure (no HTTP types).

Lifecycle (aweber-api.md, "Broadcast lifecycle"): a broadcast is created as a draft, edited
with PUT, scheduled for a future time and cancelled back to a draft. When the clock passes
``scheduled_for`` it is sent: ``sent_at`` is the scheduled time, and each recipient (the
subscribed subscribers of the included lists, less the excluded lists' addresses) gets opens
and clicks drawn from a random generator seeded with the mock's data seed and the broadcast
id, so the same seed gives the same events. Events carry times up to an hour after sending
and show (in opens, clicks, stats) only once the clock has reached them.

Nothing runs in the background: every reader calls :meth:`Mailings.catch_up` first, so what
a client sees follows the clock exactly, frozen or advanced.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mock_server.api.model import NotFound, Subscriber

STATUSES = ("draft", "scheduled", "sent")
LINKS = ("https://example.com/offer", "https://example.com/blog", "https://example.com/unsubscribe-help")
_NAMESPACE = uuid.UUID("3d5e0f8a-1c2b-4e6d-8f90-a1b2c3d4e5f6")


class SchedulingError(Exception):
    """A broadcast in the wrong state for the request (AWeber: 409 BroadcastSchedulingError)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Event:
    """One open or click of a sent broadcast."""

    key: int  # position in the broadcast's event sequence; cursors are built from it
    kind: str  # "open" or "click"
    at: float
    subscriber: Subscriber
    url: str | None = None


@dataclass
class Broadcast:
    """A broadcast of one list; ``api_created`` ones alone may be edited and deleted."""

    id: int
    uuid: str
    list_id: int
    subject: str
    body_html: str | None
    body_text: str | None
    created_at: float
    body_amp: str | None = None
    click_tracking_enabled: bool = True
    include_lists: list[int] = field(default_factory=list)
    exclude_lists: list[int] = field(default_factory=list)
    segment_id: int | None = None
    facebook_integration: int | None = None
    twitter_integration: int | None = None
    is_archived: bool = True
    notify_on_send: bool = True
    status: str = "draft"
    scheduled_for: float | None = None
    sent_at: float | None = None
    api_created: bool = True
    num_emailed: int = 0
    events: list[Event] = field(default_factory=list)


@dataclass
class Followup:
    """A followup (autoresponder) message of a list."""

    id: int
    list_id: int
    subject: str
    message_number: int
    message_interval: int
    content_type: str = "HTML"
    total_sent: int = 0
    total_opens: int = 0
    total_clicks: int = 0


Recipients = Callable[[Broadcast], Sequence[Subscriber]]


class Mailings:
    """Every broadcast and followup; ``recipients`` resolves a broadcast's audience."""

    def __init__(self, recipients: Recipients, seed: int = 0) -> None:
        self._recipients = recipients
        self.seed = seed
        self._lock = threading.RLock()
        self.reset()

    def __getstate__(self) -> dict[str, object]:
        # The audience resolver is the owning Directory's method; it re-binds it on restore.
        return {k: v for k, v in vars(self).items() if k != "_recipients"}

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self.broadcasts_by_id: dict[int, Broadcast] = {}
            self.followups_by_id: dict[int, Followup] = {}
            self._next_broadcast = 3_000_001
            self._next_followup = 4_000_001

    # -- the clock ----------------------------------------------------------------------------

    def catch_up(self, now: float) -> None:
        """Send every scheduled broadcast whose time has come (oldest first)."""
        with self._lock:
            due = sorted(
                (b for b in self.broadcasts_by_id.values() if b.status == "scheduled"),
                key=lambda b: (b.scheduled_for or 0.0, b.id),
            )
            for broadcast in due:
                if broadcast.scheduled_for is not None and broadcast.scheduled_for <= now:
                    self._send(broadcast)

    def _send(self, broadcast: Broadcast) -> None:
        sent_at = broadcast.scheduled_for or 0.0
        rng = random.Random(f"{self.seed}:{broadcast.id}")  # noqa: S311 -- reproducible, not secret
        events: list[Event] = []
        audience = list(self._recipients(broadcast))
        for subscriber in audience:
            if rng.random() < 0.55:
                events.append(Event(0, "open", sent_at + rng.uniform(30, 3600), subscriber))
                if broadcast.click_tracking_enabled and rng.random() < 0.5:
                    for _ in range(rng.randint(1, 3)):
                        at = sent_at + rng.uniform(60, 3600)
                        events.append(Event(0, "click", at, subscriber, rng.choice(LINKS)))
        events.sort(key=lambda event: (event.at, event.subscriber.id))
        for number, event in enumerate(events):
            event.key = number + 1
        broadcast.events = events
        broadcast.num_emailed = len(audience)
        broadcast.status = "sent"
        broadcast.sent_at = sent_at

    # -- reading ------------------------------------------------------------------------------

    def broadcasts(self, list_id: int, status: str, now: float) -> list[Broadcast]:
        """A list's broadcasts in one status: drafts by id, scheduled by time, sent by sent_at."""
        self.catch_up(now)
        found = [b for b in self.broadcasts_by_id.values() if b.list_id == list_id and b.status == status]
        if status == "draft":
            return [b for b in found if b.api_created]
        key = "scheduled_for" if status == "scheduled" else "sent_at"
        return sorted(found, key=lambda b: (getattr(b, key) or 0.0, b.id))

    def broadcast(self, list_id: int, broadcast_id: int, now: float) -> Broadcast:
        """One broadcast of a list, or NotFound."""
        self.catch_up(now)
        found = self.broadcasts_by_id.get(broadcast_id)
        if found is None or found.list_id != list_id:
            raise NotFound("Broadcast not found")
        return found

    def visible_events(self, broadcast: Broadcast, kind: str, now: float) -> list[Event]:
        """The broadcast's events of a kind that have happened by ``now``, newest first."""
        self.catch_up(now)
        return sorted(
            (e for e in broadcast.events if e.kind == kind and e.at <= now),
            key=lambda e: (e.at, e.key),
            reverse=True,
        )

    def followups(self, list_id: int) -> list[Followup]:
        """A list's followups by id."""
        return [f for f in self.followups_by_id.values() if f.list_id == list_id]

    def followup(self, list_id: int, followup_id: int) -> Followup:
        """One followup of a list, or NotFound."""
        found = self.followups_by_id.get(followup_id)
        if found is None or found.list_id != list_id:
            raise NotFound("Campaign not found")
        return found

    # -- writing ------------------------------------------------------------------------------

    def create(self, list_id: int, at: float, **values: object) -> Broadcast:
        """A new draft with already validated ``values``."""
        with self._lock:
            broadcast_id = self._next_broadcast
            self._next_broadcast += 1
            broadcast = Broadcast(
                id=broadcast_id,
                uuid=str(uuid.uuid5(_NAMESPACE, f"broadcast:{broadcast_id}")),
                list_id=list_id,
                subject="",
                body_html=None,
                body_text=None,
                created_at=at,
                include_lists=[list_id],
            )
            self._apply(broadcast, values)
            self.broadcasts_by_id[broadcast_id] = broadcast
            return broadcast

    def replace(self, broadcast: Broadcast, **values: object) -> Broadcast:
        """PUT: change the given fields of an API-created draft."""
        with self._lock:
            self._alive(broadcast)
            self._editable(broadcast, "updated")
            self._apply(broadcast, values)
            return broadcast

    def delete(self, broadcast: Broadcast) -> None:
        """Delete an API-created draft."""
        with self._lock:
            self._editable(broadcast, "deleted")
            self.broadcasts_by_id.pop(broadcast.id, None)

    def schedule(self, broadcast: Broadcast, when: float, now: float) -> None:
        """Schedule a draft; a sent or already scheduled broadcast is a 409."""
        with self._lock:
            self._alive(broadcast)
            self.catch_up(now)
            if broadcast.status != "draft":
                raise SchedulingError(f"Broadcast is {broadcast.status} and cannot be scheduled.")
            broadcast.status = "scheduled"
            broadcast.scheduled_for = when

    def cancel(self, broadcast: Broadcast, now: float) -> None:
        """Back to a draft if scheduled; anything else is left as is (AWeber answers 200)."""
        with self._lock:
            self._alive(broadcast)
            self.catch_up(now)
            if broadcast.status == "scheduled":
                broadcast.status = "draft"
                broadcast.scheduled_for = None

    def add_followup(self, list_id: int, subject: str, message_number: int, interval: int) -> Followup:
        """A new followup message (demo data and config seeds)."""
        with self._lock:
            followup = Followup(self._next_followup, list_id, subject, message_number, interval)
            self._next_followup += 1
            self.followups_by_id[followup.id] = followup
            return followup

    def _alive(self, broadcast: Broadcast) -> None:
        # A handler finds the broadcast before it acts: it may have been deleted in between.
        if self.broadcasts_by_id.get(broadcast.id) is not broadcast:
            raise NotFound("Broadcast not found")

    @staticmethod
    def _editable(broadcast: Broadcast, verb: str) -> None:
        if broadcast.status != "draft" or not broadcast.api_created:
            raise SchedulingError(
                f"Only drafts created through the API can be {verb}; this broadcast is {broadcast.status}."
            )

    @staticmethod
    def _apply(broadcast: Broadcast, values: dict[str, object]) -> None:
        for key, value in values.items():
            setattr(broadcast, key, value)


STAT_IDS = (
    "clicks_by_link",
    "daily_clicks",
    "daily_opens",
    "daily_sales",
    "daily_unsubscribed",
    "daily_webhits",
    "hourly_clicks",
    "hourly_opens",
    "hourly_sales",
    "hourly_unsubscribed",
    "hourly_webhits",
    "opens_by_subscriber",
    "sales_by_subscriber",
    "total_clicks",
    "total_opens",
    "total_sales",
    "total_sales_dollars",
    "total_unsubscribed",
    "unique_clicks",
    "unique_opens",
    "webhits_by_link",
)


def _buckets(events: Sequence[Event], start: float, width: float, count: int) -> list[int]:
    counts = [0] * count
    for event in events:
        index = int((event.at - start) // width)
        if 0 <= index < count:
            counts[index] += 1
    return counts


def statistics(broadcast: Broadcast, opens: Sequence[Event], clicks: Sequence[Event]) -> dict[str, object]:
    """Every statistic of a sent broadcast from its visible events, by statistic id.

    Hourly figures cover the first 24 hours after sending, daily ones the first 14 days; the
    mock records no sales, web hits or unsubscribes from broadcasts, so those are zero.
    """
    start = broadcast.sent_at or 0.0
    by_link: dict[str, int] = {}
    for click in clicks:
        by_link[click.url or ""] = by_link.get(click.url or "", 0) + 1
    by_subscriber: dict[str, int] = {}
    for event in opens:
        by_subscriber[event.subscriber.email] = by_subscriber.get(event.subscriber.email, 0) + 1
    zero_hours, zero_days = [0] * 24, [0] * 14
    values: dict[str, object] = {
        "clicks_by_link": [{"url": url, "count": count} for url, count in sorted(by_link.items())],
        "daily_clicks": _buckets(clicks, start, 86400, 14),
        "daily_opens": _buckets(opens, start, 86400, 14),
        "daily_sales": zero_days,
        "daily_unsubscribed": zero_days,
        "daily_webhits": zero_days,
        "hourly_clicks": _buckets(clicks, start, 3600, 24),
        "hourly_opens": _buckets(opens, start, 3600, 24),
        "hourly_sales": zero_hours,
        "hourly_unsubscribed": zero_hours,
        "hourly_webhits": zero_hours,
        "opens_by_subscriber": [{"email": email, "count": n} for email, n in sorted(by_subscriber.items())],
        "sales_by_subscriber": [],
        "total_clicks": len(clicks),
        "total_opens": len(opens),
        "total_sales": 0,
        "total_sales_dollars": 0.0,
        "total_unsubscribed": 0,
        "unique_clicks": len({event.subscriber.email for event in clicks}),
        "unique_opens": len(by_subscriber),
        "webhits_by_link": [],
    }
    return values
