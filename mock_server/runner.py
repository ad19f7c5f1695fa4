"""Run the mock in a background thread on a free loopback port, and drive it from Python.

``ControlClient`` speaks the control API of any running mock (this process's or another's);
``MockServer`` starts one with uvicorn in a thread and is a ``ControlClient`` for it::

    with MockServer() as mock:
        mock.url, mock.token_url
        mock.advance_clock(7201)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import verdicts
from mock_server.config import MockConfig

if TYPE_CHECKING:
    from mock_server.persist import Persister
    from mock_server.state import MockState


_REUSE_REASONS = frozenset(
    {verdicts.CODE_REUSED, verdicts.REFRESH_TOKEN_REUSED, verdicts.REFRESH_TOKEN_ROTATED}
)
_STALE_REASONS = frozenset({verdicts.REFRESH_TOKEN_REUSED, verdicts.REFRESH_TOKEN_ROTATED, verdicts.UNKNOWN})


def _explained(events: list[dict[str, Any]]) -> str:
    """The refusals' verdicts, one line each: what, why, and the cause."""
    lines = []
    for event in events:
        verdict = event["verdict"]
        cause = verdict.get("cause")
        because = f" (cause: {_cause_text(cause)})" if cause else ""
        what = event.get("grant_type") or event["path"]
        lines.append(
            f"\n  event {event['id']} (request {event.get('request', '-')}): {what} refused, "
            f"{verdict['reason']}: {verdict['summary']}{because}"
        )
    return "".join(lines)


def _cause_text(cause: Mapping[str, Any]) -> str:
    parts = [f"by {cause['by']}"] if "by" in cause else []
    if "request" in cause:
        parts.append(f"request {cause['request']}")
    if "at" in cause:
        parts.append(f"at {cause['at']:.3f}")
    parts.extend(f"{k} {v}" for k, v in cause.items() if k not in ("by", "request", "at"))
    return ", ".join(parts)


class MockServerError(RuntimeError):
    """The mock could not start, or a request crashed inside it."""


def _control_http(base: str, control_token: str | None, timeout: float) -> httpx.Client:
    """The control API's client. Idle connections are reused for 1 s at most: httpx's default of
    5 s is uvicorn's keep-alive timeout too, and a call sent while the server closes that idle
    connection fails with no answer (a control call between two storms of a test did)."""
    headers = {"Authorization": f"Bearer {control_token}"} if control_token else {}
    limits = httpx.Limits(keepalive_expiry=1.0)
    return httpx.Client(base_url=base, headers=headers, timeout=timeout, limits=limits)


