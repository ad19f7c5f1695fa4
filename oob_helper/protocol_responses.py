"""Reading OAuth 2 answers: token responses, error bodies, API 401s and rate limits, accounts.

Pure (see SANSIO.md): the caller passes status, body bytes, content type and the time of receipt.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from oob_helper.errors import (
    ERRORS_BY_CODE,
    InvalidClient,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ServerError,
    TemporarilyUnavailable,
)
from oob_helper.providers import Provider
from oob_helper.tokens import Token

# An ``expires_in`` above this is a Unix timestamp, not a duration (providers.md B4, C12).
_EPOCH_THRESHOLD = 10**9
_MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class Account:
    """The connected account: its id and a name a person recognises."""

    id: str
    name: str | None = None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _describe(body: bytes, content_type: str) -> str:
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        return "an HTML page"
    if not body.strip():
        return "an empty body"
    return "a body that is not JSON"


def _clean(text: object) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text[:_MAX_DESCRIPTION]


def parse_error_response(
    status: int, body: bytes, content_type: str = "", *, retry_after: float | None = None
) -> ProviderError:
    """The error a non-2xx answer means, as the matching ProviderError subclass (not raised).

    Reads RFC 6749 ``{"error", "error_description"}``, AWeber's envelope
    ``{"error": {"type", "message", "status"}}`` (A8, A11.5) and Constant Contact's
    ``[{"error_key", "error_message"}]`` or single object (B7, B8).
    """
    data = _json(body)
    code: str | None = None
    description: str | None = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str):
            code, description = err, _clean(data.get("error_description"))
        elif isinstance(err, dict):
            code = _clean(err.get("type")) or "provider_error"
            description = _clean(err.get("message"))
        elif isinstance(data.get("error_key"), str):
            code, description = str(data["error_key"]), _clean(data.get("error_message"))
    if code is None:
        what = _describe(body, content_type)
        cls: type[ProviderError] = (
            TemporarilyUnavailable if status == 503 else ServerError if status >= 500 else MalformedResponse
        )
        return cls(
            f"the provider answered HTTP {status} with {what} instead of an OAuth error",
            status_code=status,
            retry_after=retry_after,
        )
    cls = ERRORS_BY_CODE.get(code) or _ENVELOPE_TYPES.get(code) or _by_status(status)
    safe_code = code if re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", code) else "provider_error"
    message = f"the provider answered HTTP {status}: {safe_code}"
    if description:
        message += f" ({description})"
    return cls(
        message, error=safe_code, error_description=description, status_code=status, retry_after=retry_after
    )


_ENVELOPE_TYPES: dict[str, type[ProviderError]] = {
    "BadRequestError": InvalidRequest,
    "UnauthorizedError": InvalidClient,
    "InternalServerError": ServerError,
    "ServiceUnavailableError": TemporarilyUnavailable,
}


def _by_status(status: int) -> type[ProviderError]:
    if status == 503:
        return TemporarilyUnavailable
    if status >= 500:
        return ServerError
    return ProviderError


def _jwt_exp(access_token: str) -> float | None:
    """The ``exp`` claim of a JWT access token, unverified (only used to schedule refreshes)."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp) and exp > 0:
        return float(exp)
    return None


def _malformed(what: str, status: int) -> MalformedResponse:
    return MalformedResponse(
        f"the provider's token response is unusable: {what}", status_code=status, error="malformed_response"
    )


