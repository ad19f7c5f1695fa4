"""Every error the helper raises, under one root, with data on attributes.

    OobHelperError
    ├── ConfigurationError          settings missing or malformed (CLI exit 2)
    ├── InvalidPaste                what the user pasted cannot be used (says why and what to do)
    │   └── StateMismatch           a pasted redirect URL whose state is not this attempt's
    ├── AuthorizationDenied         the user pressed "Deny" (error=access_denied)
    ├── AttemptError                the pending authorization cannot be completed
    │   ├── AttemptNotFound         unknown, or already used (attempts are single use)
    │   └── AttemptExpired          older than its time to live: start again
    ├── NotConnected                the install has no token yet
    ├── ReauthorizationRequired     the provider took access away; a person must connect again (exit 3)
    ├── SiteMismatch                the store is a copy of the one the install was connected in (exit 3)
    ├── ProviderError               the provider answered with an OAuth error (exit 4)
    │   ├── InvalidRequest, InvalidClient, InvalidGrant, UnauthorizedClient,
    │   │   UnsupportedGrantType, InvalidScope, AccessDenied, ServerError,
    │   │   TemporarilyUnavailable, InvalidToken   (one class per RFC 6749/6750 code)
    │   │   └── RefreshBackedOff  no refresh sent: the install is backed off after failures
    │   └── MalformedResponse       the answer was not a usable token response
    ├── NetworkError                the provider could not be reached (exit 4)
    └── StoreError                  the token store failed
        ├── VersionConflict         a compare-and-set write lost to a newer one
        └── LeaseLost               this worker no longer holds the install's refresh lock

Messages never contain a token, code, verifier or secret.
"""

from __future__ import annotations


class OobHelperError(Exception):
    """Root of every error this package raises."""


class ConfigurationError(OobHelperError):
    """Settings are missing or malformed; the message names the setting and the fix."""


class InvalidPaste(OobHelperError):
    """The pasted text is not a usable code or redirect URL."""


class StateMismatch(InvalidPaste):
    """A pasted redirect URL carries a state that does not belong to this attempt."""


class AuthorizationDenied(OobHelperError):
    """The user refused access at the provider."""


class AttemptError(OobHelperError):
    """The pending authorization attempt cannot be completed."""


class AttemptNotFound(AttemptError):
    """The attempt is unknown or was already used."""


class AttemptExpired(AttemptError):
    """The attempt is older than its time to live."""


class NotConnected(OobHelperError):
    """The install has never been connected (or was disconnected)."""

    def __init__(self, install: str) -> None:
        super().__init__(f"install {install!r} is not connected: connect it first")
        self.install = install


class ReauthorizationRequired(OobHelperError):
    """The provider no longer accepts the install's grant; a person must connect again."""

    def __init__(self, install: str, reason: str) -> None:
        super().__init__(f"install {install!r} must be connected again: {reason}")
        self.install = install
        self.reason = reason


class SiteMismatch(OobHelperError):
    """The install was connected in a store that lives somewhere else: this store is a copy
    (a staging clone, a restored backup, a copied file), so nothing is sent to the provider
    for it until a person decides (``adopt-store``, or a fresh ``connect``)."""

    def __init__(self, install: str, recorded: str, current: str) -> None:
        super().__init__(
            f"install {install!r} was connected in the store at {recorded}, but this store is at "
            f"{current}: it looks like a copy (a staging clone, a restored backup or a moved file), "
            "so nothing was sent to the provider (a copy must not spend the original's refresh "
            "token). If the original is retired and this store is now the real one (a disk move, "
            "a restore), run `oob-helper adopt-store`; if this is a copy, connect it anew with "
            f"`oob-helper connect --install {install}` (a fresh grant; the original keeps its own)"
        )
        self.install = install
        self.recorded = recorded
        self.current = current


