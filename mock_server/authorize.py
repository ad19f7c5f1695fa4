"""Validation of authorization requests and PKCE (RFC 6749 section 4.1.1, RFC 7636); pure.

The order follows RFC 6749 section 4.1.2.1: an unknown client or a missing, unregistered or
malformed redirect URI is reported on a page and never by redirect; every later problem may
travel back to the (now trusted) redirect URI. AWeber's error texts are used where its docs
give them (providers.md A8).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mock_server.clients import Client, scope_words
from mock_server.config import OOB_REDIRECT_URI
from mock_server.errors import AuthorizeError

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# fullmatch, always: "$" also matches before a final newline.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_STATE_LENGTH = 2048
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorization request, ready for the user's decision."""

    client_id: str
    client_name: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None

    @property
    def out_of_band(self) -> bool:
        """Whether the code is shown on a page instead of redirected."""
        return self.redirect_uri == OOB_REDIRECT_URI

    def as_params(self) -> dict[str, str]:
        """The request as authorize query parameters (what the consent form re-submits)."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
        }
        if self.state is not None:
            params["state"] = self.state
        if self.code_challenge is not None:
            params["code_challenge"] = self.code_challenge
            params["code_challenge_method"] = "S256"
        return params


def s256(verifier: str) -> str:
    """The S256 code challenge of a verifier: base64url(SHA-256), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verifier_problem(verifier: str) -> str | None:
    """Why a code_verifier is malformed (RFC 7636 section 4.1), or None."""
    if _VERIFIER.fullmatch(verifier):
        return None
    return "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9 and - . _ ~ (RFC 7636)"


def verifier_matches(verifier: str, challenge: str) -> bool:
    """Constant-time check of a verifier against the S256 challenge bound to the code."""
    return hmac.compare_digest(s256(verifier), challenge)


def parse_scopes(raw: str | None, profile: str) -> tuple[str, ...]:
    """Requested scopes in order without duplicates; ValueError names the problem."""
    if raw is None or not raw.strip():
        raise ValueError("scope is required: a space-separated list such as 'account.read list.read'")
    if "," in raw:
        raise ValueError("scopes are separated by spaces, not commas")
    known = scope_words(profile)
    scopes: list[str] = []
    for scope in raw.split():
        if scope not in known:
            raise ValueError(f"unknown scope {scope[:60]!r}; known scopes: {', '.join(known)}")
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


def validate(
    params: Mapping[str, object], clients: Mapping[str, Client], *, profile: str, redirect_errors: bool
) -> AuthorizeRequest:
    """Check an authorization request; AuthorizeError says what is wrong (and where to send it)."""
    for key, value in params.items():
        if not isinstance(value, str):
            raise AuthorizeError("invalid_request", f"parameter {key!r} must be a string")
    p: Mapping[str, str] = params  # type: ignore[assignment]
    client_id = p.get("client_id")
    if not client_id:
        raise AuthorizeError("invalid_request", "client_id is missing from the authorization request")
    client = clients.get(client_id)
    if client is None:
        raise AuthorizeError("invalid_client", "Unknown client_id: no application is registered with it")
    redirect_uri = p.get("redirect_uri")
    if not redirect_uri:
        raise AuthorizeError("invalid_request", "redirect_uri is missing from the authorization request")
    if redirect_uri not in client.redirect_uris:
        raise AuthorizeError(
            "invalid_request",
            "Invalid redirect URI: it must exactly match one registered for this application",
        )
    state = p.get("state")
    target = redirect_uri if redirect_errors and redirect_uri != OOB_REDIRECT_URI else None

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=target, state=state)

    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise fail("invalid_request", f"state is longer than {MAX_STATE_LENGTH} characters")
    response_type = p.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is missing; always use response_type=code")
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    try:
        scopes = parse_scopes(p.get("scope"), profile)
    except ValueError as exc:
        raise fail("invalid_scope", str(exc)) from None
    challenge = p.get("code_challenge")
    method = p.get("code_challenge_method")
    if client.public:
        if not challenge:
            raise fail(
                "invalid_request",
                "Public Client MUST Use PKCE: code_challenge is required for public client",
            )
        if method != "S256":
            raise fail(
                "invalid_request",
                "code_challenge_method must be S256; plain (the default when it is omitted) is refused",
            )
        if not _S256_CHALLENGE.fullmatch(challenge):
            raise fail(
                "invalid_request",
                "code_challenge must be base64url(SHA-256(code_verifier)) without padding: 43 characters",
            )
    elif challenge is not None or method is not None or "code_verifier" in p:
        raise fail(
            "invalid_request",
            "Confidential Client MUST NOT Use PKCE: code_challenge and code_challenge_method "
            "are disallowed for confidential clients",
        )
    return AuthorizeRequest(client.client_id, client.name, redirect_uri, scopes, state, challenge)
