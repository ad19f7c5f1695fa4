"""The ``oob-helper`` commands: each takes parsed arguments and returns an exit code.

Everything meant for a person (URLs to open, prompts, progress, per-install problems) goes to
stderr; stdout carries only the result (a token, JSON, the connected account, the summary),
so scripts can pipe it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from oob_helper.cli_refresh import refresh_command
from oob_helper.cli_signals import critical
from oob_helper.config import SETTING_NAMES, Settings, default_config_path, load_settings
from oob_helper.errors import ConfigurationError
from oob_helper.health import Health
from oob_helper.tokens import InstallRecord

if TYPE_CHECKING:
    from oob_helper.helper import OAuthHelper

PROG = "oob-helper"
MAX_PASTE = 8192  # the facade refuses anything over 2 KB with its own message


# Commands that work on installs already connected: they read the store, and need the client
# id only once a token must be refreshed (the helper says so then).
STORE_ONLY_COMMANDS = frozenset({"status", "token", "refresh"})


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from the flags in ``args``, then ``environ``, then the config file."""
    overrides = {key: getattr(args, key, None) for key in SETTING_NAMES}
    config_file = getattr(args, "config", None)
    if config_file is None and not environ.get("OOB_HELPER_CONFIG"):
        default = default_config_path()
        config_file = str(default) if default.is_file() else None
    return load_settings(
        overrides=overrides,
        environ=environ,
        config_file=config_file,
        require_client_id=getattr(args, "command", None) not in STORE_ONLY_COMMANDS,
    )


@contextmanager
def open_helper(settings: Settings) -> Iterator[OAuthHelper]:
    """The library facade over the configured store; closed (with the store) afterwards."""
    from oob_helper.helper import OAuthHelper  # noqa: PLC0415 - keep `--help` fast
    from oob_helper.stores import open_store  # noqa: PLC0415

    store = open_store(settings.store_url)
    try:
        helper = OAuthHelper(settings, store)
    except BaseException:
        store.close()
        raise
    try:
        yield helper
    finally:
        helper.close()


