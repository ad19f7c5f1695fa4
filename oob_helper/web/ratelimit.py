"""Code submissions per install in a sliding window, on the injected clock (in-process only)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class SubmissionLimiter:
    """At most ``limit`` submissions per install within any ``window`` seconds."""

    def __init__(self, clock: Callable[[], float], *, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def hit(self, install: str) -> float | None:
        """Count one submission; None if allowed, else seconds until the next one is allowed."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(install, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 10_000:
                self._forget_idle(now)
            return None

    def _forget_idle(self, now: float) -> None:
        # Keeps memory bounded when many installs submit once and never again.
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
