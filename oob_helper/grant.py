"""The token grant: one client's requests to the provider, as an adapter.

It turns protocol requests (``oob_helper.protocol``) into calls through the transport: the code
exchange, the refresh grant, revocation, the account look-up and the API probe. The refresh
coordinator and the record owner are given one; nothing here reads or writes records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oob_helper import protocol
from oob_helper.config import Settings, missing_client_id
from oob_helper.errors import InvalidGrant, NetworkError, ProviderError
from oob_helper.tokens import PendingAttempt, Token
from oob_helper.transport import Transport

logger = logging.getLogger("oob_helper")

# Raises (oob_helper.errors.LeaseLost) when the caller may no longer send anything.
Guard = Callable[[], None]


class TokenGrant:
    """The provider's endpoints for one client (from ``settings``) over one transport."""

    def __init__(self, settings: Settings, transport: Transport, *, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.provider = settings.provider
        self.transport = transport
        self.clock = clock

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider.name!r}, client_id={self.settings.client_id!r})"
        )

    def exchange(self, attempt: PendingAttempt, code: str) -> Token:
        """The authorization-code grant for ``attempt``; the code is spent by the first request
        that reaches the provider, so it is never resent after a lost answer."""
        request = protocol.code_exchange_request(
            self.provider,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            client_auth=self.settings.effective_client_auth,
            code=code,
            redirect_uri=attempt.redirect_uri,
            code_verifier=attempt.code_verifier,
        )
        return self.transport.token(
            request, clock=self.clock, provider=self.provider, requested_scopes=attempt.scopes
        )

    def refresh(self, token: Token, *, guard: Guard | None = None) -> Token:
        """The refresh grant; the new Token keeps the old refresh token when none came back.

        ``guard`` is called before each request is sent (a holder that lost its lock's lease
        must send nothing more).
        """
        if not token.refresh_token:
            raise InvalidGrant("no refresh token is stored for this install", error="invalid_grant")
        if not self.settings.client_id:  # settings loaded for store-only work (`status`, `token`)
            raise missing_client_id(self.provider, " (needed to refresh the access token)")
        request = protocol.refresh_request(
            self.provider,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            client_auth=self.settings.effective_client_auth,
            refresh_token=token.refresh_token,
        )
        return self.transport.token(
            request, clock=self.clock, provider=self.provider, previous=token, guard=guard
        )

    def revoke(self, token: Token) -> None:
        """RFC 7009 revocation of the grant behind ``token`` (its refresh token if it has one)."""
        if not self.provider.revoke_url:
            return
        request = protocol.revoke_request(
            self.provider,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            client_auth=self.settings.effective_client_auth,
            token=token.refresh_token or token.access_token,
            token_type_hint="refresh_token" if token.refresh_token else "access_token",
        )
        self.transport.revoke(request)

    @property
    def can_probe(self) -> bool:
        """True when the provider has an endpoint to try a token on (its account)."""
        return bool(self.provider.account_path and self.provider.api_base)

    def account(self, install: str, token: Token) -> tuple[str | None, str | None]:
        """The account id and name the token belongs to, or (None, None) if it cannot be read
        (the tokens are good and the code is spent, so that is a warning, not a failure)."""
        if not self.can_probe:
            return None, None
        try:
            account = self.transport.fetch_account(self.provider, token.access_token)
        except (ProviderError, NetworkError) as exc:
            logger.warning("install %r: connected, but the account could not be read: %s", install, exc)
            return None, None
        return account.id, account.name

    def rejects(self, token: Token) -> bool:
        """Try ``token`` on the API; True when the API refuses it (``protocol.is_token_rejected``)."""
        response = self.transport.api_get(
            self.provider.api_base + (self.provider.account_path or ""), token.access_token
        )
        return protocol.is_token_rejected(response.status_code, response.content)


__all__ = ["Guard", "TokenGrant"]
