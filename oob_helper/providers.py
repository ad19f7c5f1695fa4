"""Provider profiles: endpoints, scopes, client-authentication style, token lifetime rules.

Pure data (OWNER: helper-core). AWeber and Constant Contact v3 follow ../shared/providers.md;
``custom`` takes every URL from settings so any standard OAuth 2 server works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ClientAuth = Literal["basic", "post", "none"]
OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"


@dataclass(frozen=True)
class Provider:
    """Where a provider's endpoints are and how to talk to them."""

    name: str
    display_name: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    api_base: str
    default_scopes: tuple[str, ...]
    # How a confidential client authenticates at the token endpoint; public clients always
    # send client_id in the body with no secret.
    confidential_auth: ClientAuth = "basic"
    # AWeber refuses PKCE from confidential clients (providers.md A8/A9).
    pkce_for_confidential: bool = False
    # Constant Contact access tokens are JWTs whose ``exp`` beats ``expires_in`` (B4).
    read_jwt_exp: bool = False
    default_access_token_ttl: int | None = None

    def with_bases(self, auth_base: str | None = None, api_base: str | None = None) -> Provider:
        """The same provider with its authorization server and/or API moved (e.g. to the mock)."""
        raise NotImplementedError


AWEBER = Provider(
    name="aweber",
    display_name="AWeber",
    authorize_url="https://auth.aweber.com/oauth2/authorize",
    token_url="https://auth.aweber.com/oauth2/token",
    revoke_url="https://auth.aweber.com/oauth2/revoke",
    api_base="https://api.aweber.com/1.0",
    default_scopes=("account.read", "list.read", "subscriber.read"),
    default_access_token_ttl=7200,
)

CONSTANT_CONTACT = Provider(
    name="constantcontact",
    display_name="Constant Contact",
    authorize_url="https://authz.constantcontact.com/oauth2/default/v1/authorize",
    token_url="https://authz.constantcontact.com/oauth2/default/v1/token",
    revoke_url=None,
    api_base="https://api.cc.email/v3",
    default_scopes=("account_read", "contact_data", "offline_access"),
    pkce_for_confidential=True,
    read_jwt_exp=True,
    default_access_token_ttl=86400,
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (AWEBER, CONSTANT_CONTACT)}

__all__ = ["AWEBER", "CONSTANT_CONTACT", "OOB_REDIRECT_URI", "PROVIDERS", "ClientAuth", "Provider"]
