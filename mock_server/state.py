"""The mock authorization server's state and every decision it makes; no HTTP types here.

The names ``MockState``, ``InvalidToken`` and ``AccessGrant`` are the contract the API slice,
the control plane and the runner rely on. Handlers translate HTTP into the calls below and
``OAuthError``s (``mock_server.errors``) into responses. Rules not fixed by AWeber's docs are
switches on ``MockConfig`` (see ``mock_server.config``) and refresh policies
(``mock_server.policy``).

Every mutation holds one re-entrant lock: handlers run on one event loop, but tests and the
control plane may call in from other threads.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from mock_server import authorize, grants, verdicts
from mock_server.authorize import AuthorizeRequest
from mock_server.clients import Client, User, make_client
from mock_server.clock import Clock
from mock_server.config import DEMO_CLIENTS, DEMO_USERS, MockConfig
from mock_server.directory import Directory
from mock_server.errors import AuthorizeError, OAuthError, TokenError
from mock_server.events import EventLog
from mock_server.faults import FaultTable
from mock_server.grants import ClientCredentials
from mock_server.policy import PROFILE_POLICIES, apply_overrides
from mock_server.ratelimit import RateLimiter
from mock_server.tokens import Code, Family, TokenBook
from mock_server.verdicts import Verdict
from mock_server.webhooks import Webhooks

__all__ = [
    "AccessGrant",
    "AuthorizeError",
    "ClientCredentials",
    "InvalidToken",
    "MockState",
    "OAuthError",
    "TokenError",
]

MAX_PENDING_LOGINS = 10_000


class InvalidToken(Exception):
    """A bearer token that is missing, unknown, expired or revoked; ``verdict`` says why."""

    def __init__(self, description: str, verdict: Verdict | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.verdict = verdict or verdicts.unknown("the access token")


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token lets its bearer do."""

    client_id: str
    username: str
    account_id: int
    scopes: frozenset[str]


@dataclass
class _PendingLogin:
    request: AuthorizeRequest
    binding: str
    expires_at: float


