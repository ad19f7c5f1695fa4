"""Mock configuration: profile, lifetimes, policies, and the clients and users to start with.

The fields of ``ClientSpec``, ``UserSpec`` and ``MockConfig`` are the contract the other
modules rely on (add fields, never rename). ``load_config`` reads the same settings from a JSON
or TOML file (``mock-aweber serve --config FILE``)::

    profile = "aweber"                  # or "constantcontact"
    access_token_ttl = 7200             # seconds; omitted = the profile's (7200 / 86400)
    code_ttl = 600                      # authorization code lifetime, seconds
    bad_code_error = "invalid_request"  # or "invalid_grant" (see below)
    echo_state = true                   # echo the authorize `state` in the code-exchange answer
    authorize_errors = "redirect"       # or "page"
    jwt_access_tokens = false           # omitted = JWT-shaped in the constantcontact profile
    rate_limit_enabled = true
    rate_limit_per_minute = 120
    rate_limit_lockout = 60
    data_seed = 0                       # seeds the opens and clicks of sent broadcasts
    allowed_hosts = ["aweber-mock"]     # Host names served besides loopback (mock_server/origins.py)
    sandbox_idle_timeout = 3600         # seconds a sandbox may sit unused before it is forgotten
    max_sandboxes = 200                 # live sandboxes besides the default world

    [refresh_policy]                    # options in mock_server/policy.py
    keep_old_refresh_token = false

    [[clients]]
    client_id = "my-app"
    client_secret = "s3cret"            # omit for a public client (PKCE)
    redirect_uris = ["urn:ietf:wg:oauth:2.0:oob"]
    name = "My application"
    refresh_policy = { grace_seconds = 30 }

    [[users]]
    username = "alice"
    password = "wonderland"
    demo_data = true

    [demo]                              # demo_data's content: see mock_server/demo_config.py
    replace = false

Choices where AWeber's documentation is silent, each a switch here:

- ``bad_code_error``: AWeber's own WordPress client expects 400 ``invalid_request`` for a
  wrong, expired or reused authorization code (providers.md A8); RFC 6749 section 5.2 says
  ``invalid_grant``. Default: AWeber's.
- ``authorize_errors``: how authorize-time errors reach the client once its redirect URI is
  known to be registered. RFC 6749 section 4.1.2.1 redirects with ``error`` and ``state``
  (default ``"redirect"``); ``"page"`` shows an error page instead. An unknown client or a
  missing or unregistered redirect URI always gets a page, never a redirect.
- ``echo_state``: AWeber's published trace shows ``state`` in the token answer; the schema
  does not (providers.md A5). Default on, as the trace.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from mock_server.origins import check_allowed_host
from mock_server.policy import PROFILE_POLICIES, apply_overrides

Profile = Literal["aweber", "constantcontact"]

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"


@dataclass(frozen=True)
class ClientSpec:
    """A client registration to create at start-up."""

    client_id: str
    client_secret: str | None  # None = public client (PKCE required)
    redirect_uris: tuple[str, ...]
    name: str = "Demo application"
    refresh_policy: Mapping[str, object] | str | None = field(default=None, hash=False)


@dataclass(frozen=True)
class UserSpec:
    """A user (and the account it owns) to create at start-up."""

    username: str
    password: str
    demo_data: bool = False  # seed the account with the demo lists and subscribers


@dataclass(frozen=True)
class MockConfig:
    """Everything that shapes the mock's behaviour. Defaults follow the profile."""

    profile: Profile = "aweber"
    access_token_ttl: int | None = None  # None = the profile's (7200 aweber, 86400 cc)
    code_ttl: int = 600
    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = 120
    rate_limit_lockout: int = 60
    clients: tuple[ClientSpec, ...] | None = None  # None = the demo clients
    users: tuple[UserSpec, ...] | None = None  # None = the demo user
    extra: dict[str, object] = field(default_factory=dict)
    refresh_policy: Mapping[str, object] | None = field(default=None, hash=False)
    bad_code_error: Literal["invalid_request", "invalid_grant"] = "invalid_request"
    echo_state: bool = True
    authorize_errors: Literal["redirect", "page"] = "redirect"
    jwt_access_tokens: bool | None = None  # None = the profile's (constantcontact: JWT-shaped)
    max_body_bytes: int = 64 * 1024
    data_seed: int = 0  # seeds the opens and clicks of sent broadcasts (mock_server.mailings)
    demo: Mapping[str, object] | None = field(default=None, hash=False)  # mock_server.demo_config
    # Host names served besides loopback and the listening address (mock_server.origins).
    allowed_hosts: tuple[str, ...] = ()
    # Sandboxes (mock_server.sandboxes): idle seconds on the wall clock, never the mock's.
    sandbox_idle_timeout: int = 3600
    max_sandboxes: int = 200

    @property
    def effective_access_token_ttl(self) -> int:
        """Access-token lifetime in seconds: the configured one or the profile's."""
        if self.access_token_ttl is not None:
            return self.access_token_ttl
        return 86400 if self.profile == "constantcontact" else 7200

    @property
    def effective_jwt_access_tokens(self) -> bool:
        """Whether access tokens are JWT-shaped (with an ``exp`` claim)."""
        if self.jwt_access_tokens is not None:
            return self.jwt_access_tokens
        return self.profile == "constantcontact"


DEMO_CLIENTS = (
    ClientSpec("demo-public", None, (OOB_REDIRECT_URI, "http://127.0.0.1:8000/callback"), "Demo public app"),
    ClientSpec(
        "demo-confidential",
        "demo-secret",
        (OOB_REDIRECT_URI, "http://127.0.0.1:8000/callback"),
        "Demo confidential app",
    ),
)
DEMO_USERS = (UserSpec("demo", "demo", demo_data=True),)


