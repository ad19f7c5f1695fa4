"""Settings: what the helper needs to talk to one provider as one client.

``load_settings`` resolves them from flags, environment ``OOB_HELPER_*`` and an optional TOML
config file, in that order of precedence, over the provider's defaults. Every bad value raises
``ConfigurationError`` naming the setting (as its variable name) and the fix; the client secret,
the secret key and store passwords are never echoed. The ``Settings`` fields are the contract
the library, CLI and web helper share; add, do not rename.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from urllib.parse import SplitResult, urlsplit

from oob_helper.errors import ConfigurationError
from oob_helper.notify.settings import (
    NOTIFY_LIST_SETTINGS,
    NOTIFY_SECRET_SETTINGS,
    NOTIFY_SETTING_NAMES,
    NotifySettings,
    parse_notify,
)
from oob_helper.providers import OOB_REDIRECT_URI, PROVIDERS, ClientAuth, Provider
from oob_helper.stores._common import redact_url


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``client_secret`` None means a public client (PKCE)."""

    provider: Provider
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()  # empty = the provider's default scopes
    redirect_uri: str = OOB_REDIRECT_URI
    client_auth: ClientAuth | None = None  # None = the provider's rule
    # None = a SQLite file in the user's data directory; not in the repr (it may hold a password)
    store_url: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    refresh_leeway: float = 300.0  # refresh this many seconds before expires_at
    attempt_ttl: float = 600.0  # pending authorizations expire after this
    # Lifecycle notifications (webhook, email); empty sends none (oob_helper/notify/).
    notify: NotifySettings = field(default_factory=NotifySettings)
    # Seconds a refresh token lives unused; None = the provider's rule, 0 = never expires.
    refresh_token_lifetime: float | None = None
    # "otel": record refreshes and installs through OpenTelemetry (oob_helper/metrics.py).
    metrics: str = "off"

    @property
    def is_public(self) -> bool:
        """True for a public client (no secret): PKCE, client_id in the body."""
        return not self.client_secret

    @property
    def effective_scopes(self) -> tuple[str, ...]:
        """The scopes to request."""
        return self.scopes or self.provider.default_scopes

    @property
    def effective_refresh_token_lifetime(self) -> float | None:
        """How long a refresh token lives unused (seconds), or None when it never expires."""
        if self.refresh_token_lifetime is None:
            return self.provider.refresh_token_lifetime
        return self.refresh_token_lifetime or None

    @property
    def effective_client_auth(self) -> ClientAuth:
        """How the client authenticates at the token endpoint."""
        if self.client_auth is not None:
            return self.client_auth
        return "none" if self.is_public else self.provider.confidential_auth


ENV_PREFIX = "OOB_HELPER_"
CONFIG_ENV = "OOB_HELPER_CONFIG"

# Every setting a user can give, by its config-file key; the environment variable is
# ``OOB_HELPER_`` + the key upper-cased, the flag ``--`` + the key with dashes.
SETTING_NAMES: tuple[str, ...] = (
    "provider",
    "client_id",
    "client_secret",
    "scopes",
    "auth_base",
    "api_base",
    "authorize_url",
    "token_url",
    "revoke_url",
    "client_auth",
    "redirect_uri",
    "store",
    "secret_key",
    *NOTIFY_SETTING_NAMES,
    "refresh_token_lifetime",
    "metrics",
)
# Secrets come from the environment or the config file only: a flag would show in `ps`.
SECRET_SETTINGS = frozenset({"client_secret", "secret_key", *NOTIFY_SECRET_SETTINGS})
CUSTOM_PROVIDER = "custom"
MIN_SECRET_KEY_LENGTH = 16

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def env_name(key: str) -> str:
    """The environment variable for a setting key (``client_id`` -> ``OOB_HELPER_CLIENT_ID``)."""
    return ENV_PREFIX + key.upper()


def flag_name(key: str) -> str:
    """The command-line flag for a setting key (``client_id`` -> ``--client-id``)."""
    return "--" + key.replace("_", "-")