class MockState:
    """Clients, users, codes and tokens, on an injected clock."""

    def __init__(self, config: MockConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or MockConfig()
        self.clock = clock or Clock()
        # Parts owned by other modules; reset() must reset each of them too.
        self.webhooks = Webhooks(self.clock)
        self.directory = Directory(
            self.clock, seed=self.config.data_seed, demo_spec=self.config.demo, webhooks=self.webhooks
        )
        self.rate_limiter = RateLimiter(self.clock, self.config)
        self.events = EventLog()
        self.faults = FaultTable()
        self.lock = threading.RLock()
        self.base_policy = apply_overrides(PROFILE_POLICIES[self.config.profile], self.config.refresh_policy)
        self.tokens = TokenBook(jwt=self.config.effective_jwt_access_tokens)
        self.clients: dict[str, Client] = {}
        self.users: dict[str, User] = {}
        self._pending: OrderedDict[str, _PendingLogin] = OrderedDict()
        # Token and revoke requests are numbered (across resets, like event ids): a verdict
        # names the request that used a code or rotated a token by its number.
        self._request_numbers = itertools.count(1)
        self._load_start()

    def __getstate__(self) -> dict[str, Any]:
        # For mock_server.snapshot: the request counter as its next number (a count object
        # does not pickle on every Python); the rest as it is.
        with self.lock:
            saved = dict(vars(self))
            number = next(self._request_numbers)
            self._request_numbers = itertools.count(number)
            saved["_request_numbers"] = number
            return saved

    def __setstate__(self, saved: dict[str, Any]) -> None:
        vars(self).update(saved)
        self._request_numbers = itertools.count(int(saved["_request_numbers"]))
        # The config is the restarted server's (mock_server.snapshot swaps it in); what was
        # derived from it is derived again. Stored clients keep the policies they were made with.
        config = self.config
        self.base_policy = apply_overrides(PROFILE_POLICIES[config.profile], config.refresh_policy)
        self.tokens.jwt = config.effective_jwt_access_tokens
        self.rate_limiter.enabled = config.rate_limit_enabled
        self.directory.demo_spec = config.demo
        self.directory.mailings.seed = config.data_seed

    def next_request_number(self) -> int:
        """A new token-endpoint request number (the ``request`` field of its event)."""
        return next(self._request_numbers)

    def _load_start(self) -> None:
        for spec in self.config.clients if self.config.clients is not None else DEMO_CLIENTS:
            self.add_client(
                spec.client_id,
                spec.client_secret,
                list(spec.redirect_uris),
                spec.name,
                refresh_policy=spec.refresh_policy,
            )
        for user in self.config.users if self.config.users is not None else DEMO_USERS:
            self._add_user(user.username, user.password, demo_data=user.demo_data)

    def reset(self) -> None:
        """Back to the start state (config's clients and users, demo data, clock running)."""
        with self.lock:
            self.directory.reset()
            self.webhooks.reset()
            self.rate_limiter.reset()
            self.events.reset()
            self.faults.reset()
            self.clock.reset()
            self.tokens.clear()
            self.clients.clear()
            self.users.clear()
            self._pending.clear()
            self._load_start()

    # -- registrations -------------------------------------------------------------------------
    def add_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: list[str],
        name: str,
        *,
        refresh_policy: Mapping[str, object] | str | None = None,
    ) -> dict[str, Any]:
        """Register a client; ValueError says what is wrong. Returns its public view.

        ``refresh_policy``: options overriding the profile's (``mock_server.policy``), or a
        profile name to take that profile's policy whole.
        """
        client = make_client(
            client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            name=name,
            base_policy=self.base_policy,
            refresh_policy=refresh_policy,
        )
        with self.lock:
            if client.client_id in self.clients:
                raise ValueError(f"a client with client_id {client.client_id!r} already exists")
            self.clients[client.client_id] = client
        return client.public_view()

    def add_user(self, username: str, password: str) -> dict[str, Any]:
        """Create a user owning a new (empty) account; ValueError on duplicates or empty fields."""
        return self._add_user(username, password, demo_data=False)

    def _add_user(self, username: str, password: str, *, demo_data: bool) -> dict[str, Any]:
        if not isinstance(username, str) or not username.strip() or len(username) > 200:
            raise ValueError("username must be a non-empty string of at most 200 characters")
        if not isinstance(password, str) or not password:
            raise ValueError("password must be a non-empty string")
        with self.lock:
            if username in self.users:
                raise ValueError(f"a user named {username!r} already exists")
            account_id = self.directory.create_account(username, demo_data=demo_data)
            user = User(username, password, account_id)
            self.users[username] = user
        return user.public_view()

    # -- bearer tokens -------------------------------------------------------------------------
    def authenticate(self, access_token: str) -> AccessGrant:
        """The grant behind a bearer token, or InvalidToken."""
        with self.lock:
            token = self.tokens.access.get(access_token)
            if token is None:
                raise InvalidToken(
                    "Invalid Token: the access token is unknown or was revoked",
                    self.tokens.why_ended(access_token, "the access token"),
                )
            if self.clock.now() >= token.expires_at:
                raise InvalidToken(
                    "access token expired: refresh it with the refresh token",
                    self.tokens.access_verdict(token),
                )
            family = self.tokens.families[token.family_id]
            return AccessGrant(family.client_id, family.username, family.account_id, token.scopes)

    # -- authorization -------------------------------------------------------------------------
    def validate_authorize(self, params: Mapping[str, object]) -> AuthorizeRequest:
        """Validate GET /oauth2/authorize parameters; raises AuthorizeError."""
        with self.lock:
            return authorize.validate(
                params,
                self.clients,
                profile=self.config.profile,
                redirect_errors=self.config.authorize_errors == "redirect",
            )

    def begin_login(self, request: AuthorizeRequest, binding: str) -> str:
        """A single-use form nonce for the consent page, bound to the request and the browser."""
        nonce = secrets.token_urlsafe(32)
        with self.lock:
            now = self.clock.now()
            while self._pending:
                first = next(iter(self._pending.values()))
                if first.expires_at > now and len(self._pending) < MAX_PENDING_LOGINS:
                    break
                self._pending.popitem(last=False)
            self._pending[nonce] = _PendingLogin(request, binding, now + self.config.code_ttl)
        return nonce

    def take_login(self, nonce: str, binding: str) -> AuthorizeRequest:
        """Consume a consent-form nonce; AuthorizeError (a page) when unknown, used or expired."""
        with self.lock:
            pending = self._pending.pop(nonce, None)
            if (
                pending is None
                or pending.expires_at <= self.clock.now()
                or not secrets.compare_digest(pending.binding, binding)
            ):
                raise AuthorizeError(
                    "invalid_request",
                    "This sign-in form has expired or was already used. "
                    "Go back to the application and start the connection again.",
                )
            return pending.request

    def check_password(self, username: str, password: str) -> User | None:
        """The user if the password is right; compares in constant time either way."""
        with self.lock:
            user = self.users.get(username)
        if user is None:
            secrets.compare_digest(b"no such user", password.encode())
            return None
        return user if user.password_matches(password) else None

    def issue_code(self, request: AuthorizeRequest, username: str) -> tuple[str, str | None]:
        """Issue a code for an approved request: (code, redirect URL or None for out-of-band)."""
        with self.lock:
            user = self.users.get(username)
            if user is None:
                raise AuthorizeError("invalid_request", f"unknown user {username!r}")
            now = self.clock.now()
            self.tokens.purge(now)
            code = Code(
                secrets.token_urlsafe(16),
                request.client_id,
                user.username,
                user.account_id,
                request.redirect_uri,
                frozenset(request.scopes),
                request.code_challenge,
                request.state,
                now + self.config.code_ttl,
            )
            self.tokens.add_code(code)
        if request.out_of_band:
            return code.value, None
        # AWeber's trace puts state before code (providers.md A2).
        params = {"state": request.state} if request.state is not None else {}
        params["code"] = code.value
        return code.value, add_query(request.redirect_uri, params)

    def approve(self, params: Mapping[str, str], username: str) -> tuple[str, str | None]:
        """Headless approval: validate like /oauth2/authorize, return (code, redirect or None)."""
        request = self.validate_authorize(params)
        return self.issue_code(request, username)

    def denial_redirect(self, request: AuthorizeRequest) -> str | None:
        """Where a Deny goes: the redirect URI with error=access_denied, or None (out-of-band)."""
        if request.out_of_band:
            return None
        params = {"error": "access_denied", "error_description": "The user denied access"}
        if request.state is not None:
            params["state"] = request.state
        return add_query(request.redirect_uri, params)

    # -- token endpoint ------------------------------------------------------------------------
    def authenticate_client(self, creds: ClientCredentials) -> Client:
        """The client behind the credentials, or TokenError invalid_client (401)."""
        with self.lock:
            return grants.authenticate_client(self.clients, creds)

    def token_request(
        self, params: Mapping[str, str], creds: ClientCredentials, request: int | None = None
    ) -> dict[str, Any]:
        """POST /oauth2/token: the JSON answer, or TokenError. ``request``: its number."""
        with self.lock:
            client = grants.authenticate_client(self.clients, creds)
            grant_type = params.get("grant_type")
            now = self.clock.now()
            self.tokens.purge(now)
            if not grant_type:
                raise TokenError("invalid_request", "grant_type is missing")
            if grant_type == "authorization_code":
                return grants.exchange_code(self.tokens, self.config, client, params, now, request=request)
            if grant_type == "refresh_token":
                return grants.refresh(self.tokens, self.config, client, params, now, request=request)
            raise TokenError(
                "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
            )

    # -- revocation ----------------------------------------------------------------------------
    def revoke_request(
        self, params: Mapping[str, str], creds: ClientCredentials, request: int | None = None
    ) -> None:
        """POST /oauth2/revoke (RFC 7009): unknown tokens succeed quietly; TokenError otherwise."""
        with self.lock:
            client = self.authenticate_client(creds)
            value = params.get("token")
            if not value:
                raise TokenError("invalid_request", "token is missing: send the token to revoke")
            tokens = self.tokens
            access = tokens.access.get(value)
            family_id = access.family_id if access else tokens.refresh.get(value) or tokens.rotated.get(value)
            family = tokens.families.get(family_id) if family_id else None
            if family is None:
                return
            if family.client_id != client.client_id:
                raise TokenError(
                    "invalid_request",
                    "the token was not issued to this client",
                    verdict=Verdict(
                        verdicts.WRONG_CLIENT,
                        f"the token was issued to client {family.client_id!r}; nothing was revoked",
                        {"issued_to": family.client_id},
                    ),
                )
            verdict = verdicts.revoked(verdicts.BY_CLIENT_REVOKE, self.clock.now(), request)
            if access is not None:
                tokens.drop_access(value, verdict)
            else:  # RFC 7009 2.1: revoking a refresh token ends the grant's access tokens too
                tokens.drop_family(family.id, verdict)

    # -- control plane -------------------------------------------------------------------------
    def _families(self, client_id: str | None, username: str | None, grant: str | None) -> list[Family]:
        return [
            f
            for f in self.tokens.families.values()
            if (client_id is None or f.client_id == client_id)
            and (username is None or f.username == username)
            and (grant is None or f.id == grant)
        ]

    def expire_tokens(
        self,
        *,
        client_id: str | None = None,
        username: str | None = None,
        access_token: str | None = None,
        grant: str | None = None,
        in_seconds: float = 0.0,
    ) -> int:
        """Make matching live access tokens expire now, or ``in_seconds`` from now (filters
        AND-ed; none = all). Their later refusals have the verdict "expired by QA"."""
        if in_seconds < 0:
            raise ValueError("in_seconds must be 0 or more")
        with self.lock:
            now = self.clock.now()
            count = 0
            for family in self._families(client_id, username, grant):
                for value in list(family.access):
                    if access_token is not None and value != access_token:
                        continue
                    if self.tokens.access[value].expires_at > now:
                        self.tokens.expire_access(value, now, in_seconds)
                        count += 1
            return count

    def set_refresh_lifetime(
        self,
        seconds: float,
        *,
        client_id: str | None = None,
        username: str | None = None,
        refresh_token: str | None = None,
        grant: str | None = None,
    ) -> int:
        """Give matching live refresh tokens ``seconds`` to live (0: expire now); how many.

        Their later refusals have the verdict "expired by QA".
        """
        if seconds < 0:
            raise ValueError("seconds must be 0 or more")
        with self.lock:
            now = self.clock.now()
            count = 0
            for family in self._families(client_id, username, grant):
                for value in list(family.refresh):
                    if refresh_token is None or value == refresh_token:
                        self.tokens.set_refresh_lifetime(family, value, now, seconds)
                        count += 1
            return count

    def revoke_tokens(
        self,
        *,
        client_id: str | None = None,
        username: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        grant: str | None = None,
    ) -> int:
        """Revoke matching grants' access and refresh tokens; returns how many tokens died.

        Their later refusals have the verdict "revoked by QA".
        """
        with self.lock:
            families = self._families(client_id, username, grant)
            if access_token is not None:
                families = [f for f in families if access_token in f.access]
            if refresh_token is not None:
                families = [f for f in families if refresh_token in f.refresh]
            verdict = verdicts.revoked(verdicts.BY_QA, self.clock.now())
            return sum(self.tokens.drop_family(f.id, verdict) for f in families)

    def purge(self) -> None:
        """Forget expired codes and tokens now (also done on every issue)."""
        with self.lock:
            self.tokens.purge(self.clock.now())

    def snapshot(self) -> dict[str, Any]:
        """Clients, users, live codes and tokens (values redacted), JSON-ready."""
        with self.lock:
            now = self.clock.now()
            self.tokens.purge(now)
            codes, tokens = self.tokens.live_view(now)
            return {
                "now": now,
                "frozen": self.clock.frozen,
                "profile": self.config.profile,
                "clients": [c.public_view() for c in self.clients.values()],
                "users": [u.public_view() for u in self.users.values()],
                "codes": codes,
                "tokens": tokens,
            }


def add_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` appended to its query (a registered URI may carry one)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