def configure_logging(verbose: bool) -> None:
    """The library logs to ``oob_helper``; show it on stderr only with --verbose.

    Without a handler Python's last-resort one would print every warning a second time
    beside the CLI's own one-line messages.
    """
    logger = logging.getLogger("oob_helper")
    for old in [h for h in logger.handlers if getattr(h, "oob_helper_cli", False)]:
        logger.removeHandler(old)  # main() may run more than once in a process
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
        logger.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    handler.oob_helper_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run the command named in ``args``."""
    configure_logging(getattr(args, "verbose", False))
    if args.command == "demo":
        return _demo(args)
    if args.command == "migrate-store":
        return _migrate_store(args)
    settings = settings_from_args(args, environ)
    if args.command == "serve":
        return _serve(args, settings)
    commands: dict[str, Callable[[argparse.Namespace, OAuthHelper, Settings], int]] = {
        "connect": _connect,
        "token": _token,
        "status": _status,
        "refresh": refresh_command,
        "disconnect": _disconnect,
        "adopt-store": _adopt_store,
        "move-install": _move_install,
    }
    with open_helper(settings) as helper:
        return commands[args.command](args, helper, settings)


# -- connect ---------------------------------------------------------------------------------


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)
    sys.stderr.flush()


def read_paste(stream: TextIO, *, prompt: str | None) -> str:
    """The first non-blank line a user pastes (leading blank lines are skipped)."""
    if prompt:
        sys.stderr.write(prompt)
        sys.stderr.flush()
    read = 0
    while read < MAX_PASTE:
        line = stream.readline(MAX_PASTE)
        if not line:
            break
        read += len(line)
        if line.strip():
            return line
    if prompt:
        # End the prompt's line: the error must not read as if it were the user's answer.
        sys.stderr.write("\n")
    raise ConfigurationError(
        "no authorization code was pasted: paste the code (or the whole redirect URL) shown "
        "after allowing access, or pass it with --code"
    )


def _connect(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    install: str = args.install
    if args.start and (args.code or args.attempt):
        raise ConfigurationError("--start only begins an attempt: drop --code/--attempt, or drop --start")
    attempt_id: str | None = args.attempt
    if attempt_id is None:
        if args.code and args.code != "-" and settings.is_public:
            raise ConfigurationError(
                "--code needs the attempt that produced the code (a public client's code is bound to "
                f"its PKCE challenge): run `{PROG} connect --install {install} --start --json`, open "
                "its authorize_url, then pass --attempt ID --code CODE"
            )
        current = helper.status(install)
        if current.state != "not_connected" and not args.start:
            _say(f"Install {install!r} is {current.state.replace('_', ' ')}: connecting replaces its tokens.")
        start = helper.start_authorization(install)
        attempt_id = start.attempt.attempt_id
        if args.start:
            return _print_started(install, start.authorize_url, attempt_id, start.attempt.expires_at, args)
        _say(
            f"Open this URL in a browser, sign in and allow access for install {install!r}:",
            "",
            f"    {start.authorize_url}",
            "",
        )
        if args.open_browser:
            open_browser(start.authorize_url)
    if args.code and args.code != "-":
        pasted = args.code
    else:
        prompt = None if args.code == "-" else "Paste the authorization code (or the redirect URL): "
        pasted = read_paste(sys.stdin, prompt=prompt)
    with critical():  # the code is spent at the provider: store what it gives back
        record = helper.complete_authorization(install, attempt_id, pasted)
    if args.json:
        _print_json(record_json(record, time.time(), encrypted=store_encrypted(helper.store)))
    else:
        print(f"Connected install {install!r} to {account_label(record)}.")
    return 0


def open_browser(url: str) -> None:
    """Open ``url`` in a graphical browser, if there is one.

    Without a display, Python's webbrowser falls back to console browsers (lynx, w3m) that
    would take over the terminal this command is about to read the paste from.
    """
    graphical = (
        sys.platform in ("darwin", "win32")
        or bool(os.environ.get("DISPLAY"))
        or bool(os.environ.get("WAYLAND_DISPLAY"))
        or bool(os.environ.get("BROWSER"))
    )
    import webbrowser  # noqa: PLC0415

    if not graphical or not webbrowser.open(url, new=2):
        _say("(no graphical browser to open: open the URL above yourself)")


def _print_started(
    install: str, url: str, attempt_id: str, expires_at: float, args: argparse.Namespace
) -> int:
    if args.json:
        _print_json(
            {
                "install": install,
                "authorize_url": url,
                "attempt": attempt_id,
                "expires_at": iso_time(expires_at),
            }
        )
    else:
        print(url)
    _say(
        "Open the URL, allow access, then finish with:",
        f"    {PROG} connect --install {install} --attempt {attempt_id} --code CODE",
        f"(the attempt expires at {iso_time(expires_at)})",
    )
    return 0


def account_label(record: InstallRecord) -> str:
    """``account NAME (id ID)``, or what is known of it."""
    if record.account_name and record.account_id:
        return f"account {record.account_name} (id {record.account_id})"
    if record.account_id or record.account_name:
        return f"account {record.account_id or record.account_name}"
    return "the provider (account unknown)"


# -- token, status, disconnect ---------------------------------------------------------------


def _token(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    with critical():
        token = helper.get_token(args.install, check=args.check)
    sys.stdout.write(token.access_token + "\n")
    return 0


def iso_time(when: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (``2026-01-02T03:04:05Z``)."""
    if when is None:
        return None
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_encrypted(store: Any) -> bool | None:
    """Whether the store encrypts tokens at rest (None: the backend does not say)."""
    describe = getattr(store, "describe", None)
    if describe is None:
        return None
    encrypted = describe().get("encrypted")
    return None if encrypted is None else bool(encrypted)


