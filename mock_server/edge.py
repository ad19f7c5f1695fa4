"""The one middleware in front of every route: the Host check, faults, the request log, headers.

Each concern lives in its own modules (the pure ``faults`` and ``events`` models with their ASGI
sides ``faults_asgi`` and ``events_asgi``, and ``security``); the app stacks them as this single
layer because each extra ASGI layer and ``send`` wrapper cost the token endpoint about a tenth of
its throughput against a bare Starlette endpoint (``bench/bench_token_endpoint.py``).

Order, as the separate middlewares had it: the log sees what a fault did; a fault acts before
the handler; security headers go on every response, the control plane's included. Before all
of it, a request whose Host the mock does not serve is refused with 421 on every path, neither
logged nor faulted (DNS rebinding; see ``mock_server.origins``).

``direct`` maps exact (method, path) pairs to plain ASGI handlers that the layer calls itself,
skipping the router's linear match and Starlette's per-request exception layer: the token
endpoint, whose refresh grant is benchmarked against a bare endpoint. Only handlers that raise
nothing Starlette would turn into a response belong there; the outermost error layer (a 500
page, never a traceback) still stands in front of them.

With a state file (``persister``), a request that may change its world (any method but GET,
HEAD and OPTIONS, or one a fault acted on) saves that world when its answer starts, before any
of the body leaves: a client holding an answer can rely on it being on disk. If the save fails
the client gets a 500 saying so instead of an answer the file does not back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import world
from mock_server.events_asgi import record_request
from mock_server.faults_asgi import run_with_fault, take_fault
from mock_server.origins import HostCheck
from mock_server.sandboxes import SandboxNotFound
from mock_server.security import secure

if TYPE_CHECKING:
    from mock_server.persist import Persister
    from mock_server.sandboxes import Sandboxes
    from mock_server.state import MockState

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# The split of a sandbox path is kept for paths up to this long, this many at a time: a test
# suite sends the same few paths again and again, and a client's odd ones cannot grow it.
_SPLIT_MAX_PATH = 256
_SPLIT_MAX_ENTRIES = 1024
_log = logging.getLogger("mock_server.persist")


def _is_control(path: str) -> bool:
    # The favicon too: browsers fetch it on their own, so it is not traffic worth logging.
    return path == "/_mock" or path.startswith("/_mock/") or path == "/favicon.ico"


def _host(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return bytes(value)
    return None


async def _no_sandbox(exc: SandboxNotFound, send: Send) -> None:
    """404 for a sandbox prefix naming no live sandbox (expired, deleted or mistyped)."""
    body = json.dumps({"error": exc.code, "error_description": str(exc)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": secure(headers, auth_path=False)})
    await send({"type": "http.response.body", "body": body})


async def _misdirected(host: bytes | None, send: Send) -> None:
    """421 for a Host the mock does not serve, saying how to serve it."""
    if host is None:
        description = "the request has no Host header: send the mock's host and port, e.g. 127.0.0.1:8081"
    else:
        shown = host.decode("latin-1")[:100]
        description = (
            f"this mock does not serve the host {shown!r}: use localhost, 127.0.0.1 or the address "
            "it listens on, with its port, or add the name with --allowed-host (allowed_hosts in "
            "the config file)"
        )
    body = json.dumps({"error": "misdirected_request", "error_description": description}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 421, "headers": secure(headers, auth_path=False)})
    await send({"type": "http.response.body", "body": body})


class _SaveFirst:
    """A ``send`` that saves the request's world to the state file when the answer starts.

    If the save fails it answers 500 with the reason instead and drops the handler's messages.
    ``finish`` saves when no answer started (a drop fault, a crash): the work was done anyway.
    """

    def __init__(self, persister: Persister, world_id: str, state: MockState, send: Send) -> None:
        self.persister, self.world_id, self.state, self.send = persister, world_id, state, send
        self.pending = True
        self.replaced = False

    def _save(self) -> str | None:
        self.pending = False
        try:
            self.persister.save(self.world_id, self.state)
        except Exception as exc:  # a full disk, a removed file, an unpicklable new field
            where = f"world {self.world_id!r} to {self.persister.path}"
            text = f"could not save {where}: {type(exc).__name__}: {exc}"
            _log.error("%s", text)
            return text
        return None

    async def __call__(self, message: Message) -> None:
        if self.replaced:
            return
        if self.pending and message["type"] == "http.response.start":
            error = self._save()
            if error is not None:
                self.replaced = True
                body = json.dumps(
                    {
                        "error": "state_not_saved",
                        "error_description": f"{error}; the change was made in memory only: free "
                        "disk space or fix the --state file, then retry",
                    }
                ).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await self.send({"type": "http.response.start", "status": 500, "headers": headers})
                await self.send({"type": "http.response.body", "body": body})
                return
        await self.send(message)

    def finish(self) -> None:
        if self.pending:
            self._save()


def _save_first(
    persister: Persister | None, scope: Scope, state: MockState | None, send: Send, changes: bool
) -> _SaveFirst | None:
    """The saving ``send`` for a request that may change its world, when there is a state file."""
    if persister is None or not changes or state is None:
        return None
    return _SaveFirst(persister, world.sandbox_of(scope), state, send)


class EdgeMiddleware:
    """Faults, then the handler, with one ``send`` wrapper adding headers and logging."""

    def __init__(
        self,
        app: ASGIApp,
        direct: Mapping[tuple[str, str], ASGIApp] | None = None,
        *,
        state: MockState | None = None,
        hosts: HostCheck | None = None,
        sandboxes: Sandboxes | None = None,
        persister: Persister | None = None,
    ) -> None:
        self.app = app
        self.persister = persister  # None: no state file, nothing is saved
        self.direct = dict(direct or {})
        self.state = state  # None: looked up per request in app.state.mock
        self.hosts = hosts  # None: every Host is served (an app composed by hand)
        self.sandboxes = sandboxes  # None: no /sandbox/<id>/ prefix (an app composed by hand)
        self._splits: dict[str, tuple[str, str]] = {}  # see _split

    def _split(self, path: str) -> tuple[str, str] | None:
        """``world.split``, remembered per path: splitting cost a sandbox request more than
        everything else it does beyond a default-world one (bench/bench_token_endpoint.py)."""
        splits = self._splits
        found = splits.get(path)
        if found is None:
            found = world.split(path)
            if found is not None and len(path) <= _SPLIT_MAX_PATH:
                if len(splits) >= _SPLIT_MAX_ENTRIES:
                    splits.clear()
                splits[path] = found
        return found

    def _world(self, scope: Scope, mounted: bool) -> tuple[str, MockState | None]:
        """The request's path within its world, and that world's state (put in the scope).

        ``/sandbox/<id>/rest`` is the sandbox's world at ``/rest``: the prefix joins root_path,
        so the routes match ``/rest`` and ``request.base_url`` (every link built from it) keeps
        the prefix.
        """
        path: str = scope.get("path", "")
        state = self.state
        # The prefix test first: it is all a request to the default world pays here.
        prefixed = path.startswith(world.PREFIX) and self.sandboxes is not None and not mounted
        found = self._split(path) if prefixed else None
        if found is not None and self.sandboxes is not None:
            sandbox_id, path = found
            sandbox = self.sandboxes.get(sandbox_id)
            state = sandbox.state
            scope["root_path"] = sandbox.root_path
            scope[world.SCOPE_SANDBOX] = sandbox.id
        if state is None:
            state = getattr(getattr(scope.get("app"), "state", None), "mock", None)
        scope[world.SCOPE_STATE] = state
        return path, state

    async def _control(self, scope: Scope, receive: Receive, send: Send, state: MockState | None) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secure(message.get("headers", ()), auth_path=False)}
            await send(message)

        saving = _save_first(self.persister, scope, state, send_secured, scope["method"] not in _READS)
        try:
            with contextlib.suppress(ClientDisconnect):  # see __call__
                await self.app(scope, receive, saving or send_secured)
        finally:
            if saving is not None:
                saving.finish()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None:
            host = _host(scope)
            if not self.hosts.allows(host, scope.get("server"), scope.get("scheme", "http")):
                await _misdirected(host, send)
                return
        mounted = bool(scope.get("root_path"))
        try:
            path, state = self._world(scope, mounted)
        except SandboxNotFound as exc:
            await _no_sandbox(exc, send)
            return
        auth_path = path.startswith("/oauth2/")
        if _is_control(path):  # never logged, never faulted; headers still apply
            await self._control(scope, receive, send, state)
            return

        fault = None
        if state is not None and state.faults.armed():  # one call when nothing is armed
            fault, receive = await take_fault(state.faults, scope, receive, state.config.max_body_bytes, path)
        started = time.perf_counter()
        status: int | None = None
        recorded = False

        async def edge_send(message: Message) -> None:
            nonlocal status, recorded
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": secure(message.get("headers", ()), auth_path=auth_path)}
            elif kind == "http.response.body" and not message.get("more_body", False):
                # Record before the last byte leaves: a client reading the log right after its
                # response must find its request there (tests count refreshes this way).
                recorded = True
                record_request(scope, status, time.perf_counter() - started, state, path)
            await send(message)

        # Under a mount (root_path set by an enclosing app) the router's path rules apply, so
        # only the bare app, or one of its sandboxes, dispatches directly.
        target = self.app if mounted else self.direct.get((scope["method"], path), self.app)
        # A fault's turn changes state even on a GET: its remaining count is saved too.
        saving = _save_first(
            self.persister, scope, state, edge_send, fault is not None or scope["method"] not in _READS
        )
        try:
            if fault is None:
                await target(scope, receive, saving or edge_send)
            else:
                await run_with_fault(fault, target, scope, receive, saving or edge_send)
        except ClientDisconnect:
            # The client went away before its request was read: there is nobody to answer and
            # nothing went wrong here; letting it escape makes the server log a traceback.
            scope.setdefault("mock_event", {})["result"] = "client_disconnected"
        finally:
            if saving is not None:
                saving.finish()
            if not recorded:  # no complete response: a dropped connection or a crash
                record_request(scope, status, time.perf_counter() - started, state, path)
