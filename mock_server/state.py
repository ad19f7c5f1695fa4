"""The mock authorization server's state and every decision it makes; no HTTP types here.

OWNER: the OAuth-server helper. The names below are the contract the API slice, the control
plane and the runner rely on; keep them, add what you need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mock_server.clock import Clock
from mock_server.config import MockConfig
from mock_server.directory import Directory
from mock_server.events import EventLog
from mock_server.faults import FaultTable
from mock_server.ratelimit import RateLimiter


class InvalidToken(Exception):
    """A bearer token that is missing, unknown, expired or revoked."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token lets its bearer do."""

    client_id: str
    username: str
    account_id: int
    scopes: frozenset[str]


class MockState:
    """Clients, users, codes and tokens, on an injected clock."""

    def __init__(self, config: MockConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or MockConfig()
        self.clock = clock or Clock()
        # Parts owned by other modules; reset() must reset each of them too.
        self.directory = Directory(self.clock)
        self.rate_limiter = RateLimiter(self.clock, self.config)
        self.events = EventLog()
        self.faults = FaultTable()

    def authenticate(self, access_token: str) -> AccessGrant:
        """The grant behind a bearer token, or InvalidToken."""
        raise NotImplementedError

    def reset(self) -> None:
        """Back to the start state (config's clients and users, demo data, clock running)."""
        raise NotImplementedError

    def approve(self, params: Mapping[str, str], username: str) -> tuple[str, str | None]:
        """Headless approval: validate like /oauth2/authorize, return (code, redirect or None)."""
        raise NotImplementedError
