"""Lifecycle events: what happened to an install's connection, for the people who must know.

The record owner (``oob_helper.records``) emits one event per transition it makes, and the
refresh coordinator reports failed refreshes through it. Events carry words and identifiers
only, never a token, code, verifier or secret (a test scans every one).

Subscribers are callables taking a ``LifecycleEvent``: plain functions run in the thread that
made the transition, right after it was stored; coroutine functions run on one background event
loop the subscriber list owns. A subscriber that raises is logged and never breaks a refresh.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from oob_helper.errors import NetworkError, ProviderError

if TYPE_CHECKING:
    import asyncio  # loaded at run time only for async subscribers (the CLI never has any)

logger = logging.getLogger("oob_helper.lifecycle")

EventKind = Literal[
    "connected",
    "refreshed",
    "refresh_failed",
    "reauthorization_required",
    "disconnected",
    "clone_detected",
    "refresh_token_expiring",
    "refresh_overdue",
]
EVENT_KINDS: tuple[EventKind, ...] = (
    "connected",
    "refreshed",
    "refresh_failed",
    "reauthorization_required",
    "disconnected",
    "clone_detected",
    "refresh_token_expiring",
    "refresh_overdue",
)


@dataclass(frozen=True)
class LifecycleEvent:
    """One transition of one install's connection (no secret in any field)."""

    kind: EventKind
    install: str
    at: float  # unix seconds, by the helper's clock
    account_id: str | None = None
    grant_id: str | None = None
    # Why, in words: the reauthorization reason, the failure's message (never a secret).
    reason: str | None = None
    # refresh_failed: the provider's OAuth error code (or "network"), and whether a later try
    # may succeed on its own (transient) or a person must act (permanent).
    error: str | None = None
    transient: bool | None = None
    # refreshed, refresh_failed, and reauthorization_required found by a refresh: seconds from
    # taking the install's lock to the outcome (the provider's answer and the store's writes).
    duration: float | None = None
    # refresh_token_expiring, refresh_overdue: when the refresh token lapses unless used
    # (unix seconds; oob_helper/health.py).
    lapses_at: float | None = None
    # refresh_failed: the failures in a row so far, and when the shared back-off next allows a
    # refresh (unix seconds; None after a permanent failure: only a person's action does).
    attempts: int | None = None
    next_attempt_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what notifiers send)."""
        return dataclasses.asdict(self)


Subscriber = Callable[[LifecycleEvent], "Awaitable[None] | None"]


class Subscribers:
    """The callables told of every event; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(count={len(self._subscribers)})"

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns the function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def emit(self, event: LifecycleEvent) -> None:
        """Tell every subscriber; their failures are logged, never raised."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                if inspect.iscoroutinefunction(subscriber):
                    import asyncio  # noqa: PLC0415

                    asyncio.run_coroutine_threadsafe(self._run_async(subscriber, event), self._background())
                    continue
                result = subscriber(event)
                if inspect.isawaitable(result):
                    import asyncio  # noqa: PLC0415

                    asyncio.run_coroutine_threadsafe(self._await(result, event), self._background())
            except Exception:
                logger.exception("install %r: a %s subscriber failed", event.install, event.kind)

    async def _run_async(self, subscriber: Subscriber, event: LifecycleEvent) -> None:
        try:
            result = subscriber(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("install %r: a %s subscriber failed", event.install, event.kind)

    async def _await(self, awaitable: Awaitable[None], event: LifecycleEvent) -> None:
        try:
            await awaitable
        except Exception:
            logger.exception("install %r: a %s subscriber failed", event.install, event.kind)

    def _background(self) -> asyncio.AbstractEventLoop:
        import asyncio  # noqa: PLC0415

        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="oob-helper-events", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every async subscriber started so far has finished (tests, shutdown)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        import asyncio  # noqa: PLC0415

        async def settle() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        asyncio.run_coroutine_threadsafe(settle(), loop).result(timeout + 1)

    def close(self) -> None:
        """Finish pending async subscribers and stop the background loop."""
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return
        self.drain()
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = None


def is_transient(exc: BaseException) -> bool:
    """Whether a failed refresh may succeed later without a person (network, 5xx, rate limit)."""
    if isinstance(exc, NetworkError):
        return True
    if isinstance(exc, ProviderError):
        status = exc.status_code or 0
        return status >= 500 or status == 429 or exc.error in ("temporarily_unavailable", "server_error")
    return True  # a store or lease problem: another try may work


__all__ = ["EVENT_KINDS", "EventKind", "LifecycleEvent", "Subscriber", "Subscribers", "is_transient"]
