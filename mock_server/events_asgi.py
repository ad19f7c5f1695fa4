"""The request log's ASGI side: a handler's annotations and the record the edge makes of a request.

The log itself, its redaction and its log lines are pure (``mock_server.events``); this module
reads the ASGI scope, so the state never needs an HTTP type to keep its log.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import Scope

from mock_server.events import RawRequest, logger, queue_line

if TYPE_CHECKING:
    from mock_server.state import MockState


def annotate(request: Request, /, **fields: Any) -> None:
    """Add fields (``grant_type``, ``client_id``, ``result``, ...) to this request's log event."""
    request.scope.setdefault("mock_event", {}).update(fields)


def record_request(
    scope: Scope, status: int | None, elapsed: float, state: MockState | None = None, path: str | None = None
) -> None:
    """Put one request into the state's event log and, when shown, the request logger.

    ``state`` is the MockState when the caller has it already; otherwise it is looked up.
    ``path`` is the path within the request's world (a sandbox's log shows its own paths).
    """
    if state is None:
        state = getattr(getattr(scope.get("app"), "state", None), "mock", None)
    raw: RawRequest = (
        state.clock.now() if state is not None else time.time(),
        scope.get("method", ""),
        scope.get("path", "") if path is None else path,
        scope.get("query_string", b""),
        status,
        elapsed,
        scope.get("mock_event"),
    )
    if state is not None:
        state.events.record_request(raw)
    if logger.isEnabledFor(logging.INFO):
        # The console shows the whole path, so a sandbox's requests say which sandbox they hit.
        queue_line(raw if path is None else (raw[0], raw[1], scope.get("path", ""), *raw[3:]))