class ControlClient:
    """Every control-API call of interface.md, as a method, over HTTP."""

    sandbox_id: str = "default"  # the world this handle works on

    def __init__(self, url: str, *, control_token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = control_token
        self._timeout = timeout
        self._http = _control_http(self.url, control_token, timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Endpoint URLs, for configuring clients under test.
    @property
    def authorize_url(self) -> str:
        """The authorization endpoint."""
        return f"{self.url}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.url}/oauth2/token"

    @property
    def revoke_url(self) -> str:
        """The revocation endpoint."""
        return f"{self.url}/oauth2/revoke"

    @property
    def api_base(self) -> str:
        """The REST API base (``/1.0``)."""
        return f"{self.url}/1.0"

    @property
    def dashboard_url(self) -> str:
        """The QA dashboard."""
        return f"{self.url}/_mock/"

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/_mock/{path}", json=body)
        if response.status_code >= 400:
            raise MockServerError(
                f"control call {method} /_mock/{path} failed: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def clock(self) -> dict[str, Any]:
        """``{"now": float, "frozen": bool}``."""
        result: dict[str, Any] = self._call("GET", "clock")
        return result

    def now(self) -> float:
        """The mock's current time."""
        return float(self.clock()["now"])

    def advance_clock(self, seconds: float) -> float:
        """Move the mock's clock forward; returns the new time."""
        return float(self._call("POST", "clock/advance", {"seconds": seconds})["now"])

    def set_clock(self, now: float | None = None, *, frozen: bool | None = None) -> float:
        """Jump to ``now`` and/or freeze or unfreeze the clock; returns the new time."""
        body: dict[str, Any] = {}
        if now is not None:
            body["now"] = now
        if frozen is not None:
            body["frozen"] = frozen
        return float(self._call("POST", "clock/set", body)["now"])

    def add_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: list[str],
        name: str = "Test application",
        **extra: Any,
    ) -> dict[str, Any]:
        """Register a client (``client_secret=None`` = public)."""
        body = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": redirect_uris,
            "name": name,
            **extra,
        }
        result: dict[str, Any] = self._call("POST", "clients", body)
        return result

    def add_user(self, username: str, password: str) -> dict[str, Any]:
        """Create a user with its own account; the answer carries ``account_id``."""
        result: dict[str, Any] = self._call("POST", "users", {"username": username, "password": password})
        return result

    def approve(self, params: Mapping[str, str], username: str = "demo") -> dict[str, Any]:
        """Headless approval of an authorize request: ``{"code", "redirect"}``."""
        result: dict[str, Any] = self._call("POST", "approve", {**params, "username": username})
        return result

    def expire_tokens(self, *, in_seconds: float | None = None, **filters: str) -> int:
        """Expire access tokens matching ``client_id``/``username``/``access_token``/``grant``
        (all if none) now, or ``in_seconds`` from now; how many."""
        body: dict[str, Any] = dict(filters)
        if in_seconds is not None:
            body["in_seconds"] = in_seconds
        return int(self._call("POST", "tokens/expire", body)["expired"])

    def revoke_tokens(self, **filters: str) -> int:
        """Revoke access and refresh tokens matching the filters (``refresh_token`` too)."""
        return int(self._call("POST", "tokens/revoke", filters)["revoked"])

    def revoke_grant(self, grant: str) -> int:
        """Revoke one grant (its id is in ``state()["tokens"]``); how many tokens died."""
        return self.revoke_tokens(grant=grant)

    def set_refresh_lifetime(self, seconds: float, **filters: str) -> int:
        """Give the refresh tokens matching ``refresh_token``/``grant``/``client_id``/``username``
        ``seconds`` left to live (0: expire now); how many."""
        return int(self._call("POST", "tokens/lifetime", {**filters, "seconds": seconds})["updated"])

    def add_fault(
        self,
        path: str | None = None,
        *,
        count: int = 1,
        status: int | None = None,
        body: Any = None,
        delay_ms: float | None = None,
        drop: bool = False,
        after_work: bool = False,
        path_prefix: str | None = None,
        method: str | None = None,
        grant_type: str | None = None,
        client_id: str | None = None,
        nth: int = 1,
    ) -> dict[str, Any]:
        """Arm a fault for ``count`` matching calls of ``path`` (or every path under
        ``path_prefix``), from the ``nth`` on; ``method``, ``grant_type`` and ``client_id``
        narrow the match. ``after_work``: the mock does the work first, then answers ``status``
        (a gateway error hiding it) or holds its answer ``delay_ms``; a ``drop`` is always after
        the work."""
        spec: dict[str, Any] = {"count": count}
        if path is not None:
            spec["path"] = path
        if path_prefix is not None:
            spec["path_prefix"] = path_prefix
        for name, value in (("method", method), ("grant_type", grant_type), ("client_id", client_id)):
            if value is not None:
                spec[name] = value
        if nth != 1:
            spec["nth"] = nth
        if status is not None:
            spec["status"] = status
            if body is not None:
                spec["body"] = body
        if delay_ms is not None:
            spec["delay_ms"] = delay_ms
        if drop:
            spec["drop"] = True
        if after_work:
            spec["after_work"] = True
        result: dict[str, Any] = self._call("POST", "faults", spec)
        return result

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._call("DELETE", "faults")

    def faults(self) -> list[dict[str, Any]]:
        """The armed faults, with the calls each has left (``count``) and the matching requests
        each has seen (``seen``)."""
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def events(self, since: int = 0, **filters: str | float) -> list[dict[str, Any]]:
        """The request log, newest last; only events with an id above ``since`` when given, and
        matching ``client_id``, ``grant_type``, ``result`` (``"refused"``), ``reason``,
        ``path``, ``from_``/``until`` (mock time) when given."""
        return self._events(since, filters)

    def _events(self, since: int, filters: Mapping[str, str | float]) -> list[dict[str, Any]]:
        params: dict[str, str] = {"since": str(int(since))} if since else {}
        for name, value in filters.items():
            params[name.rstrip("_")] = str(value)
        path = f"events?{urlencode(params)}" if params else "events"
        result: list[dict[str, Any]] = self._call("GET", path)
        return result

    def refusals(self, since: int = 0, **filters: str | float) -> list[dict[str, Any]]:
        """The events with a verdict (every refusal), matching ``events``' filters."""
        return self._events(since, {**filters, "result": "refused"})

    # Assertions for tests: each failure message carries the verdicts that explain it.
    def assert_refreshes(self, client_id: str, n: int) -> None:
        """Assert ``client_id`` made exactly ``n`` successful refreshes (refused ones named)."""
        tried = self.events(client_id=client_id, grant_type="refresh_token")
        done = [e for e in tried if e.get("result") == "ok"]
        if len(done) != n:
            raise AssertionError(
                f"client {client_id!r} made {len(done)} successful refresh(es), expected {n}"
                + _explained([e for e in tried if e.get("verdict")])
            )

    def assert_no_token_reuse(self) -> None:
        """Assert no client sent a used code or a rotated refresh token again."""
        reused = [e for e in self.refusals() if e["verdict"]["reason"] in _REUSE_REASONS]
        if reused:
            raise AssertionError("a used code or rotated refresh token was sent again" + _explained(reused))

    def assert_refresh_token_stored(self, client_id: str | None = None) -> None:
        """Assert the client (every client if None) always refreshed with its newest refresh
        token: none of its refreshes was refused for an old, rotated or unknown one."""
        filters: dict[str, str | float] = {"result": "refused", "grant_type": "refresh_token"}
        if client_id:
            filters["client_id"] = client_id
        stale = [e for e in self._events(0, filters) if e["verdict"]["reason"] in _STALE_REASONS]
        if stale:
            who = f"client {client_id!r}" if client_id else "a client"
            raise AssertionError(
                f"{who} refreshed with a refresh token it should have replaced: did it store the "
                "newest one?" + _explained(stale)
            )

    def state(self) -> dict[str, Any]:
        """Clients, users, live codes and tokens (values redacted)."""
        result: dict[str, Any] = self._call("GET", "state")
        return result

    def reset(self) -> None:
        """Back to the start state."""
        self._call("POST", "reset")

    # Webhooks (mock_server/control_webhooks.py).
    def set_up_webhooks(
        self, client_id: str, allow_list: list[str], events: list[str] | None = None
    ) -> dict[str, Any]:
        """An app's Callback URL Allow-list and events; the answer holds its ``verification_key``."""
        body: dict[str, Any] = {"client_id": client_id, "allow_list": allow_list}
        if events is not None:
            body["events"] = events
        result: dict[str, Any] = self._call("POST", "webhooks/apps", body)
        return result

    def connect_webhook(self, client_id: str, url: str, *, username: str = "demo") -> dict[str, Any]:
        """A customer's Webhook URL for the app (after the customer authorized it); the callback."""
        body = {"client_id": client_id, "username": username, "url": url}
        result: dict[str, Any] = self._call("POST", "webhooks/callbacks", body)
        return result

    def webhooks(self) -> dict[str, Any]:
        """Apps, callbacks, settings, armed faults and recent deliveries with their attempts."""
        result: dict[str, Any] = self._call("GET", "webhooks")
        return result

    def webhook_settings(self, **settings: Any) -> dict[str, Any]:
        """Change ``retries``, ``retry_delay``, ``timeout``, ``batch_size`` or ``paused``."""
        result: dict[str, Any] = self._call("POST", "webhooks/settings", settings)
        return result

    def add_webhook_fault(self, kind: str, *, count: int | None = None, **extra: Any) -> dict[str, Any]:
        """Arm ``drop``, ``delay`` (``delay_seconds=``), ``duplicate`` or ``reorder`` for deliveries."""
        body: dict[str, Any] = {"kind": kind, **extra}
        if count is not None:
            body["count"] = count
        result: dict[str, Any] = self._call("POST", "webhooks/faults", body)
        return result

    # Sandboxes (mock_server/control_sandboxes.py): isolated worlds on one server.
    def create_sandbox(self, name: str | None = None) -> dict[str, Any]:
        """A new sandbox (``name`` or a random id); the answer holds its ``id`` and base ``url``."""
        result: dict[str, Any] = self._call("POST", "sandboxes", {} if name is None else {"name": name})
        return result

    def sandboxes(self) -> list[dict[str, Any]]:
        """The default world and every live sandbox, oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "sandboxes")["sandboxes"]
        return result

    def delete_sandbox(self, sandbox_id: str) -> None:
        """Forget a sandbox and everything in it."""
        self._call("DELETE", f"sandboxes/{sandbox_id}")

    @contextlib.contextmanager
    def sandbox(self, name: str | None = None) -> Iterator[ControlClient]:
        """``with mock.sandbox() as box:`` a handle on a new sandbox, deleted on exit.

        The handle has every method of this one, bound to the sandbox (``box.token_url``,
        ``box.advance_clock``, ``box.events``...): nothing it does reaches another world.
        """
        info = self.create_sandbox(name)
        box = ControlClient(info["url"], control_token=self._token, timeout=self._timeout)
        box.sandbox_id = info["id"]
        try:
            yield box
        finally:
            box.close()
            with contextlib.suppress(MockServerError, httpx.HTTPError):  # already expired or gone
                self.delete_sandbox(info["id"])

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


class _ErrorCapture:
    """Keeps exceptions that escape the app, so tests fail on them instead of on a vague 500.

    Starlette sends its 500 before it re-raises, so a client can hold the 500 while the error is
    not recorded yet: a request that answered 5xx counts as unsettled until the app returns, and
    :meth:`settled` waits for those.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.errors: list[BaseException] = []
        self._unsettled = 0
        self._changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failing = False

        async def watch(message: Message) -> None:
            nonlocal failing
            if message["type"] == "http.response.start" and message["status"] >= 500 and not failing:
                failing = True
                with self._changed:
                    self._unsettled += 1
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            # The client went away mid-request (a test killed it on purpose): not a server bug.
            raise
        except Exception as exc:
            self.errors.append(exc)
            raise
        finally:
            if failing:
                with self._changed:
                    self._unsettled -= 1
                    self._changed.notify_all()

    def settled(self, timeout: float = 10.0) -> list[BaseException]:
        """The errors, once every request that answered 5xx has finished (or ``timeout`` passed)."""
        with self._changed:
            self._changed.wait_for(lambda: self._unsettled == 0, timeout)
        return self.errors


class MockServer(ControlClient):
    """The mock on a free loopback port in a daemon thread; ``with MockServer() as mock: ...``."""

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_token: str | None = None,
        app: ASGIApp | None = None,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """``state_file``: keep the worlds in this SQLite file across runs (``serve --state``)."""
        self._owned_persister: Persister | None = None
        if app is None:
            from mock_server.app import create_app  # noqa: PLC0415 - keeps runner importable alone

            app = create_app(config, control_token=control_token, state_file=state_file)
            # Closed by stop(): its file lock would keep the next server off the same file.
            self._owned_persister = app.state.persister
        elif state_file is not None:
            raise ValueError("state_file goes with the app MockServer builds; pass it to create_app instead")
        self.app = app
        self._capture = _ErrorCapture(app)
        self._host = host
        self._port = port
        self._control_token = control_token
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        super().__init__(f"http://{host}:{port}", control_token=control_token)

    @property
    def mock_state(self) -> MockState:
        """The server's MockState, for in-process inspection (``state()`` asks over HTTP)."""
        state = getattr(getattr(self.app, "state", None), "mock", None)
        if state is None:
            raise MockServerError("this server's app has no MockState (app.state.mock)")
        result: MockState = state
        return result

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions that escaped the app since start (or the last ``check_errors``)."""
        return self._capture.settled()

    def check_errors(self) -> None:
        """Raise if a request crashed inside the server since the last check."""
        if self._capture.settled():
            errors, self._capture.errors = self._capture.errors, []
            raise MockServerError(f"the mock raised {len(errors)} error(s): {errors[0]!r}") from errors[0]

    def start(self) -> MockServer:
        """Bind the port, start serving, and return once requests are accepted."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit this: without it Nagle's algorithm and delayed ACKs add
            # ~40 ms to every keep-alive request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise MockServerError(
                f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._capture,
            log_level="warning",
            access_log=False,
            lifespan="auto",  # the webhook delivery worker runs in the lifespan
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # surfaced by start() or stop()
                self._startup_error = exc

        self._thread = threading.Thread(target=run, name=f"mock-aweber:{port}", daemon=True)
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise MockServerError(f"mock server failed to start: {self._startup_error!r}")
            self._thread.join(0.01)
        base = f"http://{'[' + self._host + ']' if ':' in self._host else self._host}:{port}"
        self.url = base
        self._http.close()
        self._http = _control_http(base, self._control_token, 10.0)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5)
            self._server = None
            self._thread = None
        self.close()
        if self._owned_persister is not None:
            self._owned_persister.close()
            self._owned_persister = None
        error, self._startup_error = self._startup_error, None
        if error is not None:
            raise MockServerError(f"the mock server stopped with an error: {error!r}") from error

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
