"""The single-flight refresh coordinator (OWNER: refresh work).

Contract used by the facade (oob_helper/helper.py) and the httpx auth (oob_helper/auth.py):
inside the install's cross-process store lock it re-reads the record, refreshes only if still
needed, and persists the new refresh token (compare-and-set on the version) before anyone uses
the new access token.
"""

from __future__ import annotations

from collections.abc import Callable

from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, RefreshResult, Token

# Performs the refresh grant for a record's refresh token and returns the new Token (keeping
# the old refresh token when the response has none). Raises oob_helper.errors.ProviderError
# subclasses (InvalidGrant when the provider refuses the refresh token) or NetworkError.
Refresher = Callable[[InstallRecord], Token]


class RefreshCoordinator:
    """Hands out valid tokens; exactly one refresh per install at a time, across processes."""

    def __init__(
        self,
        store: TokenStore,
        refresher: Refresher,
        *,
        clock: Callable[[], float],
        leeway: float = 300.0,
        jitter: float = 30.0,
        lock_timeout: float = 30.0,
    ) -> None:
        raise NotImplementedError

    def valid_token(self, install: str) -> Token:
        """A token not expiring within the leeway; refreshes first if needed.

        Raises NotConnected, ReauthorizationRequired, ProviderError or NetworkError.
        """
        raise NotImplementedError

    def refresh(
        self,
        install: str,
        *,
        rejected_access_token: str | None = None,
        force: bool = False,
        within: float | None = None,
    ) -> tuple[RefreshResult, InstallRecord]:
        """Refresh if needed: ``force``; or the API rejected ``rejected_access_token`` (and it is
        still the stored one); or expiring within ``within`` (default: the leeway)."""
        raise NotImplementedError
