"""AWeber's 120 requests a minute per account, with a 60 s lock-out. OWNER: API helper."""

from __future__ import annotations

from mock_server.clock import Clock
from mock_server.config import MockConfig


class RateLimiter:
    """Counts API requests per account on the mock's clock."""

    def __init__(self, clock: Clock, config: MockConfig) -> None:
        self.clock = clock
        self.config = config

    def reset(self) -> None:
        """Forget every counter and lock-out."""
