"""Handlers for the REST API slice under /1.0 (and /v3 in the CC profile). OWNER: API helper."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mock_server.config import MockConfig


def routes(config: MockConfig) -> list[BaseRoute]:
    """The API slice's routes for the configured profile."""
    return []
