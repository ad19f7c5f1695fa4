"""PKCE (RFC 7636) with the S256 method, the only one AWeber accepts (providers.md A9).

Pure: the caller may pass the random bytes in, so tests are deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128
# RFC 7636 section 4.1: unreserved characters only.
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_verifier(nbytes: int = 32, *, random_bytes: bytes | None = None) -> str:
    """A new verifier: base64url of ``nbytes`` random bytes (32 bytes -> 43 characters)."""
    raw = random_bytes if random_bytes is not None else secrets.token_bytes(nbytes)
    verifier = _b64url(raw)
    if not is_valid_verifier(verifier):
        raise ValueError(
            f"a PKCE verifier must be {MIN_VERIFIER_LENGTH}-{MAX_VERIFIER_LENGTH} characters: "
            "use 32 to 96 random bytes"
        )
    return verifier


def is_valid_verifier(verifier: str) -> bool:
    """True when ``verifier`` has RFC 7636's length (43-128) and alphabet."""
    return _VERIFIER_RE.fullmatch(verifier) is not None


def s256_challenge(verifier: str) -> str:
    """base64url(SHA-256(verifier)) without padding."""
    if not is_valid_verifier(verifier):
        raise ValueError("a PKCE verifier must be 43-128 unreserved characters (RFC 7636 section 4.1)")
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


CHALLENGE_METHOD = "S256"

__all__ = [
    "CHALLENGE_METHOD",
    "MAX_VERIFIER_LENGTH",
    "MIN_VERIFIER_LENGTH",
    "generate_verifier",
    "is_valid_verifier",
    "s256_challenge",
]
