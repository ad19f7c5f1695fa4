"""Handlers for /oauth2/authorize, /oauth2/token, /oauth2/revoke (OWNER: OAuth-server helper)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mock_server.config import MockConfig


def routes(config: MockConfig) -> list[BaseRoute]:
    """The authorization server's routes for the configured profile."""
    return []
