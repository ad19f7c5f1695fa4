"""Notification settings: what the ``notify_*`` settings mean, checked at the edge.

Pure (no I/O): ``parse_notify`` turns the winning string values into ``NotifySettings`` or
raises ``ConfigurationError`` naming the setting and the fix. The webhook secret and the SMTP
password are never echoed (not in the repr, not in any message).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from oob_helper.errors import ConfigurationError

# The notify_* config keys, in the order the CLI lists their flags.
NOTIFY_SETTING_NAMES: tuple[str, ...] = (
    "notify_webhook_url",
    "notify_webhook_secret",
    "notify_smtp_host",
    "notify_smtp_port",
    "notify_smtp_starttls",
    "notify_smtp_user",
    "notify_smtp_password",
    "notify_from",
    "notify_to",
    "notify_events",
    "notify_page_url",
)
NOTIFY_SECRET_SETTINGS = frozenset({"notify_webhook_secret", "notify_smtp_password"})
# Settings a config file may give as a TOML list (joined with commas before parsing).
NOTIFY_LIST_SETTINGS = frozenset({"notify_to", "notify_events"})
NOTIFY_HELP = {
    "notify_webhook_url": "POST lifecycle events as signed JSON to this http(s) URL",
    "notify_smtp_host": "SMTP server that mails lifecycle notifications",
    "notify_smtp_port": "SMTP port (default 587 with STARTTLS, 25 without)",
    "notify_smtp_starttls": "on (default) or off: upgrade the SMTP connection with STARTTLS",
    "notify_smtp_user": "SMTP login user (its password: env OOB_HELPER_NOTIFY_SMTP_PASSWORD)",
    "notify_from": "From address of notification mails",
    "notify_to": "recipients of notification mails, separated by commas",
    "notify_events": "conditions that notify (default: the ones that need a person or warn)",
    "notify_page_url": "where a person reconnects, named in mails ({install} is replaced)",
}

# Conditions a notification can be about: the lifecycle event kinds, with refresh_failed split
# by whether it passes on its own. Kinds other parts of the helper emit are named here too, so
# a deployment can list them before its helper emits them.
CONDITIONS: tuple[str, ...] = (
    "reauthorization_required",
    "refresh_failed",  # permanent failures only: a person must act
    "refresh_failed_transient",
    "refresh_token_expiring",
    "refresh_overdue",
    "clone_detected",
    "connected",
    "refreshed",
    "disconnected",
)
DEFAULT_CONDITIONS: tuple[str, ...] = (
    "reauthorization_required",
    "refresh_failed",
    "refresh_token_expiring",
    "refresh_overdue",
    "clone_detected",
)
MIN_WEBHOOK_SECRET_LENGTH = 32
_SPLIT = re.compile(r"[,\s]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class NotifySettings:
    """Where lifecycle notifications go; empty (the default) sends none."""

    webhook_url: str | None = field(default=None, repr=False)  # may hold a token in its path
    webhook_secret: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    mail_from: str | None = None
    mail_to: tuple[str, ...] = ()
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    page_url: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether any notifier is configured."""
        return bool(self.webhook_url or self.smtp_host)

    @property
    def webhook_host(self) -> str | None:
        """The webhook's scheme and host, the only part of its URL that is ever shown."""
        return origin(self.webhook_url) if self.webhook_url else None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: a webhook URL's path or query may hold a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


Where = Callable[[str], str]  # a key -> how a user sets it, for messages


def _http_url(key: str, value: str, source: str, where: Where, *, show: bool) -> str:
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        parts = None
    shown = f", got {value!r}" if show else ""
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source} must be an absolute http(s) URL such as https://example.com/path{shown}: "
            f"fix {where(key)}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{source} must not carry a user or password: remove the 'user:password@' part "
            "(the webhook is authenticated by its signature)"
        )
    if parts.fragment:
        raise ConfigurationError(f"{source} must not contain a '#' fragment: remove it")
    return value


def _address(value: str, source: str) -> str:
    if re.search(r"[\r\n\x00]", value):
        raise ConfigurationError(f"{source}: an email address must be on one line: remove the line break")
    from email.utils import parseaddr  # noqa: PLC0415 - only when mail is configured

    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or re.search(r"\s", address):
        raise ConfigurationError(
            f"{source}: {value!r} is not an email address: use the form name@example.com"
        )
    return value


def _flag(key: str, value: str, source: str) -> bool:
    word = value.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigurationError(f"{source} must be on or off (true/false, yes/no, 1/0), got {value!r}")