def record_json(
    record: InstallRecord, now: float, *, encrypted: bool | None = None, health: Health | None = None
) -> dict[str, Any]:
    """What ``status --json`` shows for one install (no secret)."""
    token = record.token
    expires_in = None if token is None else token.expires_in(now)
    health = health or Health()
    return {
        "install": record.install,
        "state": record.state,
        "account_id": record.account_id,
        "account_name": record.account_name,
        "scopes": [] if token is None else list(token.scopes),
        "expires_at": iso_time(None if token is None else token.expires_at),
        "expires_in": None if expires_in is None else int(expires_in),
        "last_refresh_at": iso_time(record.last_refresh_at),
        "reason": record.reason,
        "state_changed_at": iso_time(record.state_changed_at),
        "encrypted": encrypted,
        "problem": health.problem,
        "problem_since": iso_time(health.since),
        "problem_text": health.text,
        "needs_person": health.needs_person,
        "refresh_token_lapses_at": iso_time(health.lapses_at),
        "refresh_token_issued_at": iso_time(record.refresh_token_issued_at),
        "refresh_token_used_at": iso_time(record.refresh_token_used_at),
        "store_location": record.store_location,
    }


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def human_delta(seconds: float) -> str:
    """``1h59m``, ``4m10s``, ``12s``, ``3d2h``."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _expiry_text(record: InstallRecord, now: float) -> str:
    token = record.token
    if token is None or token.expires_at is None:
        return "-"
    left = token.expires_at - now
    when = iso_time(token.expires_at) or "-"
    return f"{when} (in {human_delta(left)})" if left >= 0 else f"{when} (expired {human_delta(left)} ago)"


def _listed(args: argparse.Namespace, helper: OAuthHelper) -> list[InstallRecord]:
    """Every install, or those the fleet filters (``--state``, ``--problem``, ``--search``,
    ``--after``, ``--limit``) select, in install order."""
    given = {
        key: value
        for key, value in (
            ("state", args.state),
            ("problem", args.problem),
            ("q", args.search),
            ("after", args.after),
            ("limit", args.limit),
        )
        if value is not None
    }
    if not given:
        return helper.installs()
    from itertools import islice  # noqa: PLC0415 - only with filters

    from oob_helper.fleet import BadQuery, FleetQuery, select  # noqa: PLC0415
    from oob_helper.stores._common import all_records  # noqa: PLC0415

    try:
        query = FleetQuery.parse(given, default_limit=0)
    except BadQuery as exc:
        raise ConfigurationError(f"status: {exc}") from None
    lifetime = helper.records.refresh_token_lifetime
    where = helper.records.location
    chosen = select(
        all_records(helper.store, query.after), query, helper.clock(), lifetime=lifetime, location=where
    )
    return list(islice(chosen, query.limit or None))


def _status(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    # Observing (not only reading) tells the refresh-token warnings that came due, once each.
    filters = ("state", "problem", "search", "after", "limit")
    filtered = any(getattr(args, name) is not None for name in filters)
    if args.install and filtered:
        raise ConfigurationError(
            "status: --install shows one install, the filters (--state, --problem, --search, "
            "--after, --limit) choose among many: use one or the other"
        )
    if args.install:
        records = [helper.observe(args.install)]
    else:
        records = [helper.observe(r.install, r) for r in _listed(args, helper)]
    now = helper.clock()
    healths = [helper.health(r) for r in records]
    # 3 when a person must act (reconnect); a warning with time left to refresh is still 0.
    code = EXIT_NEEDS_PERSON if any(h.needs_person for h in healths) else 0
    encrypted = store_encrypted(helper.store)
    copies = {r.install for r in records if helper.is_copy(r)}  # their problem: site_mismatch
    if args.json:
        pairs = zip(records, healths, strict=True)
        rows = [record_json(r, now, encrypted=encrypted, health=h) for r, h in pairs]
        _print_json(rows[0] if args.install else rows)
        return code
    words = {True: "encrypted", False: "NOT encrypted (set OOB_HELPER_ENCRYPTION_KEYS)", None: "unknown"}
    at_rest = f"Tokens at rest: {words[encrypted]}."
    filtered = any(
        getattr(args, name) is not None for name in ("state", "problem", "search", "after", "limit")
    )
    if not records and filtered:
        print("No install matches these filters.")
        print(f"\n{at_rest}")
        return 0
    if not records:
        print(f"No installs yet: connect one with `{PROG} connect --install NAME`.")
        print(f"\n{at_rest}")  # said the same way as below a table: it is the store's setting
        return 0
    table = [("INSTALL", "STATE", "ACCOUNT", "EXPIRES", "LAST REFRESH", "PROBLEM", "SCOPES")]
    for r, h in zip(records, healths, strict=True):
        state = r.state if r.state != "reauthorization_required" else f"{r.state}: {r.reason or '?'}"
        if r.install in copies:
            state = f"site_mismatch: connected in {r.store_location}"
        account = r.account_name or r.account_id or "-"
        if r.account_name and r.account_id:
            account = f"{r.account_name} ({r.account_id})"
        scopes = " ".join(r.token.scopes) if r.token and r.token.scopes else "-"
        last = iso_time(r.last_refresh_at) or "-"
        table.append((r.install, state, account, _expiry_text(r, now), last, h.problem or "-", scopes))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    for r, h in zip(records, healths, strict=True):
        if h.problem is not None:
            print(f"\n{problem_line(r.install, h)}")
    print(f"\n{at_rest}")
    if copies:
        print(
            f"\nThis store is at {helper.records.location}, but {len(copies)} install(s) were connected "
            "in a store elsewhere: it looks like a copy, so they are not refreshed here. If the "
            f"original is retired, run `{PROG} adopt-store`; if this is a copy, connect each anew "
            f"with `{PROG} connect --install NAME`."
        )
    return code


EXIT_NEEDS_PERSON = 3


def problem_line(install: str, health: Health) -> str:
    """``problem: install 'x': refresh_token_expiring since ..., lapses ...: <what to do>``."""
    when = f" since {iso_time(health.since)}" if health.since is not None else ""
    lapses = f", refresh token lapses {iso_time(health.lapses_at)}" if health.lapses_at is not None else ""
    return f"problem: install {install!r}: {health.problem}{when}{lapses}: {health.text}"


def _disconnect(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    with critical():
        record = helper.disconnect(args.install, force=args.force)
    if helper.is_copy(record):
        print(
            f"Forgot install {args.install!r} here only: it was connected in the store at "
            f"{record.store_location}, so its grant (the original's) was NOT revoked at the provider."
        )
        return 0
    print(f"Disconnected install {args.install!r}: revoked at the provider and forgotten.")
    return 0


def _adopt_store(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    with critical():
        adopted = helper.adopt_store()
    plural = "s" if adopted != 1 else ""
    print(
        f"adopted {adopted} install{plural}: their connections now belong to this store at "
        f"{helper.records.location}, and refresh here"
    )
    return 0


def _move_install(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    with critical():
        record = helper.move_install(args.old, args.new)
    print(f"Moved install {args.old!r} to {record.install!r}: same connection ({account_label(record)}).")
    return 0


# -- servers and store tools -----------------------------------------------------------------


def _missing(what: str, exc: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"{what} is not available in this installation ({type(exc).__name__}: {exc}): "
        "reinstall oob-helper with its web extras, or update it"
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from oob_helper.web.runner import serve  # noqa: PLC0415
    except ImportError as exc:
        raise _missing("the web helper (oob_helper.web.runner.serve)", exc) from None
    kwargs = {} if args.forwarded_allow_ips is None else {"forwarded_allow_ips": args.forwarded_allow_ips}
    result: int = serve(settings, host=args.host, port=args.port, allowed_hosts=args.allowed_hosts, **kwargs)
    return result


def _demo(args: argparse.Namespace) -> int:
    try:
        from oob_helper.demo import run_demo  # noqa: PLC0415
    except ImportError as exc:
        raise _missing("the demo (oob_helper.demo.run_demo)", exc) from None
    result: int = run_demo(host=args.host, helper_port=args.helper_port, mock_port=args.mock_port)
    return result


def _migrate_store(args: argparse.Namespace) -> int:
    from oob_helper.cli_migrate import migrate_store  # noqa: PLC0415

    copied, location = migrate_store(args.source, args.target, progress_stream=sys.stderr)
    plural = "s" if copied != 1 else ""
    if args.source.strip() == args.target.strip():
        print(f"rewrote {copied} install{plural} in place")
    elif location is not None:
        print(
            f"migrated {copied} install{plural}, each stamped with the target's location {location} "
            "(a deliberate move: the clone guard lets the target refresh them)"
        )
    else:
        print(f"migrated {copied} install{plural}")
    return 0
