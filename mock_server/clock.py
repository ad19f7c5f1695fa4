"""The one time source for every expiry decision the mock makes.

Tests and QA move it (freeze, set, advance) instead of sleeping. When not frozen it runs at
wall-clock speed from wherever it was last set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """A controllable clock: real time plus an offset, optionally frozen."""

    def __init__(
        self,
        start: float | None = None,
        *,
        frozen: bool = False,
        source: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - source()
        self._frozen_at: float | None = None
        if frozen:
            self._frozen_at = self._source() + self._offset

    def now(self) -> float:
        """Current time in unix seconds."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return self._source() + self._offset

    @property
    def frozen(self) -> bool:
        """Whether time stands still until set or advanced."""
        return self._frozen_at is not None

    def advance(self, seconds: float) -> float:
        """Move time forward (or back, for negative seconds); returns the new time."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
            return self._now_locked()

    def set(self, now: float | None = None, *, frozen: bool | None = None) -> float:
        """Jump to ``now`` and/or freeze or unfreeze; returns the new time."""
        with self._lock:
            target = self._now_locked() if now is None else now
            freeze = self._frozen_at is not None if frozen is None else frozen
            if freeze:
                self._frozen_at = target
            else:
                self._frozen_at = None
                self._offset = target - self._source()
            return self._now_locked()

    def __getstate__(self) -> dict[str, object]:
        # Saved as the offset from wall time (and the frozen instant): a restarted mock's time
        # has run on by the downtime, as real time does, unless it was frozen (mock_server.snapshot).
        with self._lock:
            return {"offset": self._offset, "frozen_at": self._frozen_at}

    def __setstate__(self, saved: dict[str, float | None]) -> None:
        # A restored clock runs on wall time again: the source a test injected is not saved.
        self._source = time.time
        self._lock = threading.Lock()
        self._offset = float(saved["offset"] or 0.0)
        self._frozen_at = saved["frozen_at"]

    def reset(self) -> None:
        """Back to real time, running."""
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None
