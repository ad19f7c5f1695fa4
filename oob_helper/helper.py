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
from typing import TYPE_CHECKING, Any

from oob_helper import protocol
from oob_helper.backoff import BackoffSchedule
from oob_helper.config import Settings
from oob_helper.errors import (
    AttemptExpired,
    AttemptNotFound,
    ConfigurationError,
    NetworkError,
    NotConnected,
    ProviderError,
    ReauthorizationRequired,
    RefreshBackedOff,
)
from oob_helper.grant import TokenGrant
from oob_helper.health import KEEPALIVE_MARGIN, Health, keepalive_due
from oob_helper.lifecycle import Subscriber
from oob_helper.pkce import generate_verifier
from oob_helper.records import InstallRecords
from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, PendingAttempt, RefreshResult, Token
from oob_helper.transport import Transport

if TYPE_CHECKING:
    import httpx

    from oob_helper.notify.notifier import Notifier

logger = logging.getLogger("oob_helper")

_INSTALL_RE = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


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
        store: TokenStore,
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
        self.grant = TokenGrant(settings, self.transport, clock=self.clock)
        # The one owner of install records; the coordinator, the web app and the CLI go through it.
        self.records = InstallRecords(
            store,
            clock=self.clock,
            revoke=self.grant.revoke,
            refresh_token_lifetime=settings.effective_refresh_token_lifetime,
        )
        self.coordinator = RefreshCoordinator(
            store,
            self.grant,
            clock=self.clock,
            leeway=settings.refresh_leeway,
            records=self.records,
            backoff=BackoffSchedule(settings.refresh_backoff_base, settings.refresh_backoff_max),
        )
        # The notifiers the settings name (webhook, email), told of every event off the refresh path.
        self.notifier: Notifier | None = None
        if settings.notify.enabled:
            from oob_helper.notify.notifier import Notifier  # noqa: PLC0415 - smtplib and ssl only when used

            self.notifier = Notifier.from_settings(
                settings.notify, store, clock=self.clock, service=self.provider.display_name
            )
            self.records.events.subscribe(self.notifier)
        if settings.metrics == "otel":
            from oob_helper.metrics import instrument, require_opentelemetry  # noqa: PLC0415

            require_opentelemetry()
            instrument(self)

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
        token = self.grant.exchange(attempt, parsed.code)
        account_id, account_name = self.grant.account(install, token)
        record = self.records.connect(install, token, account_id, account_name)
        logger.info("install %r: connected (account %s)", install, account_id or "unknown")
        return record

    # -- tokens ----------------------------------------------------------------------------

    def get_token(self, install: str, *, check: bool = False) -> Token:
        """A valid access token, refreshing first when expiring (``check``: try it on the API).

        With ``check`` the token is tried on the account endpoint; if the API refuses it, the
        install is refreshed once (single flight) and the new token returned.
        """
        token = self.coordinator.valid_token(install)
        if not check or not self.grant.can_probe or not self.grant.rejects(token):
            return token
        logger.info("install %r: the API refused the access token; refreshing", install)
        _, record = self.coordinator.refresh(install, rejected_access_token=token.access_token)
        if record.token is None:  # pragma: no cover - the coordinator raises instead
            raise NotConnected(install)
        return record.token

    def refresh(
        self, install: str, *, force: bool = True, within: float | None = None, override_backoff: bool = False
    ) -> RefreshOutcome:
        """Refresh now (``force``), or only if expiring within ``within`` seconds.

        While the install is backed off after failures nothing is sent ("backed_off"), unless
        ``override_backoff`` (a person asked: ``refresh --install``, the page's "Refresh now").
        Provider and network failures come back as the outcome's ``error``; NotConnected is
        raised.
        """
        try:
            result, record = self.coordinator.refresh(
                install, force=force and within is None, within=within, override_backoff=override_backoff
            )
        except RefreshBackedOff as exc:
            return RefreshOutcome(install, "backed_off", str(exc))
        except ReauthorizationRequired as exc:
            return RefreshOutcome(install, "reauthorization_required", str(exc))
        except (ProviderError, NetworkError) as exc:
            logger.warning("install %r: refresh failed: %s", install, exc)
            return RefreshOutcome(install, "failed", str(exc))
        if result == "backed_off":
            return RefreshOutcome(install, result, self.coordinator.backoff_text(record))
        return RefreshOutcome(install, result)

    # -- records ---------------------------------------------------------------------------

    def status(self, install: str) -> InstallRecord:
        """The install's record (state ``not_connected`` when there is none)."""
        record = self.records.get(install)
        return record if record is not None else InstallRecord(install=install)

    def observe(self, install: str, record: InstallRecord | None = None) -> InstallRecord:
        """Like ``status``, and tells ``refresh_overdue`` / ``refresh_token_expiring`` when they
        come due (once per refresh token); ``status``, ``refresh --all`` and the web page call it.
        ``record``: a copy just read, to spare a store read."""
        record = self.records.observe(install, record)
        return record if record is not None else InstallRecord(install=install)

    def health(self, record: InstallRecord) -> Health:
        """The record's current problem (reauthorization required, refresh token lapsed,
        expiring or overdue), with since when and when the refresh token lapses."""
        return self.records.health(record)

    def keepalive_due(self, record: InstallRecord, margin: float = KEEPALIVE_MARGIN) -> bool:
        """Whether the record's refresh token lapses within ``margin`` (or its age is unknown)."""
        return keepalive_due(record, self.records.refresh_token_lifetime, self.clock(), margin)

    def installs(self) -> list[InstallRecord]:
        """Every install's record."""
        records = (self.store.get(name) for name in self.store.list_installs())
        return [r for r in records if r is not None]

    def disconnect(self, install: str, *, force: bool = False) -> InstallRecord:
        """Revoke at the provider, then forget the install (kept if revoke fails, unless force).

        A grant the provider already took away (reauthorization required) needs no revoke, so
        a refusal then does not block forgetting it. The record is forgotten only if it is
        still the grant that was revoked: a reconnect that won meanwhile is kept (VersionConflict
        says so). A record copied from another store (``is_copy``) is forgotten here only: its
        grant is the original's, never revoked from a copy. Returns the record forgotten.
        """
        record = self.records.disconnect(install, force=force)
        logger.info("install %r: disconnected", install)
        return record

    def is_copy(self, record: InstallRecord) -> bool:
        """True when ``record`` was connected in a store that lives elsewhere (a clone guard
        refusal: SiteMismatch)."""
        return self.records.foreign(record)

    def adopt_store(self) -> int:
        """Make this store's location the legitimate one for every install (``adopt-store``);
        returns how many records were rewritten."""
        return self.records.adopt()

    def move_install(self, old: str, new: str) -> InstallRecord:
        """Rename install ``old`` to ``new`` keeping its connection (``move-install``)."""
        return self.records.move(_check_install(old), _check_install(new))

    # -- HTTP clients ----------------------------------------------------------------------

    def client(self, install: str, **kwargs: Any) -> httpx.Client:
        """An httpx.Client for the provider's API whose auth keeps the install's token fresh."""
        kwargs.setdefault("base_url", self.provider.api_base)
        from oob_helper.auth import api_http_client  # noqa: PLC0415 - httpx only when asked for

        return api_http_client(self.coordinator, install, **kwargs)

    def async_client(self, install: str, **kwargs: Any) -> httpx.AsyncClient:
        """The async twin of ``client``."""
        kwargs.setdefault("base_url", self.provider.api_base)
        from oob_helper.auth import async_api_http_client  # noqa: PLC0415

        return async_api_http_client(self.coordinator, install, **kwargs)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Be told of every lifecycle event (connected, refreshed, refresh_failed,
        reauthorization_required, disconnected, refresh_token_expiring, refresh_overdue) of
        every install; returns the unsubscribe
        function. ``subscriber(event)`` may be a plain or a coroutine function; see
        ``oob_helper.lifecycle``."""
        return self.records.events.subscribe(subscriber)

    def close(self) -> None:
        """Release the HTTP pool and the store (after pending async subscribers finish)."""
        self.records.events.close()
        if self.notifier is not None:
            self.notifier.close()
        if self._owns_transport:
            self.transport.close()
        self.store.close()

    def __enter__(self) -> OAuthHelper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def api_client(install: str, *, environ: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Client:
    """The one-liner: an API client for ``install``, configured from the environment.

        with api_client("blog.example") as api:
            api.get("/accounts")

    Closing the client closes the helper and store behind it.
    """
    helper = OAuthHelper.from_env(environ)
    try:
        kwargs.setdefault("base_url", helper.provider.api_base)
        from oob_helper.auth import api_http_client  # noqa: PLC0415

        return api_http_client(helper.coordinator, install, on_close=helper.close, **kwargs)
    except BaseException:
        helper.close()
        raise


__all__ = ["AuthorizationStart", "OAuthHelper", "RefreshOutcome", "api_client"]
