"""The library's facade: one object per (provider, client, store) serving many installs.

Signatures here are the contract the CLI and the web helper code against. Every method is
thread-safe: state lives in the store, refreshes go through the single-flight coordinator.

    helper = OAuthHelper(settings, open_store("sqlite:///tokens.db"))
    start = helper.start_authorization("example.com")      # show start.authorize_url
    helper.complete_authorization("example.com", start.attempt.attempt_id, pasted)
    with helper.client("example.com") as api:               # tokens stay fresh
        api.get("/accounts")
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from oob_helper import protocol
from oob_helper.auth import OAuthHelperAuth
from oob_helper.config import Settings, missing_client_id
from oob_helper.errors import (
    AttemptExpired,
    AttemptNotFound,
    ConfigurationError,
    InvalidGrant,
    NetworkError,
    NotConnected,
    ProviderError,
    ReauthorizationRequired,
    VersionConflict,
)
from oob_helper.pkce import generate_verifier
from oob_helper.refresh import RefreshCoordinator
from oob_helper.tokens import InstallRecord, PendingAttempt, RefreshResult, Token
from oob_helper.transport import Transport

logger = logging.getLogger("oob_helper")

_INSTALL_RE = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class AuthorizationStart:
    """A new pending attempt and the URL the user must open."""

    attempt: PendingAttempt
    authorize_url: str = field(repr=False)


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh did for one install (``error`` names the failure, never a secret)."""

    install: str
    result: RefreshResult
    error: str | None = None


def _check_install(install: str) -> str:
    if not isinstance(install, str) or not _INSTALL_RE.fullmatch(install) or install != install.strip():
        raise ConfigurationError(
            "an install name must be 1-200 printable characters without surrounding spaces, "
            "e.g. the site's host name"
        )
    return install


