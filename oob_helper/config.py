"""Settings: what the helper needs to talk to one provider as one client.

OWNER: helper-CLI (loading from flags, environment ``OOB_HELPER_*`` and a config file, in
that order of precedence, with errors that name the setting and the fix). The ``Settings``
fields are the contract the library, CLI and web helper share; add, do not rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oob_helper.providers import OOB_REDIRECT_URI, ClientAuth, Provider


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``client_secret`` None means a public client (PKCE)."""

    provider: Provider
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()  # empty = the provider's default scopes
    redirect_uri: str = OOB_REDIRECT_URI
    client_auth: ClientAuth | None = None  # None = the provider's rule
    store_url: str | None = None  # None = a SQLite file in the user's data directory
    secret_key: str | None = field(default=None, repr=False)
    refresh_leeway: float = 300.0  # refresh this many seconds before expires_at
    attempt_ttl: float = 600.0  # pending authorizations expire after this

    @property
    def is_public(self) -> bool:
        """True for a public client (no secret): PKCE, client_id in the body."""
        return not self.client_secret

    @property
    def effective_scopes(self) -> tuple[str, ...]:
        """The scopes to request."""
        return self.scopes or self.provider.default_scopes

    @property
    def effective_client_auth(self) -> ClientAuth:
        """How the client authenticates at the token endpoint."""
        if self.client_auth is not None:
            return self.client_auth
        return "none" if self.is_public else self.provider.confidential_auth
