"""The request log (GET /_mock/events) and one log line per request. OWNER: control helper."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class EventLog:
    """The recent request log, bounded, newest last."""

    def reset(self) -> None:
        """Forget every event."""


class RequestLogMiddleware:
    """Records every request (no secrets) into the state's event log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