def read_config_file(path: str) -> dict[str, str]:
    """The settings in a TOML file, as strings (``scopes`` may be a list there)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"config file {path} does not exist: create it, or fix {CONFIG_ENV} / --config"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"config file {path} cannot be read ({exc.strerror}): check its permissions"
        ) from None
    import tomllib  # noqa: PLC0415 - only when there is a config file

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML ({exc}): fix its syntax") from None
    values: dict[str, str] = {}
    for key, value in data.items():
        if key not in SETTING_NAMES:
            known = ", ".join(SETTING_NAMES)
            raise ConfigurationError(
                f"config file {path}: unknown setting {key!r}: use one of {known} (lower case, no prefix)"
            )
        listed = key == "scopes" or key in NOTIFY_LIST_SETTINGS
        if listed and isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[key] = (" " if key == "scopes" else ", ").join(value)
        elif isinstance(value, str):
            values[key] = value
        elif key in ("notify_smtp_port", "notify_smtp_starttls") and isinstance(value, int):
            values[key] = str(value).lower()  # a TOML number or boolean (True -> "true")
        else:
            raise ConfigurationError(
                f"config file {path}: {key} must be a string"
                + (" or a list of strings" if listed else "")
                + f", got a {type(value).__name__}: quote the value"
            )
    return values


def _merge(
    overrides: Mapping[str, str | None], environ: Mapping[str, str], file_values: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Winning value and where it came from, per key. Empty strings count as unset."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in SETTING_NAMES:
        candidates = (
            (overrides.get(key), flag_name(key)),
            (environ.get(env_name(key)), env_name(key)),
            (file_values.get(key), f"{key} in the config file"),
        )
        for value, source in candidates:
            if value is not None and value.strip() != "":
                values[key] = value.strip()
                sources[key] = source
                break
    return values, sources


def _where(key: str) -> str:
    """How a user sets ``key``, for error messages."""
    ways = [env_name(key)]
    if key not in SECRET_SETTINGS:
        ways.insert(0, flag_name(key))
    return ", ".join(ways) + f" or {key} in the config file"


def _split(url: str) -> SplitResult | None:
    """``urlsplit`` that returns None for URLs it cannot parse (a bad port or IPv6 literal)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts


def _check_http_url(key: str, value: str, source: str) -> str:
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source} must be an absolute http(s) URL such as https://example.com/path, "
            f"got {value!r}: fix {_where(key)}"
        )
    if parts.fragment:
        raise ConfigurationError(f"{source} must not contain a '#' fragment: remove it from {value!r}")
    return value


def _check_redirect_uri(value: str, source: str) -> str:
    if value == OOB_REDIRECT_URI:
        return value
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigurationError(
            f"{source} must be {OOB_REDIRECT_URI} (out of band) or an absolute http(s) URL without "
            f"a '#' fragment, registered with the provider; got {value!r}: fix {_where('redirect_uri')}"
        )
    return value


def _check_scopes(value: str, source: str) -> tuple[str, ...]:
    scopes = tuple(value.split())
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigurationError(
                f"{source}: scope {scope!r} has characters OAuth does not allow (quotes, backslashes "
                "or non-ASCII): separate scopes with spaces, e.g. 'account.read list.read'"
            )
    return scopes


def _check_store(value: str, source: str) -> str:
    from oob_helper.stores import check_store_url  # noqa: PLC0415 - one message for every bad URL

    check_store_url(value, source)
    return value


def _provider(values: Mapping[str, str], sources: Mapping[str, str]) -> Provider:
    name = values.get("provider", "aweber").lower()
    urls = {
        key: _check_http_url(key, values[key], sources[key])
        for key in ("auth_base", "api_base", "authorize_url", "token_url", "revoke_url")
        if key in values
    }
    if name == CUSTOM_PROVIDER:
        missing = [env_name(k) for k in ("authorize_url", "token_url") if k not in urls]
        if missing:
            raise ConfigurationError(
                f"the custom provider needs {' and '.join(missing)} (full endpoint URLs): set "
                "them, or choose provider aweber or constantcontact"
            )
        if "auth_base" in urls:
            raise ConfigurationError(
                f"{sources['auth_base']} does not apply to the custom provider, whose URLs are given "
                f"whole: remove it and use {env_name('authorize_url')} and {env_name('token_url')}"
            )
        return Provider(
            name=CUSTOM_PROVIDER,
            display_name=urlsplit(urls["authorize_url"]).hostname or "OAuth 2 provider",
            authorize_url=urls["authorize_url"],
            token_url=urls["token_url"],
            revoke_url=urls.get("revoke_url"),
            api_base=urls.get("api_base", "").rstrip("/"),
            default_scopes=(),
            confidential_auth="basic",  # RFC 6749 2.3.1: servers must support Basic
        )
    if name not in PROVIDERS:
        known = ", ".join([*sorted(PROVIDERS), CUSTOM_PROVIDER])
        raise ConfigurationError(
            f"unknown provider {values.get('provider')!r} ({sources['provider']}): use one of {known}"
        )
    provider = PROVIDERS[name]
    if "auth_base" in urls or "api_base" in urls:
        provider = provider.with_bases(urls.get("auth_base"), urls.get("api_base"))
    return dataclasses.replace(
        provider,
        authorize_url=urls.get("authorize_url", provider.authorize_url),
        token_url=urls.get("token_url", provider.token_url),
        revoke_url=urls.get("revoke_url", provider.revoke_url),
    )


def _client_auth(values: Mapping[str, str], sources: Mapping[str, str], public: bool) -> ClientAuth | None:
    raw = values.get("client_auth")
    if raw is None:
        return None
    allowed: tuple[str, ...] = get_args(ClientAuth)
    auth = raw.lower()
    if auth not in allowed:
        raise ConfigurationError(
            f"unknown client authentication {raw!r} ({sources['client_auth']}): use basic (HTTP Basic), "
            "post (secret in the form body) or none (public client)"
        )
    if public and auth != "none":
        raise ConfigurationError(
            f"client authentication {auth!r} ({sources['client_auth']}) needs a client secret: set "
            f"{env_name('client_secret')}, or use none for a public client (PKCE)"
        )
    if not public and auth == "none":
        raise ConfigurationError(
            f"a client secret is set but client authentication is none ({sources['client_auth']}): "
            f"use basic or post, or unset {env_name('client_secret')} for a public client"
        )
    result: ClientAuth = "basic" if auth == "basic" else "post" if auth == "post" else "none"
    return result


