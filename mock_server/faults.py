"""Fault injection for the next N calls of a path (status, delay, drop). OWNER: control helper."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class FaultTable:
    """Armed faults by path, each for a number of calls."""

    def reset(self) -> None:
        """Disarm every fault."""


class FaultMiddleware:
    """Applies armed faults before (status, delay) or after (drop) the handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
