"""A scripted endpoint that holds its answers, for tests of lost answers and timeouts."""

from __future__ import annotations

import threading

from werkzeug import Request, Response


class Hanging:
    """A token and revoke endpoint that holds every answer until released.

    Teardown waits for every request the test sent to reach a handler and return: a request the
    server reads late would otherwise land in the next test's log (pytest-httpserver's server is
    shared by the session), as a 500 "no handler" for it.
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self._cond = threading.Condition()
        self.entered = 0
        self.left = 0

    def handler(self, request: Request) -> Response:
        with self._cond:
            self.entered += 1
            self._cond.notify_all()
        self.release.wait(10)
        with self._cond:
            self.left += 1
            self._cond.notify_all()
        return Response("{}", content_type="application/json")

    def settle(self, sent: int) -> None:
        """Release the handlers and wait until ``sent`` requests were answered."""
        self.release.set()
        with self._cond:
            assert self._cond.wait_for(lambda: self.left >= sent, timeout=10), (self.entered, self.left)
            assert self.entered == sent
