"""Provider profiles: endpoints, scopes, client-authentication style, token lifetime rules.

Pure data. AWeber and Constant Contact v3 follow ../shared/providers.md;
``custom`` takes every URL from settings so any standard OAuth 2 server works.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from oob_helper.errors import ConfigurationError

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
    # Path under ``api_base`` that names the connected account (None: the provider has none we
    # know of, so the account is not recorded and ``get_token(check=True)`` cannot probe).
    account_path: str | None = None
    # How long a refresh token lives unused, in seconds (its life restarts when it is used or
    # replaced); None = no known limit. ``refresh_token_rule`` says where that comes from.
    refresh_token_lifetime: float | None = None
    refresh_token_rule: str = "undocumented; treated as non-expiring"

    def with_bases(self, auth_base: str | None = None, api_base: str | None = None) -> Provider:
        """The same provider with its authorization server and/or API moved (e.g. to the mock).

        ``auth_base`` replaces the scheme, host and port of the authorize, token and revoke
        URLs and keeps their paths (``https://auth.aweber.com/oauth2/token`` becomes
        ``<auth_base>/oauth2/token``); ``api_base`` replaces the API base whole.
        """
        changes: dict[str, str | None] = {}
        if auth_base:
            base = _check_url("auth_base", auth_base).rstrip("/")
            changes["authorize_url"] = base + urlsplit(self.authorize_url).path
            changes["token_url"] = base + urlsplit(self.token_url).path
            if self.revoke_url:
                changes["revoke_url"] = base + urlsplit(self.revoke_url).path
        if api_base:
            changes["api_base"] = _check_url("api_base", api_base).rstrip("/")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_urls(
        self,
        *,
        authorize_url: str | None = None,
        token_url: str | None = None,
        revoke_url: str | None = None,
    ) -> Provider:
        """The same provider with some endpoint URLs replaced whole."""
        changes: dict[str, str] = {}
        if authorize_url:
            changes["authorize_url"] = _check_url("authorize_url", authorize_url)
        if token_url:
            changes["token_url"] = _check_url("token_url", token_url)
        if revoke_url:
            changes["revoke_url"] = _check_url("revoke_url", revoke_url)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL, got {url!r}")
    return url


def custom_provider(
    *,
    authorize_url: str,
    token_url: str,
    revoke_url: str | None = None,
    api_base: str = "",
    scopes: tuple[str, ...] = (),
    client_auth: ClientAuth = "basic",
    pkce_for_confidential: bool = True,
    account_path: str | None = None,
    display_name: str = "OAuth 2 provider",
) -> Provider:
    """A provider for any standard OAuth 2 server, every URL given by the settings.

    Confidential clients use PKCE too (RFC 9700 recommends it for every client); set
    ``pkce_for_confidential=False`` for servers that refuse it, as AWeber does.
    """
    return Provider(
        name="custom",
        display_name=display_name,
        authorize_url=_check_url("authorize_url", authorize_url),
        token_url=_check_url("token_url", token_url),
        revoke_url=None if not revoke_url else _check_url("revoke_url", revoke_url),
        api_base=api_base.rstrip("/") if api_base else "",
        default_scopes=tuple(scopes),
        confidential_auth=client_auth,
        pkce_for_confidential=pkce_for_confidential,
        account_path=account_path,
    )


AWEBER = Provider(
    name="aweber",
    display_name="AWeber",
    authorize_url="https://auth.aweber.com/oauth2/authorize",
    token_url="https://auth.aweber.com/oauth2/token",
    revoke_url="https://auth.aweber.com/oauth2/revoke",
    api_base="https://api.aweber.com/1.0",
    default_scopes=("account.read", "list.read", "subscriber.read"),
    default_access_token_ttl=7200,
    account_path="/accounts",
)

CONSTANT_CONTACT = Provider(
    name="constantcontact",
    display_name="Constant Contact",
    authorize_url="https://authz.constantcontact.com/oauth2/default/v1/authorize",
    token_url="https://authz.constantcontact.com/oauth2/default/v1/token",
    revoke_url=None,
    api_base="https://api.cc.email/v3",
    default_scopes=("account_read", "contact_data", "offline_access"),
    # B2: the authorization-code flow for confidential clients has no PKCE (PKCE is the
    # public clients' flow), and the mock's constantcontact profile refuses it as AWeber does.
    pkce_for_confidential=False,
    read_jwt_exp=True,
    default_access_token_ttl=86400,
    account_path="/account/summary",
    # B5/B6: "must be used within 180 days" (rotating or long-lived alike).
    refresh_token_lifetime=180 * 86400.0,
    refresh_token_rule="must be used within 180 days",
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (AWEBER, CONSTANT_CONTACT)}


def get_provider(name: str) -> Provider:
    """The built-in provider called ``name`` (``aweber``, ``constantcontact``)."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigurationError(
            f"unknown provider {name!r}: use one of {known}, or 'custom' with its URLs"
        ) from None


__all__ = [
    "AWEBER",
    "CONSTANT_CONTACT",
    "OOB_REDIRECT_URI",
    "PROVIDERS",
    "ClientAuth",
    "Provider",
    "custom_provider",
    "get_provider",
]
