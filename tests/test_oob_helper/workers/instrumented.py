"""The real mock app, wrapped to tell the tests when no request is inside it, and to act at the
moment the mock answers.

A killed client's request may still be running in the mock (e.g. inside a delay fault); the
crash test waits for it to finish before its next call, or that call would race the orphan.
The crash test also kills a worker at the exact moment the mock has rotated its tokens and not
yet sent the answer (a window too narrow for a randomly timed kill to hit reliably), or the
moment its request arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class InFlight:
    """ASGI wrapper counting HTTP requests that are being handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0
        self.changed = threading.Condition()
        self._on_answer: tuple[str, Callable[[], None]] | None = None
        self._on_request: tuple[str, Callable[[], None]] | None = None

    def on_next_answer(self, path: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, in the server, just before the next 200 answer on ``path`` is sent
        (the mock has done its work; the client has not seen the answer)."""
        with self.changed:
            self._on_answer = (path, action)

    def on_next_request(self, path: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, in the server, when the next request on ``path`` arrives (before
        the mock, its faults included, sees it)."""
        with self.changed:
            self._on_request = (path, action)

    def cancel_answer_hook(self) -> None:
        """Forget ``on_next_answer`` and ``on_next_request`` actions that have not run."""
        with self.changed:
            self._on_answer = None
            self._on_request = None

    def _take_hook(self, path: str) -> Callable[[], None] | None:
        with self.changed:
            if self._on_answer is None or self._on_answer[0] != path:
                return None
            action = self._on_answer[1]
            self._on_answer = None
            return action

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.changed:
            self.count += 1
            hooked = self._on_answer is not None and self._on_answer[0] == scope.get("path")
            arrival = None
            if self._on_request is not None and self._on_request[0] == scope.get("path"):
                arrival, self._on_request = self._on_request[1], None
        if arrival is not None:
            arrival()

        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                action = self._take_hook(scope.get("path", ""))
                if action is not None:
                    action()
            await send(message)

        try:
            await self.app(scope, receive, send_watched if hooked else send)
        finally:
            with self.changed:
                self.count -= 1
                self.changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no request is being handled; AssertionError after ``timeout``."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.count == 0, timeout):
                raise AssertionError(f"the mock still handles {self.count} request(s) after {timeout}s")