class ProviderError(OobHelperError):
    """The provider answered with an error.

    ``error`` is the OAuth error code (or a short type name for non-OAuth bodies),
    ``error_description`` the provider's text, ``status_code`` the HTTP status.
    """

    error_code: str = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error or self.error_code
        self.error_description = error_description
        self.status_code = status_code
        self.retry_after = retry_after


class InvalidRequest(ProviderError):
    """RFC 6749 ``invalid_request`` (AWeber also answers it for a wrong or used code)."""

    error_code = "invalid_request"


class InvalidClient(ProviderError):
    """RFC 6749 ``invalid_client``: the client id or secret is wrong."""

    error_code = "invalid_client"


class InvalidGrant(ProviderError):
    """RFC 6749 ``invalid_grant``: the code or refresh token is invalid, expired or revoked."""

    error_code = "invalid_grant"


class UnauthorizedClient(ProviderError):
    """RFC 6749 ``unauthorized_client``."""

    error_code = "unauthorized_client"


class UnsupportedGrantType(ProviderError):
    """RFC 6749 ``unsupported_grant_type``."""

    error_code = "unsupported_grant_type"


class InvalidScope(ProviderError):
    """RFC 6749 ``invalid_scope``."""

    error_code = "invalid_scope"


class AccessDenied(ProviderError):
    """RFC 6749 ``access_denied``."""

    error_code = "access_denied"


class ServerError(ProviderError):
    """RFC 6749 ``server_error``, or any 5xx."""

    error_code = "server_error"


class TemporarilyUnavailable(ProviderError):
    """RFC 6749 ``temporarily_unavailable``, or a 503."""

    error_code = "temporarily_unavailable"


class RefreshBackedOff(TemporarilyUnavailable):
    """No refresh was sent: earlier refreshes of the install failed and the shared back-off
    (``oob_helper.backoff``) allows the next attempt only at ``next_attempt_at`` (unix seconds),
    or, when ``permanent``, only once a person reconnects or forces a refresh."""

    def __init__(
        self, install: str, *, next_attempt_at: float, permanent: bool, error: str, now: float
    ) -> None:
        if permanent:
            message = (
                f"install {install!r}: its last refresh failed for good ({error}), so no refresh is "
                "tried until a person acts: fix the cause, then connect again or run "
                f"`oob-helper refresh --install {install}`"
            )
        else:
            message = (
                f"install {install!r}: refreshes are failing ({error}); the next attempt is allowed "
                f"in {max(0.0, next_attempt_at - now):.0f}s (at {_utc(next_attempt_at)})"
            )
        super().__init__(
            message, error="temporarily_unavailable", retry_after=max(0.0, next_attempt_at - now)
        )
        self.install = install
        self.next_attempt_at = None if permanent else next_attempt_at
        self.permanent = permanent


def _utc(at: float) -> str:
    # datetime, not time: formatting a given moment reads no clock (errors stays a pure module).
    import datetime as dt  # noqa: PLC0415 - only for this message

    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class InvalidToken(ProviderError):
    """RFC 6750 ``invalid_token``: the access token was refused by the API."""

    error_code = "invalid_token"


class MalformedResponse(ProviderError):
    """The provider's answer was not a usable token response (HTML, bad JSON, missing fields)."""

    error_code = "malformed_response"


class NetworkError(OobHelperError):
    """The provider could not be reached (connection refused, reset, timed out)."""


class StoreError(OobHelperError):
    """The token store failed; nothing was half-written."""


class VersionConflict(StoreError):
    """A compare-and-set write found a newer version than it expected."""


class LeaseLost(StoreError):
    """The refresh lock's lease could not be renewed (the store was unreachable, or this worker
    stalled past it): the holder sends nothing more, since another worker may hold it now."""


ERRORS_BY_CODE: dict[str, type[ProviderError]] = {
    cls.error_code: cls
    for cls in (
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnauthorizedClient,
        UnsupportedGrantType,
        InvalidScope,
        AccessDenied,
        ServerError,
        TemporarilyUnavailable,
        InvalidToken,
    )
}
