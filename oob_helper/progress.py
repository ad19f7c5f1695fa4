"""A one-line progress bar for terminals; silent when disabled (output piped or redirected)."""

from __future__ import annotations

import time
from collections import Counter
from typing import TextIO

_WIDTH = 30
_REDRAW_EVERY = 0.1  # seconds; redrawing per item would cost more than 10,000 refreshes


class Progress:
    """Counts finished items by result and redraws ``[####....] 12/200 refreshed 10 ...``.

    Call ``advance`` from one thread. ``message`` prints a line above the bar (or just the
    line when disabled, so problems are reported either way).
    """

    def __init__(self, total: int, stream: TextIO, *, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self.counts: Counter[str] = Counter()
        self._last_draw = 0.0
        self._drawn = False

    def advance(self, result: str) -> None:
        """One more item finished with ``result``."""
        self.done += 1
        self.counts[result] += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw >= _REDRAW_EVERY or self.done == self.total:
            self._last_draw = now
            self._draw()

    def message(self, line: str) -> None:
        """Print ``line`` on its own, keeping the bar below it."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[2K")
        self.stream.write(line + "\n")
        if self.enabled and self._drawn:
            self._draw()
        self.stream.flush()

    def render(self) -> str:
        """The bar's text (no control characters)."""
        filled = _WIDTH if self.total == 0 else _WIDTH * self.done // self.total
        counts = " ".join(f"{name.replace('_', ' ')} {n}" for name, n in sorted(self.counts.items()))
        return f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {self.done}/{self.total} {counts}".rstrip()

    def _draw(self) -> None:
        self.stream.write("\r\x1b[2K" + self.render())
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the bar's line."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
