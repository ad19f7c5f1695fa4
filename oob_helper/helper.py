"""The library's facade: one object per (provider, client, store) serving many installs.

OWNER: helper-core. Signatures here are the contract the CLI and the web helper code against;
bodies are filled in by the helper-core work. Every method is thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from oob_helper.config import Settings
from oob_helper.tokens import InstallRecord, PendingAttempt, RefreshResult, Token


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


class OAuthHelper:
    """Authorize once, then hand out valid tokens for many installs, refreshing as needed."""

    def __init__(
        self,
        settings: Settings,
        store: Any,  # oob_helper.stores.TokenStore
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        raise NotImplementedError

    def start_authorization(self, install: str) -> AuthorizationStart:
        """Create a pending attempt (state, PKCE verifier for public clients) and its URL."""
        raise NotImplementedError

    def complete_authorization(self, install: str, attempt_id: str, pasted: str) -> InstallRecord:
        """Exchange what the user pasted (code or redirect URL), store tokens, record the account."""
        raise NotImplementedError

    def get_token(self, install: str, *, check: bool = False) -> Token:
        """A valid access token, refreshing first when expiring (``check``: try it on the API)."""
        raise NotImplementedError

    def refresh(self, install: str, *, force: bool = True, within: float | None = None) -> RefreshOutcome:
        """Refresh now (``force``), or only if expiring within ``within`` seconds."""
        raise NotImplementedError

    def status(self, install: str) -> InstallRecord:
        """The install's record (state ``not_connected`` when there is none)."""
        raise NotImplementedError

    def installs(self) -> list[InstallRecord]:
        """Every install's record."""
        raise NotImplementedError

    def disconnect(self, install: str, *, force: bool = False) -> None:
        """Revoke at the provider, then forget the install (kept if revoke fails, unless force)."""
        raise NotImplementedError

    def client(self, install: str, **kwargs: Any) -> httpx.Client:
        """An httpx.Client for the provider's API whose auth keeps the install's token fresh."""
        raise NotImplementedError

    def async_client(self, install: str, **kwargs: Any) -> httpx.AsyncClient:
        """The async twin of ``client``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the HTTP pool and the store."""
        raise NotImplementedError
