"""``mock-aweber`` (and ``python -m mock_server``): run the mock from the command line.

``mock-aweber serve [--host 127.0.0.1] [--port 8081] [--profile aweber|constantcontact]
[--config FILE] [--access-token-ttl SECONDS] [--allowed-host NAME ...] [--state FILE]
[--control-token TOKEN | --no-control]``

On start it prints the base URL, the endpoint URLs, the API base, the dashboard URL and the
demo credentials, then serves with uvicorn (uvloop and httptools when installed) until Ctrl-C
(exit 130) or SIGTERM (exit 143), as shells report a process those signals stopped. Usage and
configuration errors exit 2 with a message.

The control token may also come from the ``MOCK_AWEBER_CONTROL_TOKEN`` environment variable
(kept out of the process list). When the host is not a loopback address and neither a token nor
``--no-control`` is given, a random token is generated and printed: the control plane can reset
the server and mint codes, so it is never left open to the network.

With ``--state FILE`` every world (clock, clients, users, codes and tokens, API data, webhook
set-up, faults, the request log) is kept in that SQLite file and restored on the next start;
without it the mock forgets everything when it stops.

Requests whose Host header names neither a loopback name, the address a connection came in on,
nor an ``--allowed-host`` entry get 421 (DNS rebinding; see ``mock_server.origins``).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO

from mock_server.config import MockConfig, load_config
from mock_server.events import RequestLogFormatter, flush_request_log
from mock_server.origins import check_allowed_host

EXIT_OK = 0
EXIT_USAGE = 2
TOKEN_ENV = "MOCK_AWEBER_CONTROL_TOKEN"

DEMO_CREDENTIALS = """\
Demo credentials:
  user:                 demo / password demo
  public client:        demo-public (no secret; PKCE S256 required)
  confidential client:  demo-confidential / secret demo-secret
  redirect URIs:        urn:ietf:wg:oauth:2.0:oob, http://127.0.0.1:8000/callback"""


class UsageError(Exception):
    """A bad flag or configuration file; the message says what to fix."""