class OAuthHelper:
    """Authorize once, then hand out valid tokens for many installs, refreshing as needed."""

    def __init__(
        self,
        settings: Settings,
        store: Any,  # oob_helper.stores.TokenStore
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.provider = settings.provider
        self.store = store
        self.clock: Callable[[], float] = clock or time.time
        self.transport = transport if transport is not None else Transport(http)
        self._owns_transport = transport is None
        self.coordinator = RefreshCoordinator(
            store, self._refresh_grant, clock=self.clock, leeway=settings.refresh_leeway
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        config_file: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> OAuthHelper:
        """A helper configured as the CLI is: ``OOB_HELPER_*`` variables, then the config file.

        Raises ConfigurationError naming the setting to fix.
        """
        from oob_helper.config import load_settings  # noqa: PLC0415 - config loading is optional
        from oob_helper.stores import open_store  # noqa: PLC0415

        settings = load_settings(
            overrides={}, environ=os.environ if environ is None else environ, config_file=config_file
        )
        return cls(settings, open_store(settings.store_url), clock=clock)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider.name!r}, "
            f"client_id={self.settings.client_id!r}, store={type(self.store).__name__})"
        )

    # -- authorization ---------------------------------------------------------------------

    @property
    def _uses_pkce(self) -> bool:
        # AWeber refuses PKCE from confidential clients (providers.md A8/A9).
        return self.settings.is_public or self.provider.pkce_for_confidential

    def start_authorization(self, install: str) -> AuthorizationStart:
        """Create a pending attempt (state, PKCE verifier for public clients) and its URL."""
        _check_install(install)
        now = self.clock()
        attempt = PendingAttempt(
            attempt_id=secrets.token_hex(24),  # hex: never starts with "-", so `--attempt ID` parses
            install=install,
            state=secrets.token_urlsafe(24),
            redirect_uri=self.settings.redirect_uri,
            scopes=self.settings.effective_scopes,
            created_at=now,
            expires_at=now + self.settings.attempt_ttl,
            code_verifier=generate_verifier(48) if self._uses_pkce else None,
        )
        # Abandoned attempts would pile up (people close the tab); each start sweeps them.
        self.store.purge_attempts(now)
        self.store.save_attempt(attempt)
        url = protocol.authorize_url(
            self.provider,
            client_id=self.settings.client_id,
            redirect_uri=attempt.redirect_uri,
            scopes=attempt.scopes,
            state=attempt.state,
            code_verifier=attempt.code_verifier,
        )
        logger.info("install %r: authorization started", install)
        return AuthorizationStart(attempt=attempt, authorize_url=url)

    def complete_authorization(self, install: str, attempt_id: str, pasted: str) -> InstallRecord:
        """Exchange what the user pasted (code or redirect URL), store tokens, record the account.

        The paste is checked before the attempt is used, so a typo does not spend it. Raises
        InvalidPaste, StateMismatch, AuthorizationDenied, AttemptNotFound, AttemptExpired,
        ProviderError or NetworkError.
        """
        _check_install(install)
        parsed = protocol.parse_paste(pasted)
        attempt = self.store.take_attempt(attempt_id) if attempt_id else None
        if attempt is None or attempt.install != install:
            raise AttemptNotFound(
                "this connection attempt is unknown or was already used: start connecting again"
            )
        if attempt.is_expired(self.clock()):
            raise AttemptExpired(
                "this connection attempt has expired (they last "
                f"{int(self.settings.attempt_ttl // 60)} minutes): start connecting again"
            )
        protocol.check_state(parsed, attempt.state)
        request = protocol.code_exchange_request(
            self.provider,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            client_auth=self.settings.effective_client_auth,
            code=parsed.code,
            redirect_uri=attempt.redirect_uri,
            code_verifier=attempt.code_verifier,
        )
        token = self.transport.token(
            request, clock=self.clock, provider=self.provider, requested_scopes=attempt.scopes
        )
        account_id, account_name = self._account(install, token)
        try:
            record = self._store_connected(install, token, account_id, account_name)
        finally:
            # This process's cached token of an earlier connection must not outlive it.
            self.coordinator.forget(install)
        logger.info("install %r: connected (account %s)", install, account_id or "unknown")
        return record

    def _account(self, install: str, token: Token) -> tuple[str | None, str | None]:
        if not self.provider.account_path or not self.provider.api_base:
            return None, None
        try:
            account = self.transport.fetch_account(self.provider, token.access_token)
        except (ProviderError, NetworkError) as exc:
            # The tokens are good and the code is spent: keep them, and say the account is unknown.
            logger.warning("install %r: connected, but the account could not be read: %s", install, exc)
            return None, None
        return account.id, account.name

    def _store_connected(
        self, install: str, token: Token, account_id: str | None, account_name: str | None
    ) -> InstallRecord:
        now = self.clock()
        for _ in range(_WRITE_ATTEMPTS):
            existing = self.store.get(install)
            record = InstallRecord(
                install=install,
                token=token,
                state="connected",
                reason=None,
                state_changed_at=now,
                account_id=account_id,
                account_name=account_name,
                last_refresh_at=None,
                version=existing.version if existing else 0,
            )
            try:
                stored: InstallRecord = self.store.put(
                    record, expected_version=existing.version if existing else None
                )
            except VersionConflict:
                continue
            return stored
        raise VersionConflict(f"install {install!r}: the record kept changing while it was connected")

    # -- tokens ----------------------------------------------------------------------------

    def _refresh_grant(self, record: InstallRecord) -> Token:
        """The coordinator's Refresher: one refresh grant through the transport."""
        token = record.token
        if token is None or not token.refresh_token:
            raise InvalidGrant("no refresh token is stored for this install", error="invalid_grant")
        if not self.settings.client_id:  # settings loaded for store-only work (`status`, `token`)
            raise missing_client_id(self.provider, f" (needed to refresh install {record.install!r})")
        request = protocol.refresh_request(
            self.provider,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            client_auth=self.settings.effective_client_auth,
            refresh_token=token.refresh_token,
        )
        new = self.transport.token(request, clock=self.clock, provider=self.provider, previous=token)
        logger.info("install %r: token refreshed", record.install)
        return new

    def get_token(self, install: str, *, check: bool = False) -> Token:
        """A valid access token, refreshing first when expiring (``check``: try it on the API).

        With ``check`` the token is tried on the account endpoint; if the API refuses it, the
        install is refreshed once (single flight) and the new token returned.
        """
        token = self.coordinator.valid_token(install)
        if not check or not self.provider.account_path or not self.provider.api_base:
            return token
        response = self.transport.api_get(
            self.provider.api_base + self.provider.account_path, token.access_token
        )
        if not protocol.is_token_rejected(response.status_code, response.content):
            return token
        logger.info("install %r: the API refused the access token; refreshing", install)
        _, record = self.coordinator.refresh(install, rejected_access_token=token.access_token)
        if record.token is None:  # pragma: no cover - the coordinator raises instead
            raise NotConnected(install)
        return record.token

    def refresh(self, install: str, *, force: bool = True, within: float | None = None) -> RefreshOutcome:
        """Refresh now (``force``), or only if expiring within ``within`` seconds.

        Provider and network failures come back as the outcome's ``error``; NotConnected is
        raised.
        """
        try:
            result, _ = self.coordinator.refresh(install, force=force and within is None, within=within)
        except ReauthorizationRequired as exc:
            return RefreshOutcome(install, "reauthorization_required", str(exc))
        except (ProviderError, NetworkError) as exc:
            logger.warning("install %r: refresh failed: %s", install, exc)
            return RefreshOutcome(install, "failed", str(exc))
        return RefreshOutcome(install, result)

    # -- records ---------------------------------------------------------------------------

    def status(self, install: str) -> InstallRecord:
        """The install's record (state ``not_connected`` when there is none)."""
        record: InstallRecord | None = self.store.get(install)
        return record if record is not None else InstallRecord(install=install)

    def installs(self) -> list[InstallRecord]:
        """Every install's record."""
        records = (self.store.get(name) for name in self.store.list_installs())
        return [r for r in records if r is not None]

    def disconnect(self, install: str, *, force: bool = False) -> None:
        """Revoke at the provider, then forget the install (kept if revoke fails, unless force).

        A grant the provider already took away (reauthorization required) needs no revoke, so
        a refusal then does not block forgetting it.
        """
        record: InstallRecord | None = self.store.get(install)
        if record is None:
            raise NotConnected(install)
        token = record.token
        if token is not None and self.provider.revoke_url:
            request = protocol.revoke_request(
                self.provider,
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
                client_auth=self.settings.effective_client_auth,
                token=token.refresh_token or token.access_token,
                token_type_hint="refresh_token" if token.refresh_token else "access_token",
            )
            try:
                self.transport.revoke(request)
            except (ProviderError, NetworkError) as exc:
                dead = record.state == "reauthorization_required" and isinstance(exc, ProviderError)
                if not (force or dead):
                    logger.warning("install %r: revoke failed, record kept: %s", install, exc)
                    raise
                logger.warning("install %r: revoke failed, forgetting it anyway: %s", install, exc)
        try:
            self.store.delete(install)
        finally:
            self.coordinator.forget(install)
        logger.info("install %r: disconnected", install)

    # -- HTTP clients ----------------------------------------------------------------------

    def client(self, install: str, **kwargs: Any) -> httpx.Client:
        """An httpx.Client for the provider's API whose auth keeps the install's token fresh."""
        kwargs.setdefault("base_url", self.provider.api_base)
        kwargs.setdefault("headers", {"Accept": "application/json"})
        return httpx.Client(auth=OAuthHelperAuth(self.coordinator, install), **kwargs)

    def async_client(self, install: str, **kwargs: Any) -> httpx.AsyncClient:
        """The async twin of ``client``."""
        kwargs.setdefault("base_url", self.provider.api_base)
        kwargs.setdefault("headers", {"Accept": "application/json"})
        return httpx.AsyncClient(auth=OAuthHelperAuth(self.coordinator, install), **kwargs)

    def close(self) -> None:
        """Release the HTTP pool and the store."""
        if self._owns_transport:
            self.transport.close()
        self.store.close()

    def __enter__(self) -> OAuthHelper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _OwningClient(httpx.Client):
    """An httpx.Client that also closes the helper it was made from."""

    _helper: OAuthHelper

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._helper.close()


def api_client(install: str, *, environ: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Client:
    """The one-liner: an API client for ``install``, configured from the environment.

        with api_client("blog.example") as api:
            api.get("/accounts")

    Closing the client closes the helper and store behind it.
    """
    helper = OAuthHelper.from_env(environ)
    try:
        kwargs.setdefault("base_url", helper.provider.api_base)
        kwargs.setdefault("headers", {"Accept": "application/json"})
        client = _OwningClient(auth=OAuthHelperAuth(helper.coordinator, install), **kwargs)
    except BaseException:
        helper.close()
        raise
    client._helper = helper
    return client


__all__ = ["AuthorizationStart", "OAuthHelper", "RefreshOutcome", "api_client"]
