"""``oob-helper`` command line: parse arguments, run one command, turn errors into exit codes.

A thin shell: settings come from ``oob_helper.config``, the work from ``OAuthHelper``; this
module only translates. Exit codes (interface.md): 0 ok, 2 usage or configuration error,
3 a person must connect (never connected, or reauthorization required), 4 provider or network
error; 130 when interrupted, 143 when terminated. Errors are one
line on stderr, never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from oob_helper import cli_commands, cli_signals
from oob_helper.config import SECRET_SETTINGS, SETTING_NAMES, default_config_path, env_name, flag_name
from oob_helper.durations import parse_duration
from oob_helper.errors import (
    AttemptError,
    AuthorizationDenied,
    ConfigurationError,
    InvalidClient,
    InvalidPaste,
    NetworkError,
    NotConnected,
    OobHelperError,
    ProviderError,
    ReauthorizationRequired,
    SiteMismatch,
    StoreError,
)
from oob_helper.health import KEEPALIVE_MARGIN
from oob_helper.notify.settings import NOTIFY_HELP
from oob_helper.transport import defer_httpx_command_line

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REAUTHORIZE = 3
EXIT_PROVIDER = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it


PROG = "oob-helper"

_SETTING_HELP = {
    "provider": "aweber (default), constantcontact or custom",
    "client_id": "the app's client id",
    "scopes": "space-separated scopes to request (default: the provider's read scopes)",
    "auth_base": "base URL of the authorization server, e.g. the mock's URL",
    "api_base": "base URL of the API, e.g. <mock URL>/1.0",
    "authorize_url": "full authorize endpoint URL (required for custom)",
    "token_url": "full token endpoint URL (required for custom)",
    "revoke_url": "full revocation endpoint URL",
    "client_auth": "token endpoint client authentication: basic, post or none",
    "redirect_uri": "urn:ietf:wg:oauth:2.0:oob (default) or a registered http(s) URL",
    "store": "token store URL: sqlite:///PATH, memory://, redis://..., postgresql://...",
    **NOTIFY_HELP,
    "refresh_token_lifetime": "how long a refresh token lives unused, e.g. 180d; 0 = never "
    "expires (default: the provider's rule)",
    "refresh_backoff_base": "after failed refreshes, the first wait of the shared back-off "
    "(doubling, with jitter; default 30s; the first retry is immediate)",
    "refresh_backoff_max": "the longest wait of the shared refresh back-off (default 1h)",
    "metrics": "otel: record refreshes and installs through OpenTelemetry (the otel extra); default off",
}

_DESCRIPTION = f"""\
Connect an app to AWeber-style OAuth 2 with the out-of-band flow, and keep it connected.

Settings come from flags, then environment variables, then a TOML config file (--config,
{env_name("config")}, or if it exists {{default_config}}, the
user's config directory), then the provider's defaults. Each flag below has an environment variable
{env_name("<name>")} and a config key <name>; the client secret and the web signing key
are read only from {env_name("client_secret")} / {env_name("secret_key")} or the config
file, so they never appear in a process list. Token stores encrypt at rest with the Fernet
keys in OOB_HELPER_ENCRYPTION_KEYS (comma-separated, the first encrypts).

Exit codes: 0 ok, 2 usage or configuration error, 3 a person must connect (the install was
never connected, or needs reauthorization: status shows state not_connected or
reauthorization_required; run `connect`), 4 provider or network error (retry later),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM; refreshes already sent finish and are
stored first). The same for `serve` and `demo`, which run until Ctrl-C or SIGTERM.
"""

_CONNECT_HELP = """\
Authorize an install. By default: print the authorize URL and instructions on stderr, read the
pasted code or redirect URL from stdin (or take --code), exchange it, store the tokens, and
print the connected account on stdout. Everything meant for a person goes to stderr, so stdout
carries only the result and can be piped. In two steps, for scripts: `connect --start` prints
the URL (and with --json the attempt id) on stdout; then `connect --attempt ID --code CODE`.
"""

_REFRESH_HELP = """\
Refresh tokens now. A progress bar is drawn on stderr only when stderr is a terminal; the
summary line (refreshed, skipped, reauthorization required, failed) goes to stdout, and each
install that was not refreshed is named on stderr. Exit 3 if a person must connect any of them
(not connected, or reauthorization required), else 4 if any failed, else 0.

