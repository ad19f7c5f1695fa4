"""Run the web helper: ``serve`` in the foreground (``oob-helper serve``), ``WebServer`` in a thread.

Both bind the socket first, so a busy port is reported before anything starts, and both stop
cleanly: ``serve`` on Ctrl-C (exit 130) or SIGTERM (exit 143), as shells report a process those
signals stopped; ``WebServer`` on ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from oob_helper.config import Settings
from oob_helper.errors import OobHelperError
from oob_helper.web.hosts import LOOPBACK_HOSTS


class WebServerError(RuntimeError):
    """The server could not start, or a request crashed inside it."""


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0 = a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it Nagle's algorithm and delayed ACKs add
    # ~40 ms to every keep-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        # Listen now, not when the server starts: `serve` prints its URL before that, and a
        # client acting on the line must queue in the backlog, not be refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(host: str, port: int) -> str:
    """``http://host:port`` with IPv6 hosts in brackets."""
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


# Proxies whose X-Forwarded-* headers are believed: loopback only unless the operator says
# otherwise, whatever FORWARDED_ALLOW_IPS holds (container images often set it to "*", which
# would let any client claim to be 127.0.0.1 and pass the loopback-only admin check).
LOOPBACK_PROXIES = ("127.0.0.1", "::1")


def _uvicorn_config(
    app: ASGIApp, *, forwarded_allow_ips: Sequence[str] = LOOPBACK_PROXIES, **extra: Any
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # Always explicit, so uvicorn never falls back to the FORWARDED_ALLOW_IPS variable.
        forwarded_allow_ips=list(forwarded_allow_ips),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        server_header=False,
        **extra,
    )


class _ErrorCapture:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.errors.append(exc)
            raise


class WebServer:
    """An ASGI app on a loopback port in a daemon thread: ``with WebServer(app) as s: s.url``.

    ``root_path`` is the path prefix a reverse proxy strips (uvicorn's ``--root-path``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        root_path: str = "",
        forwarded_allow_ips: Sequence[str] = LOOPBACK_PROXIES,
    ) -> None:
        self._capture = _ErrorCapture(app)
        self._root_path = root_path
        self._forwarded_allow_ips = tuple(forwarded_allow_ips)
        self.host = host
        self.port = port
        self._sock = sock
        self.url = base_url(host, port)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions that escaped the app since start."""
        return self._capture.errors

    def check_errors(self) -> None:
        """Raise if a request crashed inside the app since the last check."""
        if self._capture.errors:
            found, self._capture.errors = self._capture.errors, []
            raise WebServerError(f"the web helper raised {len(found)} error(s): {found[0]!r}") from found[0]

    def start(self) -> WebServer:
        """Bind, serve, and return once connections are accepted."""
        sock = self._sock if self._sock is not None else bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = base_url(self.host, self.port)
        server = uvicorn.Server(
            _uvicorn_config(
                self._capture, root_path=self._root_path, forwarded_allow_ips=self._forwarded_allow_ips
            )
        )
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # surfaced by start()
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"oob-helper-web:{self.port}", daemon=True)
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise WebServerError(f"the web helper failed to start: {self._error!r}")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Stopping(threading.Event):
    """Set by Ctrl-C or SIGTERM; remembers which, for the exit code."""

    signum: int | None = None

    def exit_code(self) -> int:
        """0 when nothing stopped us, else 128 + the signal: 130 for Ctrl-C, 143 for SIGTERM."""
        return 0 if self.signum is None else 128 + self.signum


@contextlib.contextmanager
def stop_signals() -> Iterator[Stopping]:
    """An event set by Ctrl-C or SIGTERM, with the handlers in place before anything starts.

    Installing them first means a signal that arrives during start-up is not lost (or, for a
    process started with SIGINT ignored, never seen); the servers run in threads, so only the
    main thread ever handles signals.
    """
    stopping = Stopping()

    def note(signum: int, frame: FrameType | None) -> None:
        stopping.signum = signum
        stopping.set()

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_until_stopped(
    app: ASGIApp,
    sock: socket.socket,
    stopping: threading.Event,
    *,
    forwarded_allow_ips: Sequence[str] = LOOPBACK_PROXIES,
) -> None:
    """Serve ``app`` on ``sock`` until ``stopping`` is set (by ``stop_signals``), then stop."""
    server = WebServer(app, sock=sock, forwarded_allow_ips=forwarded_allow_ips)
    if stopping.is_set():
        return
    server.start()
    try:
        # A timeout keeps the wait responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()


def default_hosts(listen_host: str) -> list[str]:
    """Loopback names, plus the listening address unless it is a wildcard (0.0.0.0, ::)."""
    hosts = list(LOOPBACK_HOSTS)
    if listen_host not in ("", "0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        hosts.append(f"[{listen_host}]" if ":" in listen_host else listen_host)
    return hosts


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    allowed_hosts: Iterable[str] | None = None,
    forwarded_allow_ips: Sequence[str] = LOOPBACK_PROXIES,
) -> int:
    """``oob-helper serve``: the web helper in the foreground; returns the exit code.

    ``allowed_hosts`` are the host names installs are served on (default: ``default_hosts``);
    ``forwarded_allow_ips`` the proxies whose ``X-Forwarded-*`` headers are trusted (default
    loopback only, whatever the environment says).
    Only loopback clients are answered: put the helper behind the site's own authentication
    (embed it with ``create_app(..., is_admin=...)``) to serve remote administrators.
    """
    from oob_helper.helper import OAuthHelper  # noqa: PLC0415 - keeps this module light to import
    from oob_helper.stores import open_store  # noqa: PLC0415
    from oob_helper.web.app import create_app  # noqa: PLC0415

    hosts = list(allowed_hosts) if allowed_hosts else default_hosts(host)
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(f"oob-helper: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        print("Choose another --port, or stop the program using it.", file=sys.stderr)
        return 2
    try:
        store = open_store(settings.store_url)
        helper = OAuthHelper(settings, store)
        try:
            app = create_app(helper, allowed_hosts=hosts)
        except BaseException:
            helper.close()
            raise
    except OobHelperError as exc:
        sock.close()
        print(f"oob-helper: {exc}", file=sys.stderr)
        return 2
    try:
        url = base_url(host, sock.getsockname()[1])
        print(f"oob-helper web helper: {url}/", flush=True)
        print(f"Serving host names: {', '.join(hosts)} (loopback clients only). Ctrl-C stops.", flush=True)
        with stop_signals() as stopping:
            run_until_stopped(app, sock, stopping, forwarded_allow_ips=forwarded_allow_ips)
    finally:
        sock.close()
        helper.close()
    return stopping.exit_code()