def _port(value: str, source: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(f"{source} must be a port number from 1 to 65535, got {value!r}")
    return int(value)


def _conditions(value: str, source: str) -> tuple[str, ...]:
    names = tuple(n for n in _SPLIT.split(value.lower()) if n)
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown condition(s) {', '.join(unknown)}: use some of {', '.join(CONDITIONS)}"
        )
    return names


def parse_notify(values: Mapping[str, str], sources: Mapping[str, str], where: Where) -> NotifySettings:
    """``NotifySettings`` from the winning ``notify_*`` values (``sources``: where each came from)."""
    url = values.get("notify_webhook_url")
    secret = values.get("notify_webhook_secret")
    if url is not None:
        _http_url("notify_webhook_url", url, sources["notify_webhook_url"], where, show=False)
        if secret is None:
            raise ConfigurationError(
                f"{sources['notify_webhook_url']} is set but the webhook has no signing secret: set "
                f"{where('notify_webhook_secret')} to at least {MIN_WEBHOOK_SECRET_LENGTH} random "
                "characters, shared with the receiver"
            )
    if secret is not None:
        if url is None:
            raise ConfigurationError(
                f"{sources['notify_webhook_secret']} is set but there is no webhook: set "
                f"{where('notify_webhook_url')}, or unset the secret"
            )
        if len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
            raise ConfigurationError(
                f"{sources['notify_webhook_secret']} is too short to sign notifications safely: use "
                f"at least {MIN_WEBHOOK_SECRET_LENGTH} random characters (e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(32))')"
            )

    host = values.get("notify_smtp_host")
    mail_keys = [
        k for k in NOTIFY_SETTING_NAMES if k.startswith(("notify_smtp_", "notify_from", "notify_to"))
    ]
    if host is None:
        stray = [sources[k] for k in mail_keys if k in values]
        if stray:
            raise ConfigurationError(
                f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} set but there is no SMTP "
                f"server: set {where('notify_smtp_host')}, or unset {'it' if len(stray) == 1 else 'them'}"
            )
    elif re.search(r"[\s/:@]", host):
        raise ConfigurationError(
            f"{sources['notify_smtp_host']} must be a host name or address only, got {host!r}: "
            f"give the port in {where('notify_smtp_port')}"
        )
    starttls = (
        _flag("notify_smtp_starttls", values["notify_smtp_starttls"], sources["notify_smtp_starttls"])
        if "notify_smtp_starttls" in values
        else True
    )
    port = (
        _port(values["notify_smtp_port"], sources["notify_smtp_port"])
        if "notify_smtp_port" in values
        else (587 if starttls else 25)
    )
    user, password = values.get("notify_smtp_user"), values.get("notify_smtp_password")
    if (user is None) != (password is None):
        given, missing = ("notify_smtp_user", "notify_smtp_password")[:: 1 if user else -1]
        raise ConfigurationError(
            f"{sources[given]} is set without {missing.replace('notify_', '').replace('_', ' ')}: "
            f"set {where(missing)} too, or unset both for a server that needs no login"
        )
    mail_from = values.get("notify_from")
    mail_to: tuple[str, ...] = ()
    if host is not None:
        if mail_from is None:
            raise ConfigurationError(
                f"notification mails need a sender: set {where('notify_from')}, e.g. oob-helper@example.com"
            )
        _address(mail_from, sources["notify_from"])
        if "notify_to" not in values:
            raise ConfigurationError(
                f"notification mails need at least one recipient: set {where('notify_to')} "
                "(several separated by commas)"
            )
        mail_to = tuple(
            _address(a.strip(), sources["notify_to"]) for a in values["notify_to"].split(",") if a.strip()
        )
    conditions = (
        _conditions(values["notify_events"], sources["notify_events"])
        if "notify_events" in values
        else DEFAULT_CONDITIONS
    )
    page_url = values.get("notify_page_url")
    if page_url is not None:
        _http_url("notify_page_url", page_url, sources["notify_page_url"], where, show=True)
    return NotifySettings(
        webhook_url=url,
        webhook_secret=secret,
        smtp_host=host,
        smtp_port=port,
        smtp_starttls=starttls,
        smtp_user=user,
        smtp_password=password,
        mail_from=mail_from,
        mail_to=mail_to,
        conditions=conditions,
        page_url=page_url,
    )


__all__ = [
    "CONDITIONS",
    "DEFAULT_CONDITIONS",
    "NOTIFY_SECRET_SETTINGS",
    "NOTIFY_SETTING_NAMES",
    "NotifySettings",
    "parse_notify",
]
