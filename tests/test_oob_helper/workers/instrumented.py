"""The real mock app, wrapped to tell the tests when no request is inside it.

A killed client's request may still be running in the mock (e.g. inside a delay fault); the
crash test waits for it to finish before its next call, or that call would race the orphan.
"""

from __future__ import annotations

import threading

from starlette.types import ASGIApp, Receive, Scope, Send


class InFlight:
    """ASGI wrapper counting HTTP requests that are being handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0
        self.changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.changed:
            self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self.changed:
                self.count -= 1
                self.changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no request is being handled; AssertionError after ``timeout``."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.count == 0, timeout):
                raise AssertionError(f"the mock still handles {self.count} request(s) after {timeout}s")
