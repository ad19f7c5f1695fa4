"""The request log (``GET /_mock/events``) and one log line per request.

``RequestLogMiddleware`` is the outermost middleware: it records one event per request on the
imitated paths (never for ``/_mock/`` itself) into ``MockState.events`` and writes one line to
the ``mock_server.requests`` logger. Handlers add what only they know (grant type, client,
result) with :func:`annotate`.

Nothing secret is recorded: query values whose names look secret (codes, tokens, secrets,
passwords, verifiers) are replaced by ``[redacted]``, headers are never recorded, and annotation
fields with secret-looking names are dropped the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("mock_server.requests")

REDACTED = "[redacted]"
# Names that carry a secret, matched as substrings of a lower-cased parameter name.
_SECRET_WORDS = ("token", "secret", "password", "verifier", "code", "authorization", "cookie", "key")
# Parameter names that contain a secret word but carry none.
_NOT_SECRET = frozenset(
    {"grant_type", "token_type", "token_type_hint", "response_type", "code_challenge_method"}
)


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field of this name may carry a secret."""
    lowered = name.lower()
    if lowered in _NOT_SECRET:
        return False
    return any(word in lowered for word in _SECRET_WORDS)


def redact_query(query: str) -> str:
    """The query string with every secret-looking value replaced by ``[redacted]``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    # The marker is left unencoded so the log and the dashboard read plainly.
    return "&".join(
        f"{quote_plus(k)}={REDACTED}" if is_secret_name(k) else urlencode([(k, v)]) for k, v in pairs
    )


def annotate(request: Request, **fields: Any) -> None:
    """Add fields (``grant_type``, ``client_id``, ``result``, ...) to this request's log event."""
    request.scope.setdefault("mock_event", {}).update(fields)


class EventLog:
    """The recent request log, bounded (oldest dropped first), newest last; thread-safe."""

    def __init__(self, *, maxlen: int = 1000) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._next_id = 1

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Append an event, giving it an ``id`` that grows across resets; returns it."""
        with self._lock:
            stored = {"id": self._next_id, **event}
            self._next_id += 1
            self._events.append(stored)
            return dict(stored)

    def list(self, *, since: int = 0) -> list[dict[str, Any]]:
        """Copies of the kept events with an id above ``since``, oldest first."""
        with self._lock:
            return [dict(e) for e in self._events if e["id"] > since]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def reset(self) -> None:
        """Forget every event (ids keep growing, so ``since`` stays meaningful)."""
        with self._lock:
            self._events.clear()


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in fields.items()}


class RequestLogMiddleware:
    """Records every request (no secrets) into the state's event log and the request logger."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == "/_mock" or path.startswith("/_mock/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        recorded = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Record before the last byte leaves: a client that reads the log right after its
                # response must find its request there (tests count refreshes this way).
                recorded = True
                self._record(scope, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not recorded:  # no complete response: a dropped connection or a crash
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int | None, elapsed: float) -> None:
        state = getattr(getattr(scope.get("app"), "state", None), "mock", None)
        raw_query = scope.get("query_string", b"")
        query = redact_query(raw_query.decode("latin-1")) if raw_query else ""
        fields = _clean_fields(scope["mock_event"]) if "mock_event" in scope else {}
        # A handler or fault may report the status it produced when none reached the client.
        if status is None and "status" in fields:
            status = fields.pop("status")
        else:
            fields.pop("status", None)
        event: dict[str, Any] = {
            "time": state.clock.now() if state is not None else time.time(),
            "method": scope.get("method", ""),
            "path": scope.get("path", ""),
            "query": query,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            **fields,
        }
        if state is not None:
            state.events.record(event)
        # Formatting the line costs as much as recording the event: only do it when it is shown.
        if logger.isEnabledFor(logging.INFO):
            extras = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            target = event["path"] + (f"?{query}" if query else "")
            logger.info("%s %s %s %s", event["method"], target, status if status is not None else "-", extras)
