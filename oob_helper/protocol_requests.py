"""OAuth 2 requests as plain data: the authorize URL, code exchange, refresh and revocation.

Pure (see SANSIO.md). Client authentication follows the provider's rule (providers.md A4, A7).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode, urlsplit, urlunsplit

from oob_helper.pkce import CHALLENGE_METHOD, s256_challenge
from oob_helper.providers import ClientAuth, Provider


@dataclass(frozen=True)
class TokenRequest:
    """One request to a token or revocation endpoint, as plain data. Its repr hides secrets.

    ``retry_safe`` says whether resending after a lost answer is harmless: a code or a
    rotating refresh token is spent by the first attempt that reaches the server, so those
    are resent only when the request certainly never left.
    """

    url: str
    form: Mapping[str, str] = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    method: str = "POST"
    grant: str = ""
    retry_safe: bool = False


def authorize_url(
    provider: Provider,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    code_verifier: str | None = None,
) -> str:
    """The URL the user opens to grant access (providers.md A2).

    ``code_verifier`` adds the S256 challenge; pass None for AWeber confidential clients,
    which it refuses (A8).
    """
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
    ]
    if scopes:
        params.append(("scope", " ".join(scopes)))
    params.append(("state", state))
    if code_verifier is not None:
        params += [
            ("code_challenge", s256_challenge(code_verifier)),
            ("code_challenge_method", CHALLENGE_METHOD),
        ]
    parts = urlsplit(provider.authorize_url)
    # quote_via=quote_plus gives "scope=a+b", the form AWeber's own traces use.
    query = urlencode(params, quote_via=quote_plus)
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 section 2.3.1: form-encode both parts before base64.
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _with_client_auth(
    form: dict[str, str], client_auth: ClientAuth, client_id: str, client_secret: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    if client_auth == "basic" and client_secret:
        headers["Authorization"] = _basic(client_id, client_secret)
    elif client_auth == "post" and client_secret:
        form["client_id"] = client_id
        form["client_secret"] = client_secret
    else:
        # Public clients: client_id in the body, never an empty Basic password (A4).
        form["client_id"] = client_id
    return form, headers


def code_exchange_request(
    provider: Provider,
    *,
    client_id: str,
    client_secret: str | None,
    client_auth: ClientAuth,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
) -> TokenRequest:
    """The authorization-code grant (providers.md A4)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    form, headers = _with_client_auth(form, client_auth, client_id, client_secret)
    return TokenRequest(url=provider.token_url, form=form, headers=headers, grant="authorization_code")


def refresh_request(
    provider: Provider,
    *,
    client_id: str,
    client_secret: str | None,
    client_auth: ClientAuth,
    refresh_token: str,
) -> TokenRequest:
    """The refresh-token grant (providers.md A4, B6)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    form, headers = _with_client_auth(form, client_auth, client_id, client_secret)
    return TokenRequest(url=provider.token_url, form=form, headers=headers, grant="refresh_token")


def revoke_request(
    provider: Provider,
    *,
    client_id: str,
    client_secret: str | None,
    client_auth: ClientAuth,
    token: str,
    token_type_hint: str = "refresh_token",
) -> TokenRequest:
    """RFC 7009 revocation (providers.md A7): Basic for confidential clients; public clients
    send ``client_id`` in the body as AWeber's own WordPress plugin does."""
    if not provider.revoke_url:
        raise ValueError(f"{provider.display_name} has no revocation endpoint")
    form = {"token": token, "token_type_hint": token_type_hint}
    form, headers = _with_client_auth(form, client_auth, client_id, client_secret)
    # Revoking twice is harmless, so a lost answer may be resent.
    return TokenRequest(url=provider.revoke_url, form=form, headers=headers, grant="revoke", retry_safe=True)


__all__ = ["TokenRequest", "authorize_url", "code_exchange_request", "refresh_request", "revoke_request"]