def load_settings(
    *,
    overrides: Mapping[str, str | None],
    environ: Mapping[str, str],
    config_file: str | None,
    require_client_id: bool = True,
) -> Settings:
    """Resolve settings: ``overrides`` (flags) > ``environ`` > config file > provider defaults.

    ``config_file`` (the ``--config`` flag) wins over ``OOB_HELPER_CONFIG`` in ``environ``;
    with neither, no file is read. Keys of ``overrides`` are those of ``SETTING_NAMES``.
    Without ``require_client_id`` a missing client id is left empty, for work that only reads
    the store (the helper refuses to call the provider without one).
    """
    unknown = set(overrides) - set(SETTING_NAMES)
    if unknown:
        raise ConfigurationError(f"unknown setting(s) {', '.join(sorted(unknown))}: use {SETTING_NAMES}")
    path = config_file or environ.get(CONFIG_ENV) or None
    file_values = read_config_file(path) if path else {}
    values, sources = _merge(overrides, environ, file_values)

    # The store first: every command needs it, and its error must not hide behind another.
    store_url = _check_store(values["store"], sources["store"]) if "store" in values else None
    provider = _provider(values, sources)
    client_id = values.get("client_id", "")
    if not client_id and require_client_id:
        raise missing_client_id(provider)
    client_secret = values.get("client_secret")
    client_auth = _client_auth(values, sources, public=not client_secret)
    scopes = _check_scopes(values["scopes"], sources["scopes"]) if "scopes" in values else ()
    redirect_uri = (
        _check_redirect_uri(values["redirect_uri"], sources["redirect_uri"])
        if "redirect_uri" in values
        else OOB_REDIRECT_URI
    )
    secret_key = values.get("secret_key")
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigurationError(
            f"{sources['secret_key']} is too short to sign pages safely: use at least "
            f"{MIN_SECRET_KEY_LENGTH} random characters (or unset it to have one generated)"
        )
    lifetime = (
        _check_lifetime(values["refresh_token_lifetime"], sources["refresh_token_lifetime"])
        if "refresh_token_lifetime" in values
        else None
    )
    metrics = values.get("metrics", "off").strip().lower() or "off"
    if metrics not in ("off", "otel"):
        raise ConfigurationError(
            f"{sources['metrics']} must be otel or off, got {values['metrics'][:40]!r}: "
            f"fix {_where('metrics')}"
        )
    return Settings(
        provider=provider,
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes,
        redirect_uri=redirect_uri,
        client_auth=client_auth,
        store_url=store_url,
        secret_key=secret_key,
        notify=parse_notify(values, sources, _where),
        refresh_token_lifetime=lifetime,
        metrics=metrics,
    )


def _check_lifetime(value: str, source: str) -> float:
    from oob_helper.durations import parse_duration  # noqa: PLC0415 - only when it is set

    try:
        return parse_duration(value)
    except ValueError:
        raise ConfigurationError(
            f"{source} must be a duration such as 180d, 90d or 12h (0 = never expires), got "
            f"{value!r}: fix {_where('refresh_token_lifetime')}"
        ) from None


def missing_client_id(provider: Provider, why: str = "") -> ConfigurationError:
    """The error for a client id that is needed but not set (``why``: what needed it)."""
    return ConfigurationError(
        f"missing client id{why}: set {_where('client_id')} to the client id of your "
        f"{provider.display_name} app"
    )


def default_config_path() -> Path:
    """Where the CLI looks for a config file when none is named."""
    import platformdirs  # noqa: PLC0415 - only the CLI's default path needs it

    return Path(platformdirs.user_config_dir("oob-helper")) / "config.toml"


def default_store_url() -> str:
    """The default store: a SQLite file in the user's data directory."""
    import platformdirs  # noqa: PLC0415

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("oob-helper")) / "tokens.db")


def describe(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with no secret (for ``status`` and debugging)."""
    return {
        "provider": settings.provider.name,
        "client_id": settings.client_id,
        "client": "public" if settings.is_public else "confidential",
        "client_auth": settings.effective_client_auth,
        "scopes": list(settings.effective_scopes),
        "redirect_uri": settings.redirect_uri,
        "authorize_url": settings.provider.authorize_url,
        "token_url": settings.provider.token_url,
        "api_base": settings.provider.api_base,
        "store": redact_url(settings.store_url or default_store_url()),
        "notify": {
            "webhook": settings.notify.webhook_host,
            "smtp": f"{settings.notify.smtp_host}:{settings.notify.smtp_port}"
            if settings.notify.smtp_host
            else None,
            "to": list(settings.notify.mail_to),
            "conditions": list(settings.notify.conditions) if settings.notify.enabled else [],
        },
    }
