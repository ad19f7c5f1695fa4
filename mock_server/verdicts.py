"""Why the mock refused a request: the verdict its event carries; pure.

A refusal on the wire stays the provider's (``invalid_grant`` and its text); the verdict is for
the event log, the control API and test assertions. ``reason`` is machine-readable (one of
``REASONS``, or the OAuth error code for the plain ones); ``cause`` says, where one exists,
what made the token or code unusable: who (``by``), when on the mock's clock (``at``) and,
for a request, its request number (the ``request`` field of that request's event);
``effect`` says what the refusal itself did. No verdict ever holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Reasons with a cause the mock remembers.
EXPIRED = "expired"
REVOKED = "revoked"
REFRESH_TOKEN_REUSED = "refresh_token_reused"  # rotated, reused, the grant revoked
REFRESH_TOKEN_ROTATED = "refresh_token_rotated"  # rotated, reused, nothing revoked
CODE_REUSED = "code_reused"
VERIFIER_MISMATCH = "verifier_mismatch"
WRONG_CLIENT = "wrong_client"
REDIRECT_URI_MISMATCH = "redirect_uri_mismatch"
SCOPE_NOT_GRANTED = "scope_not_granted"
RATE_LIMITED = "rate_limited"
UNKNOWN = "unknown"  # never issued here, or forgotten (a reset, or long gone)
REASONS = frozenset(
    {
        EXPIRED,
        REVOKED,
        REFRESH_TOKEN_REUSED,
        REFRESH_TOKEN_ROTATED,
        CODE_REUSED,
        VERIFIER_MISMATCH,
        WRONG_CLIENT,
        REDIRECT_URI_MISMATCH,
        SCOPE_NOT_GRANTED,
        RATE_LIMITED,
        UNKNOWN,
    }
)
# Who ended a token or code (``cause["by"]``).
BY_CLOCK = "clock"  # its lifetime ran out
BY_QA = "qa"  # a control call or a dashboard action
BY_CLIENT_REVOKE = "client_revoke"  # the client's POST /oauth2/revoke
BY_REUSE_DETECTION = "reuse_detection"  # a rotated refresh token came back
BY_CODE_REPLAY = "code_replay"  # the grant's code came back
BY_TOKEN_REQUEST = "token_request"  # the token request that used or rotated it


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal explained: ``reason``, a one-line ``summary``, the ``cause`` and ``effect``."""

    reason: str
    summary: str
    cause: dict[str, Any] | None = None
    effect: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the event log holds."""
        return {"reason": self.reason, "summary": self.summary, "cause": self.cause, "effect": self.effect}


def cause(by: str, at: float, request: int | None = None, **extra: Any) -> dict[str, Any]:
    """A cause record: who, when (mock time) and, for a request, its request number."""
    found: dict[str, Any] = {"by": by, "at": at}
    if request is not None:
        found["request"] = request
    found.update(extra)
    return found


def expired(what: str, expires_at: float, set_by_qa_at: float | None) -> Verdict:
    """``what`` expired at ``expires_at``, by its lifetime or because QA set it."""
    if set_by_qa_at is None:
        return Verdict(
            EXPIRED, f"{what} expired at {expires_at:.3f} (its lifetime ran out)", cause(BY_CLOCK, expires_at)
        )
    return Verdict(
        EXPIRED,
        f"{what} expired by QA: set at {set_by_qa_at:.3f} to expire at {expires_at:.3f}",
        cause(BY_QA, set_by_qa_at, expires_at=expires_at),
    )


_REVOKED_BY = {
    BY_QA: "revoked by QA (a control call or the dashboard)",
    BY_CLIENT_REVOKE: "revoked by the client's revoke request",
    BY_REUSE_DETECTION: "revoked by reuse detection: a rotated refresh token of its grant came back",
    BY_CODE_REPLAY: "revoked because the grant's authorization code was replayed",
}


def revoked(by: str, at: float, request: int | None = None) -> Verdict:
    """A token of a grant that ``by`` revoked at ``at``."""
    return Verdict(REVOKED, f"the token was {_REVOKED_BY[by]}", cause(by, at, request))


def unknown(what: str) -> Verdict:
    """A token or code the mock does not know (or no longer remembers)."""
    return Verdict(
        UNKNOWN, f"{what} was never issued by this mock or is long forgotten (or the mock was reset)"
    )


def plain(error: str, description: str) -> Verdict:
    """A refusal with no cause beyond the request itself: the error code is the reason."""
    return Verdict(error, description)
