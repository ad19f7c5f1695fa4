"""Client registrations and users, and the rules that validate them; no HTTP types.

Public vs confidential is a property of the registration (providers.md A9): a client without a
secret is public and must use PKCE S256; a confidential client must not use PKCE.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mock_server.config import OOB_REDIRECT_URI
from mock_server.policy import PROFILE_POLICIES, RefreshPolicy, apply_overrides

# AWeber's nine scopes (providers.md A3) and Constant Contact's five (B3), in words for the
# consent page.
AWEBER_SCOPES: dict[str, str] = {
    "account.read": "See your account information and integrations",
    "list.read": "See your lists, custom fields, tags and sign-up forms",
    "list.write": "Add, change and delete custom fields",
    "subscriber.read": "See your subscribers and their activity",
    "subscriber.write": "Add, move, change and delete subscribers",
    "subscriber.read-extended": "See your subscribers' personal details",
    "email.read": "See your messages, broadcasts and their statistics",
    "email.write": "Create, change, schedule and cancel broadcasts",
    "landing-page.read": "See your landing pages",
}
CONSTANT_CONTACT_SCOPES: dict[str, str] = {
    "account_read": "See your account information",
    "account_update": "Change your account information",
    "contact_data": "See and change your contacts and read contact reports",
    "campaign_data": "See and change your campaigns and read campaign reports",
    "offline_access": "Stay connected when you are not using the application",
}

_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,200}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def scope_words(profile: str) -> dict[str, str]:
    """Known scopes and their descriptions for a profile (CC's profile knows both sets)."""
    if profile == "constantcontact":
        return {**AWEBER_SCOPES, **CONSTANT_CONTACT_SCOPES}
    return AWEBER_SCOPES


def check_redirect_uri(uri: object) -> str:
    """A registrable redirect URI, or ValueError saying what is wrong with it."""
    if not isinstance(uri, str) or not uri:
        raise ValueError("a redirect URI must be a non-empty string")
    if uri == OOB_REDIRECT_URI:
        return uri
    if _CONTROL.search(uri):
        raise ValueError(f"redirect URI {uri!r} contains spaces or control characters")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"redirect URI {uri!r} is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"redirect URI {uri!r} must be an absolute http(s) URL or {OOB_REDIRECT_URI!r}")
    if not parts.hostname:
        raise ValueError(f"redirect URI {uri!r} has no host")
    if parts.fragment or "#" in uri:
        raise ValueError(f"redirect URI {uri!r} must not contain a fragment (RFC 6749 section 3.1.2)")
    if "@" in parts.netloc:
        raise ValueError(f"redirect URI {uri!r} must not contain user information")
    return uri


@dataclass
class Client:
    """A registered application."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...]
    name: str
    policy: RefreshPolicy
    policy_overrides: Mapping[str, object] | None = None

    @property
    def public(self) -> bool:
        """Public clients have no secret and must use PKCE."""
        return self.client_secret is None

    def secret_matches(self, secret: str) -> bool:
        """Constant-time comparison with the registered secret."""
        expected = (self.client_secret or "").encode()
        return hmac.compare_digest(expected, secret.encode()) and self.client_secret is not None

    def __repr__(self) -> str:  # never show the secret
        return f"Client(client_id={self.client_id!r}, public={self.public})"

    def public_view(self) -> dict[str, object]:
        """JSON-ready, without the secret's value."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "public": self.public,
            "has_secret": not self.public,
            "redirect_uris": list(self.redirect_uris),
            "refresh_policy": dict(self.policy_overrides or {}),
        }


@dataclass
class User:
    """A user who can log in, owning one account."""

    username: str
    password: str = field(repr=False)
    account_id: int

    def password_matches(self, password: str) -> bool:
        """Constant-time comparison with the user's password."""
        return hmac.compare_digest(self.password.encode(), password.encode())

    def public_view(self) -> dict[str, object]:
        """JSON-ready, without the password."""
        return {"username": self.username, "account_id": self.account_id}


def make_client(
    client_id: object,
    *,
    client_secret: object,
    redirect_uris: object,
    name: object,
    base_policy: RefreshPolicy,
    refresh_policy: Mapping[str, object] | str | None,
) -> Client:
    """Validate a registration; ValueError with a message naming the bad field."""
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("client_id must be 1-200 printable characters without spaces")
    if client_secret is not None and (not isinstance(client_secret, str) or not client_secret):
        raise ValueError("client_secret must be a non-empty string, or null for a public client")
    if isinstance(redirect_uris, str) or not isinstance(redirect_uris, Sequence) or not redirect_uris:
        raise ValueError("redirect_uris must be a non-empty list of URIs")
    uris = tuple(check_redirect_uri(u) for u in redirect_uris)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError("name must be a non-empty string of at most 200 characters")
    if isinstance(refresh_policy, str):  # a profile's name: that profile's defaults
        if refresh_policy not in PROFILE_POLICIES:
            raise ValueError("refresh_policy must be 'aweber', 'constantcontact' or an object of options")
        policy = PROFILE_POLICIES[refresh_policy]
        overrides: dict[str, object] | None = {"profile": refresh_policy}
    else:
        policy = apply_overrides(base_policy, refresh_policy)
        overrides = dict(refresh_policy) if refresh_policy else None
    return Client(client_id, client_secret, uris, name, policy, overrides)
