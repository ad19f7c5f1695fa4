"""Serving one request under an armed fault (status, delay, or drop after the work): ASGI.

The faults themselves and their table are pure (``mock_server.faults``); the edge layer asks
``take_fault`` for the request's fault and hands it to ``run_with_fault`` with the request.

A fault that matches on ``grant_type`` or ``client_id`` needs the request's parameters before the
handler runs: only then is the body read here (at most the mock's body limit; a larger one is
not matched on its parameters and goes to the handler, which refuses it) and replayed to the
handler through a ``receive`` that returns the buffered messages first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import oauth
from mock_server.errors import TokenError
from mock_server.faults import Fault, FaultTable


async def _buffer(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages up to its whole body (None for the body when over ``limit`` or
    cut short by a disconnect: its parameters then stay unknown)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


async def take_fault(
    table: FaultTable, scope: Scope, receive: Receive, limit: int, path: str | None = None
) -> tuple[Fault | None, Receive]:
    """The fault due for this request (counted and used up in the table), and the ``receive``
    the handler must use (the body replayed when it was read to match a fault).

    ``path`` is the path within the request's world (a sandbox's prefix removed).
    """
    method: str = scope["method"]
    if path is None:
        path = scope.get("path", "")
    if not table.needs_body(method, path):
        return table.take(path, method), receive
    headers = oauth.request_headers(scope)
    declared = headers.get(b"content-length", "")
    body: bytes | None = None  # unknown: too large (the handler answers 413) or cut short
    if not (declared.isdigit() and int(declared) > limit):
        messages, body = await _buffer(receive, limit)
        receive = _replay(messages, receive)
    grant_type = client_id = None
    if body is not None:
        # Read as the token endpoint reads it; a request it would refuse matches on nothing.
        with contextlib.suppress(TokenError):
            params, creds = oauth.client_request(headers, scope.get("query_string", b""), body)
            grant_type, client_id = params.get("grant_type"), creds.client_id
    fault = table.take(path, method, grant_type=grant_type, client_id=client_id)
    if fault is not None:  # the log shows what matched, even when the handler never runs
        scope.setdefault("mock_event", {}).update(grant_type=grant_type, client_id=client_id)
    return fault, receive


def _status_messages(fault: Fault) -> list[Message]:
    if not fault.has_body:
        body: bytes = json.dumps(
            {
                "error": "injected_fault",
                "error_description": f"fault injected by the mock's control API (status {fault.status})",
            }
        ).encode()
        content_type = b"application/json"
    elif isinstance(fault.body, str):
        body, content_type = fault.body.encode(), b"text/plain; charset=utf-8"
    elif fault.body is None:
        body, content_type = b"", b"text/plain; charset=utf-8"
    else:
        body, content_type = json.dumps(fault.body).encode(), b"application/json"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": fault.status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


def _find_cycle(send: Callable[..., Any]) -> Any:
    """The server's request cycle behind ``send`` (one with a ``transport``), or None.

    In uvicorn ``send`` is a bound method of the request-response cycle, reached through the
    closures of the middleware wrappers in between (Starlette's ServerErrorMiddleware, ours).
    """
    seen: set[int] = set()
    todo: list[Any] = [send]
    while todo and len(seen) < 64:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        owner = getattr(obj, "__self__", None)
        if owner is not None and hasattr(owner, "transport"):
            return owner
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(content):
                todo.append(content)
        inner = getattr(obj, "func", None)  # functools.partial
        if callable(inner):
            todo.append(inner)
    return None


class DroppedResponse(ConnectionAbortedError):
    """Raised when no transport could be found to close for a ``drop`` fault."""


async def _drop_connection(send: Send) -> None:
    cycle = _find_cycle(send)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise DroppedResponse("drop fault: no transport found; the response is not sent")
    transport.abort()
    # uvicorn marks the cycle disconnected when the loop reports the lost connection; until then
    # returning without a response would make it log an error and try to write a 500.
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)
    cycle.disconnected = True


async def _swallow(message: Message) -> None:
    """Discard the handler's own answer (the fault answers instead)."""


async def run_with_fault(
    fault: Fault,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Serve one request under an armed fault (status, delay, or drop after the work).

    ``sleep`` is the delay's wait; tests pass their own rather than patch ``asyncio.sleep``,
    which every event loop in the process (servers in other threads) shares.
    """
    event = scope.setdefault("mock_event", {})
    event.update(fault=fault.kind, fault_id=fault.id)
    if fault.kind == "status":
        if fault.after_work:
            await app(scope, receive, _swallow)
        for message in _status_messages(fault):
            await send(message)
    elif fault.kind == "delay":
        if not fault.after_work:
            await sleep(fault.delay_ms / 1000)
            await app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await app(scope, receive, hold)  # the work is done; its answer waits
        await sleep(fault.delay_ms / 1000)
        for message in held:
            await send(message)
    else:
        withheld: dict[str, int] = {}

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                withheld["status"] = int(message["status"])

        await app(scope, receive, swallow)
        # The log shows what the handler answered, though the client never sees it.
        if "status" in withheld:
            scope["mock_event"]["status"] = withheld["status"]
        await _drop_connection(send)