--keepalive refreshes only the installs whose refresh token would otherwise lapse unused within
--keepalive-margin (default 30d; the provider's idle lifetime, Constant Contact's 180 days, or
OOB_HELPER_REFRESH_TOKEN_LIFETIME), and those whose age is unknown (older records); the summary
adds "not due N" for the rest. Run `refresh --all --keepalive` daily from cron.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in our one-line style (still exit 2)."""

    def error(self, message: str) -> NoReturn:
        # One line, not the whole usage: with every settings flag it would fill the screen.
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Settings flags; SUPPRESS so a flag given before or after the subcommand both count."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the helper does on stderr (never a secret)",
    )
    group = parser.add_argument_group("settings (flags > environment > config file)")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"TOML config file (env {env_name('config')})",
    )
    for key in SETTING_NAMES:
        if key in SECRET_SETTINGS:
            continue
        group.add_argument(
            flag_name(key),
            dest=key,
            metavar=key.split("_")[-1].upper(),
            default=argparse.SUPPRESS,
            help=f"{_SETTING_HELP[key]} (env {env_name(key)})",
        )


def _install_arg(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--install",
        metavar="NAME",
        required=required,
        help="the install's key, e.g. the site's domain",
    )


def _add_move_commands(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """``adopt-store`` and ``move-install``: the clone guard's two deliberate moves."""
    command(
        "adopt-store",
        "this store's new location is legitimate: its installs may refresh here again",
        "After a deliberate move (a disk move, a restore once the original is retired): record "
        "this store's location in every install, so the clone guard stops refusing to refresh "
        "them here. Never run it on a copy while the original still runs: both would spend the "
        "same single-use refresh tokens.",
    )
    move = command(
        "move-install",
        "rename an install (a new site name), keeping its connection",
        "Rename install OLD to NEW keeping its connection: NEW is created (it must not exist), "
        "then OLD is deleted. If it stops between the two steps, run it again to finish.",
    )
    move.add_argument("old", metavar="OLD", help="the install's current name")
    move.add_argument("new", metavar="NEW", help="its new name, e.g. the site's new host name")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (exposed for documentation and tests)."""
    parser = _Parser(
        prog=PROG,
        description=_DESCRIPTION.replace("{default_config}", str(default_config_path())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    _add_settings_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_settings_options(cmd)
        return cmd

    connect = command("connect", "authorize an install (paste the code)", _CONNECT_HELP)
    _install_arg(connect)
    connect.add_argument(
        "--code",
        metavar="CODE_OR_URL",
        help="the authorization code or the whole redirect URL ('-' reads it from stdin)",
    )
    connect.add_argument("--open-browser", action="store_true", help="open the authorize URL in a browser")
    connect.add_argument(
        "--start", action="store_true", help="only start: print the authorize URL on stdout and exit"
    )
    connect.add_argument(
        "--attempt", metavar="ID", help="complete the attempt a previous `connect --start` began"
    )
    connect.add_argument("--json", action="store_true", help="print the result as JSON")

    token = command(
        "token",
        "print a valid access token on stdout (nothing else)",
        "Print a valid access token on stdout and nothing else, refreshing it first when it is expiring.",
    )
    _install_arg(token)
    token.add_argument(
        "--check",
        action="store_true",
        help="first try the token on the API; on a 401 refresh once (catches early revocation)",
    )

    status = command(
        "status",
        "show each install's state, account, scopes, expiry and problem",
        "Show each install's state, account, scopes, access-token expiry and problem "
        "(reauthorization_required, refresh_token_lapsed, refresh_token_expiring, refresh_overdue). "
        "Exit 3 when a listed install needs a person (reauthorization required, or its refresh token "
        "has lapsed: connect it again); an expiring or overdue refresh token is a warning (exit 0): "
        "`refresh` fixes it.",
    )
    _install_arg(status, required=False)
    status.add_argument(
        "--json",
        action="store_true",
        help="JSON on stdout: one object with --install, else a list of objects",
    )
    # The fleet page's filters (oob_helper/fleet.py), for a store of many installs.
    status.add_argument(
        "--state",
        choices=("all", "connected", "reauthorization_required"),
        help="only installs in this state",
    )
    status.add_argument(
        "--problem",
        choices=("any", "some", "none"),
        help="only installs with a problem (some) or without one (none)",
    )
    status.add_argument("--search", metavar="TEXT", help="only installs whose name contains TEXT (any case)")
    status.add_argument(
        "--after", metavar="INSTALL", help="start after this install (keyset paging: the last one you saw)"
    )
    status.add_argument("--limit", metavar="N", help="at most N installs (1-500; with --after for paging)")

    refresh = command("refresh", "refresh tokens now", _REFRESH_HELP)
    target = refresh.add_mutually_exclusive_group(required=True)
    target.add_argument("--install", metavar="NAME", help="refresh this install")
    target.add_argument("--all", action="store_true", help="refresh every install")
    refresh.add_argument(
        "--within",
        metavar="DURATION",
        type=_duration,
        help="only tokens expiring within DURATION (e.g. 90s, 10m, 2h, 1d, 1h30m)",
    )
    refresh.add_argument(
        "--keepalive",
        action="store_true",
        help="only installs whose refresh token would lapse unused within --keepalive-margin "
        "(the provider's idle lifetime, e.g. Constant Contact's 180 days); run it daily from cron",
    )
    refresh.add_argument(
        "--keepalive-margin",
        metavar="DURATION",
        type=_duration,
        default=None,
        help="with --keepalive: refresh tokens lapsing within DURATION "
        f"(default {KEEPALIVE_MARGIN // 86400:.0f}d)",
    )
    refresh.add_argument(
        "--concurrency",
        metavar="N",
        type=_concurrency,
        default=8,
        help="refresh at most N installs at once (1-256, default 8)",
    )

    disconnect = command("disconnect", "revoke at the provider, then forget the install")
    _install_arg(disconnect)
    disconnect.add_argument(
        "--force", action="store_true", help="forget the install even if the provider's revoke fails"
    )

    _add_move_commands(command)

    serve = command("serve", "run the web helper")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        metavar="HOST",
        action="append",
        help="a Host header to accept (repeatable; default: the listening host)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="LIST",
        type=_forwarded_allow_ips,
        default=None,
        help="comma-separated proxy addresses or networks whose X-Forwarded-* headers are "
        "trusted, or '*' (default: loopback only, whatever FORWARDED_ALLOW_IPS says)",
    )

    demo = sub.add_parser(
        "demo",
        help="run the mock and the web helper together on loopback",
        description="Run the mock AWeber server and the web helper on loopback with a SQLite "
        "store in a temporary directory, print both URLs and the demo login; Ctrl-C stops both.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address for both servers (default 127.0.0.1)")
    demo.add_argument("--helper-port", type=_port, default=8000, help="web helper port (default 8000)")
    demo.add_argument("--mock-port", type=_port, default=8081, help="mock server port (default 8081)")

    migrate = sub.add_parser(
        "migrate-store",
        help="copy every install from one store to another",
        description="Copy every install record from one token store to another "
        "(e.g. sqlite to postgresql); records already in the target are replaced, and each is read "
        "back and compared; each copied record is stamped with the target's location (a deliberate "
        "move, so the clone guard lets the target refresh them). Both stores use "
        "OOB_HELPER_ENCRYPTION_KEYS. The same URL twice "
        "rewrites every record in place with the first key (key rotation). Stop the workers that "
        "refresh tokens first.",
    )
    migrate.add_argument("--from", dest="source", metavar="URL", required=True, help="the store to read")
    migrate.add_argument("--to", dest="target", metavar="URL", required=True, help="the store to write")
    return parser


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use e.g. 90s, 10m, 2h, 1d or 1h30m"
        ) from None


def _bounded_int(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid {what}: use a number from {low} to {high}")
    return value


def _concurrency(text: str) -> int:
    return _bounded_int(text, 1, 256, "concurrency")


def _port(text: str) -> int:
    return _bounded_int(text, 0, 65535, "port")


def _forwarded_allow_ips(text: str) -> list[str]:
    """``--forwarded-allow-ips``: IP addresses or networks, comma-separated, or ``*``."""
    import ipaddress  # noqa: PLC0415 - only for this flag

    entries = [item.strip() for item in text.split(",") if item.strip()]
    if not entries:
        raise argparse.ArgumentTypeError("give at least one address, e.g. 127.0.0.1 or 10.0.0.0/8")
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, ::1, or *)"
            ) from None
    return entries


class _VersionAction(argparse.Action):
    """``--version``, reading the installed version only when asked: importlib.metadata takes
    longer to load than the rest of a ``token`` run."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("oob-helper")
    except PackageNotFoundError:
        return "unknown"