def _check_type(where: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise ValueError(f"{where} must be {what}, not {value!r}")
    if not isinstance(value, kind):
        raise ValueError(f"{where} must be {what}, not {type(value).__name__}")  # noqa: TRY004


def _client(index: int, raw: object) -> ClientSpec:
    where = f"clients[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table/object with client_id, redirect_uris, ...")  # noqa: TRY004
    allowed = {"client_id", "client_secret", "redirect_uris", "name", "refresh_policy"}
    for key in raw:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    for key in ("client_id", "redirect_uris"):
        if key not in raw:
            raise ValueError(f"{where}: missing key {key!r}")
    _check_type(f"{where}.client_id", raw["client_id"], str, "a string")
    secret = raw.get("client_secret")
    if secret is not None:
        _check_type(f"{where}.client_secret", secret, str, "a string (omit it for a public client)")
    uris = raw["redirect_uris"]
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ValueError(f"{where}.redirect_uris must be a list of strings")
    name = raw.get("name", "Demo application")
    _check_type(f"{where}.name", name, str, "a string")
    policy = raw.get("refresh_policy")
    if policy is not None and not (isinstance(policy, str) and policy in PROFILE_POLICIES):
        try:
            apply_overrides(PROFILE_POLICIES["aweber"], policy)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None
    return ClientSpec(raw["client_id"], secret, tuple(uris), name, policy)


def _user(index: int, raw: object) -> UserSpec:
    where = f"users[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table/object with username and password")  # noqa: TRY004
    allowed = {"username", "password", "demo_data"}
    for key in raw:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    for key in ("username", "password"):
        if key not in raw:
            raise ValueError(f"{where}: missing key {key!r}")
        _check_type(f"{where}.{key}", raw[key], str, "a string")
    demo = raw.get("demo_data", False)
    _check_type(f"{where}.demo_data", demo, bool, "true or false")
    return UserSpec(raw["username"], raw["password"], demo)


# Whole-number settings and the least each may be.
_COUNTS = {
    "access_token_ttl": 1,
    "code_ttl": 1,
    "rate_limit_per_minute": 1,
    "rate_limit_lockout": 1,
    "sandbox_idle_timeout": 1,
    "max_sandboxes": 0,
}


def _check_count(key: str, value: object, minimum: int) -> None:
    wanted = "a positive integer" if minimum == 1 else f"an integer, {minimum} or more"
    _check_type(key, value, int, wanted)
    if int(value) < minimum:  # type: ignore[call-overload]
        raise ValueError(f"{key} must be {wanted}, not {value!r}")


def config_from_mapping(data: Mapping[str, object]) -> MockConfig:
    """Build a MockConfig from parsed JSON/TOML; ValueError names the bad key."""
    known = {f.name for f in fields(MockConfig)} - {"extra"}
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if key not in known:
            raise ValueError(f"unknown key {key!r} (allowed: {', '.join(sorted(known))})")
        if key == "profile":
            if value not in PROFILE_POLICIES:
                raise ValueError(f"profile must be 'aweber' or 'constantcontact', not {value!r}")
        elif key in _COUNTS:
            if value is not None or key != "access_token_ttl":
                _check_count(key, value, _COUNTS[key])
        elif key == "demo":
            from mock_server import demo_config  # noqa: PLC0415 -- it needs the directory, which needs this

            demo_config.check(value)
        elif key == "data_seed":
            _check_type(key, value, int, "an integer")

        elif key == "max_body_bytes":
            _check_type(key, value, int, "a positive integer")
        elif key in {"rate_limit_enabled", "echo_state"}:
            _check_type(key, value, bool, "true or false")
        elif key == "jwt_access_tokens":
            if value is not None:
                _check_type(key, value, bool, "true or false")
        elif key == "bad_code_error":
            if value not in ("invalid_request", "invalid_grant"):
                raise ValueError("bad_code_error must be 'invalid_request' or 'invalid_grant'")
        elif key == "authorize_errors":
            if value not in ("redirect", "page"):
                raise ValueError("authorize_errors must be 'redirect' or 'page'")
        elif key == "refresh_policy":
            apply_overrides(PROFILE_POLICIES["aweber"], value)  # type: ignore[arg-type]
        elif key == "allowed_hosts":
            if not isinstance(value, list | tuple) or not all(isinstance(h, str) for h in value):
                raise ValueError('allowed_hosts must be a list of host names, e.g. ["aweber-mock:8081"]')
            try:
                value = tuple(check_allowed_host(h) for h in value)  # noqa: PLW2901
            except ValueError as exc:
                raise ValueError(f"allowed_hosts: {exc}") from None
        elif key == "clients":
            if not isinstance(value, list):
                raise ValueError("clients must be a list of client tables/objects")
            value = tuple(_client(i, c) for i, c in enumerate(value))  # noqa: PLW2901
        elif key == "users":
            if not isinstance(value, list):
                raise ValueError("users must be a list of user tables/objects")
            value = tuple(_user(i, u) for i, u in enumerate(value))  # noqa: PLW2901
        kwargs[key] = value
    return MockConfig(**kwargs)  # type: ignore[arg-type]


def load_config(path: str | Path) -> MockConfig:
    """Read a JSON (``.json``) or TOML (any other name) config file into a MockConfig."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not UTF-8 text") from None
    data: object
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold an object/table at the top level")  # noqa: TRY004
    try:
        return config_from_mapping(data)
    except ValueError as exc:
        raise ValueError(f"config file {path}: {exc}") from None