def parse_token_response(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    *,
    now: float,
    provider: Provider,
    previous: Token | None = None,
    requested_scopes: tuple[str, ...] = (),
    retry_after: float | None = None,
) -> Token:
    """A Token from a token endpoint's answer, or the ProviderError it means (raised).

    ``expires_at`` is absolute, computed here at receipt. For Constant Contact the JWT
    ``exp`` claim wins (B4). A refresh answer without ``refresh_token`` keeps
    ``previous.refresh_token``.
    """
    if not 200 <= status < 300:
        raise parse_error_response(status, body, content_type, retry_after=retry_after)
    data = _json(body)
    if not isinstance(data, dict):
        raise _malformed(f"{_describe(body, content_type)} instead of a JSON object", status)
    if isinstance(data.get("error"), str | dict):
        raise parse_error_response(status, body, content_type)
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise _malformed("no access_token in it", status)
    token_type = data.get("token_type", "bearer")
    if not isinstance(token_type, str) or not token_type:
        raise _malformed("token_type is not a string", status)
    if token_type.lower() != "bearer":
        raise _malformed(f"token_type {token_type[:20]!r} is not bearer", status)
    refresh = data.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise _malformed("refresh_token is not a string", status)
    expires_in = data.get("expires_in")
    if isinstance(expires_in, str) and re.fullmatch(r"\d{1,12}", expires_in):
        expires_in = int(expires_in)  # some servers quote numbers
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not math.isfinite(expires_in)
        or expires_in < 0
    ):
        raise _malformed("expires_in is not a number of seconds", status)
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise _malformed("scope is not a space-separated string", status)

    expires_at: float | None = None
    if expires_in is not None:
        expires_at = float(expires_in) if expires_in > _EPOCH_THRESHOLD else now + float(expires_in)
    if provider.read_jwt_exp:
        expires_at = _jwt_exp(access) or expires_at
    if expires_at is None and provider.default_access_token_ttl:
        expires_at = now + provider.default_access_token_ttl
    if scope:
        scopes = tuple(scope.split())
    elif previous is not None and previous.scopes:
        scopes = previous.scopes
    else:
        scopes = tuple(requested_scopes)
    return Token(
        access_token=access,
        token_type="bearer",
        expires_at=expires_at,
        refresh_token=refresh if refresh is not None else (previous.refresh_token if previous else None),
        scopes=scopes,
        obtained_at=now,
    )


def is_token_rejected(status: int, body: bytes) -> bool:
    """True when an API answer means "this access token is no good": refresh once, retry once.

    Any 401 (AWeber's ``{"error": "invalid_token"}``, its ``UnauthorizedError`` envelope,
    Constant Contact's shapes) counts (A11.5). AWeber's 403 "Rate Limit Error" does not.
    """
    if status == 401:
        return True
    data = _json(body) if status >= 400 else None
    return isinstance(data, dict) and data.get("error") == "invalid_token"


def is_rate_limited(status: int, body: bytes) -> bool:
    """AWeber's 403 ``ForbiddenError`` "Rate Limit Error" (A11.6) or a 429 (B8): wait, do not refresh."""
    if status == 429:
        return True
    if status != 403:
        return False
    data = _json(body)
    err = data.get("error") if isinstance(data, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    return isinstance(message, str) and "rate limit" in message.lower()


def parse_account(provider: Provider, status: int, body: bytes, content_type: str = "") -> Account:
    """The account from the provider's account endpoint.

    AWeber ``GET /accounts``: the first entry's ``id`` and ``company`` (A11.2); Constant
    Contact ``GET /account/summary``: ``encoded_account_id`` and ``organization_name``.
    """
    if not 200 <= status < 300:
        raise parse_error_response(status, body, content_type)
    data = _json(body)
    if not isinstance(data, dict):
        raise MalformedResponse(
            f"the account endpoint answered with {_describe(body, content_type)}", status_code=status
        )
    if "encoded_account_id" in data:
        ident: object = data.get("encoded_account_id")
        name: object = data.get("organization_name")
    else:
        entries = data.get("entries")
        entry = entries[0] if isinstance(entries, list) and entries else data
        if not isinstance(entry, dict):
            raise MalformedResponse("the account endpoint listed no account", status_code=status)
        ident = entry.get("id")
        name = entry.get("company") or entry.get("name")
    if isinstance(ident, bool) or not isinstance(ident, str | int) or ident == "":
        raise MalformedResponse("the account endpoint gave no account id", status_code=status)
    return Account(id=str(ident), name=_clean(name))


__all__ = [
    "Account",
    "is_rate_limited",
    "is_token_rejected",
    "parse_account",
    "parse_error_response",
    "parse_token_response",
]