def exit_code_for(exc: OobHelperError) -> int:
    """The documented exit code for an error."""
    if isinstance(exc, ConfigurationError | InvalidPaste | AttemptError):
        return EXIT_USAGE
    if isinstance(exc, ReauthorizationRequired | NotConnected | AuthorizationDenied | SiteMismatch):
        return EXIT_REAUTHORIZE
    if isinstance(exc, ProviderError | NetworkError | StoreError):
        return EXIT_PROVIDER
    return EXIT_PROVIDER


def _hint(exc: OobHelperError) -> str:
    """What to do next, when the message itself may not say."""
    if isinstance(exc, ReauthorizationRequired | NotConnected):
        install = getattr(exc, "install", "NAME")
        return f"run `{PROG} connect --install {install}`"
    if isinstance(exc, AttemptError):
        return f"start again with `{PROG} connect`"
    if isinstance(exc, NetworkError):
        return "check the network and the provider URLs (OOB_HELPER_AUTH_BASE/TOKEN_URL), then retry"
    if isinstance(exc, InvalidClient):
        return "check OOB_HELPER_CLIENT_ID, OOB_HELPER_CLIENT_SECRET and OOB_HELPER_CLIENT_AUTH"
    if isinstance(exc, ProviderError):
        if exc.status_code == 404:
            return "check the provider URLs (OOB_HELPER_AUTH_BASE, OOB_HELPER_TOKEN_URL)"
        if exc.status_code is not None and exc.status_code >= 500:
            return "the provider is failing; retry later"
        return ""
    return ""


