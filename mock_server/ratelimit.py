"""AWeber's 120 requests a minute per account, with a 60 s lock-out.

providers.md A11.6: "You can make 120 requests each minute, per customer account"; the next
one is refused with 403 "Rate Limit Error" and "you will be unable to make API requests for 60
seconds". The window is a sliding 60 s on the mock's clock; requests refused during a lock-out
do not count. Config: ``rate_limit_enabled`` (on by default), ``rate_limit_per_minute`` (120),
``rate_limit_lockout`` (60 s); ``enabled`` can also be switched at run time and ``reset``
restores the configured value.
"""

from __future__ import annotations

import threading
from collections import deque

from mock_server.clock import Clock
from mock_server.config import MockConfig

WINDOW_SECONDS = 60.0


class RateLimited(Exception):
    """The account made too many requests; ``until`` is when the lock-out ends."""

    def __init__(self, until: float) -> None:
        super().__init__("Rate Limit Error")
        self.until = until


class RateLimiter:
    """Counts API requests per account on the mock's clock."""

    def __init__(self, clock: Clock, config: MockConfig) -> None:
        self.clock = clock
        self.config = config
        self.enabled = config.rate_limit_enabled
        self._lock = threading.Lock()
        self._hits: dict[int, deque[float]] = {}
        self._locked_until: dict[int, float] = {}

    def hit(self, account_id: int, cost: int = 1) -> None:
        """Count a request of ``cost`` calls for ``account_id`` (a purchase costs 3); raise
        RateLimited if it goes over the limit."""
        if not self.enabled:
            return
        now = self.clock.now()
        limit = max(1, self.config.rate_limit_per_minute)
        with self._lock:
            until = self._locked_until.get(account_id)
            if until is not None:
                if now < until:
                    raise RateLimited(until)
                del self._locked_until[account_id]
                self._hits.pop(account_id, None)
            hits = self._hits.setdefault(account_id, deque())
            while hits and hits[0] <= now - WINDOW_SECONDS:
                hits.popleft()
            if len(hits) + cost > limit:
                until = now + self.config.rate_limit_lockout
                self._locked_until[account_id] = until
                hits.clear()
                raise RateLimited(until)
            hits.extend([now] * cost)

    def reset(self) -> None:
        """Forget every counter and lock-out, and restore the configured on/off switch."""
        with self._lock:
            self._hits.clear()
            self._locked_until.clear()
            self.enabled = self.config.rate_limit_enabled