# Young-generation size for the collector in ``serve`` (CPython's default is 700); see tune_gc.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Set the serving process's garbage collector for a long-lived heap (issue 14).

    Every request allocates a few short-lived objects while the token book keeps many
    long-lived ones (access tokens live two hours, one per refresh): with CPython's default
    thresholds the collector walks them again and again, about a tenth of the CPU of a refresh
    grant (bench/bench_token_endpoint.py). What start-up built is frozen out of collection, and
    the young generation is collected after 20,000 allocations instead of 700. Only ``serve``
    does this: it owns its process; the pytest fixture runs inside the tests' own.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 (any free port) to 65535, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``mock-aweber`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mock-aweber",
        description="An offline mock of AWeber's OAuth 2 authorization server and REST API slice.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="run the mock server until Ctrl-C or SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8081, help="port to listen on; 0 picks a free one (default 8081)"
    )
    serve.add_argument(
        "--profile",
        choices=["aweber", "constantcontact"],
        help="provider to imitate (default aweber, or the config file's)",
    )
    serve.add_argument(
        "--config", metavar="FILE", help="JSON or TOML file: clients, users, lifetimes, policies"
    )
    serve.add_argument(
        "--access-token-ttl",
        type=_positive_int,
        metavar="SECONDS",
        help="access token lifetime (default: the profile's, 7200 for aweber)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also serve this Host: NAME, NAME:PORT, *.SUFFIX, or * for any (repeatable; loopback "
        "names and the listening address are always served)",
    )
    serve.add_argument(
        "--state",
        metavar="FILE",
        help="keep every world in this SQLite file (created 0600) and restore it on the next start",
    )
    control = serve.add_mutually_exclusive_group()
    control.add_argument(
        "--control-token",
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' on /_mock/ (or set {TOKEN_ENV})",
    )
    control.add_argument("--no-control", action="store_true", help="remove the /_mock/ control plane")
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="server log level; 'info' logs one line per request, without secrets (default info)",
    )
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(args: argparse.Namespace) -> MockConfig:
    """The configuration from ``--config`` with the flags applied on top."""
    config = MockConfig()
    if args.config:
        try:
            config = load_config(args.config)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    changes: dict[str, Any] = {}
    if args.profile:
        changes["profile"] = args.profile
    if args.access_token_ttl:
        changes["access_token_ttl"] = args.access_token_ttl
    if args.allowed_host:
        try:
            extra = tuple(check_allowed_host(h) for h in args.allowed_host)
        except ValueError as exc:
            raise UsageError(f"--allowed-host: {exc}") from None
        changes["allowed_hosts"] = (*config.allowed_hosts, *extra)
    return dataclasses.replace(config, **changes) if changes else config


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening before the banner is printed: a client that reads the URL and connects at
        # once waits in the backlog instead of being refused while uvicorn starts.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def banner(
    base: str,
    config: MockConfig,
    *,
    control_token: str | None,
    control: bool,
    generated: bool,
    state_file: str | None = None,
) -> str:
    """What ``serve`` prints on start; ``state_file`` is the ``--state`` line's text."""
    lines = [
        f"mock-aweber ({config.profile} profile) is serving.",
        f"  base URL:        {base}",
        f"  authorize URL:   {base}/oauth2/authorize",
        f"  token URL:       {base}/oauth2/token",
        f"  revoke URL:      {base}/oauth2/revoke",
        f"  API base:        {base}/1.0",
    ]
    if config.profile == "constantcontact":
        lines += [
            f"  CC authorize:    {base}/oauth2/default/v1/authorize",
            f"  CC token:        {base}/oauth2/default/v1/token",
            f"  CC API base:     {base}/v3",
        ]
    lines.append(f"  OpenAPI:         {base}/openapi.json")
    if state_file is not None:
        lines.append(f"  state file:      {state_file}")
    if config.allowed_hosts:
        lines.append(f"  also serves:     {', '.join(config.allowed_hosts)} (Host names besides loopback)")
    if not control:
        lines.append("  dashboard:       disabled (--no-control)")
    else:
        lines.append(f"  dashboard:       {base}/_mock/")
        if control_token is None:
            lines.append("  control API:     open (no control token)")
        elif generated:
            lines.append(f"  control token:   {control_token} (generated: the host is not loopback)")
        else:
            lines.append(
                "  control token:   required (Authorization: Bearer <token>; the dashboard asks for it)"
            )
    if config.clients is None and config.users is None:
        lines.append(DEMO_CREDENTIALS)
    else:
        clients = [c.client_id for c in config.clients or ()]
        users = [u.username for u in config.users or ()]
        lines.append("Credentials from the config file (secrets and passwords not shown):")
        lines.append(f"  clients: {', '.join(clients) or '(demo clients)'}")
        lines.append(f"  users:   {', '.join(users) or '(demo user)'}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def serve(args: argparse.Namespace, out: TextIO) -> int:
    """Run the server until a signal asks it to stop."""
    from mock_server.app import create_app  # noqa: PLC0415
    from mock_server.persist import StateFileError  # noqa: PLC0415

    config = load(args)
    control = not args.no_control
    token: str | None = args.control_token or os.environ.get(TOKEN_ENV) or None
    generated = False
    if control and token is None and not _is_loopback(args.host):
        token, generated = secrets.token_urlsafe(24), True
    if args.state is not None and not args.state.strip():
        raise UsageError("--state needs a file path, e.g. --state ./mock-state.db")
    try:
        app = create_app(config, control_token=token, enable_control=control, state_file=args.state)
    except StateFileError as exc:
        raise UsageError(f"--state: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"bad configuration: {exc}") from None
    persister = app.state.persister
    try:
        return _run(app, args, config, token=token, control=control, generated=generated, out=out)
    finally:
        if persister is not None:
            persister.close()


def _run(
    app: Any,
    args: argparse.Namespace,
    config: MockConfig,
    *,
    token: str | None,
    control: bool,
    generated: bool,
    out: TextIO,
) -> int:
    """Bind, print the banner and serve ``app`` until a signal asks it to stop."""
    import uvicorn  # noqa: PLC0415 - keeps `--help` fast

    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    state_line = None
    if args.state is not None:
        state_line = f"{args.state} ({'restored' if app.state.state_restored else 'new: nothing to restore'})"
    text = banner(
        base, config, control_token=token, control=control, generated=generated, state_file=state_line
    )
    out.write(text + "\n")
    out.flush()

    # The request log arrives in batches (see mock_server.events): one line each on stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RequestLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="auto",
            http="auto",
            lifespan="auto",  # the webhook delivery worker runs in the lifespan
            # uvicorn's access log prints raw query strings, which can hold codes and tokens;
            # the mock's own request log (mock_server.requests) redacts them.
            access_log=False,
            log_level=args.log_level,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )

    # uvicorn re-raises the signal that stopped it once it has restored the previous handlers;
    # these handlers turn that into a clean return with the shell's code for the signal
    # (130, 143) instead of death by it, after the "stopped" line.
    stopped_by: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signum)
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    tune_gc()
    try:
        server.run(sockets=[sock])
    finally:
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)
        sock.close()
        flush_request_log()  # the last requests' lines before the goodbye
    print("mock-aweber stopped.", file=sys.stderr)
    return 128 + stopped_by[0] if stopped_by else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return serve(args, sys.stdout)
    except UsageError as exc:
        print(f"mock-aweber: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