def report_error(exc: OobHelperError) -> int:
    """Print ``exc`` as one line on stderr; return its exit code."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ProviderError) and exc.error not in message:
        message = f"{message} ({exc.error})"
    hint = _hint(exc)
    if hint and hint not in message:
        message = f"{message}; {hint}"
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return exit_code_for(exc)


# Options whose value is pasted text that may begin with "-" (a code is URL-safe base64):
# argparse would read "--code -abc" as two options, so the value is attached ("--code=-abc").
_VALUE_FLAGS = ("--code", "--attempt")


def _attach_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        if argv[i] in _VALUE_FLAGS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def console_main() -> NoReturn:
    """The ``oob-helper`` console script (and ``python -m oob_helper``): main(), then exit.

    The objects still alive are frozen first, so the interpreter's last collections skip them:
    they walked every one (15-20 ms after a ``refresh --all`` of 1,000 installs,
    bench/bench_refresh_all.py) only to find what the exit frees anyway. By then the command
    has committed and closed everything it wrote, and stdout is flushed at exit as before.
    Not in main(), which tests and embedders call in a process that goes on.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    defer_httpx_command_line()
    try:
        try:
            args = build_parser().parse_args(_attach_values(sys.argv[1:] if argv is None else list(argv)))
        except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        with cli_signals.installed():
            return cli_commands.run(args, os.environ)
    except OobHelperError as exc:
        return report_error(exc)
    except cli_signals.Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug: one line instead of a traceback, as every error is shown
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]}; "
            "please report this",
            file=sys.stderr,
        )
        return 1
