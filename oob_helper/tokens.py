"""Value objects: a Token, an install's record, a pending authorization attempt.

Pure: no I/O, time is passed in. ``expires_at`` is absolute and computed once, at receipt;
it is never re-derived from ``expires_in`` after loading (requests-oauthlib #561).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

InstallState = Literal["connected", "reauthorization_required", "not_connected"]
# "backed_off": nothing was sent, the install's shared back-off holds refreshes (oob_helper/backoff.py).
RefreshResult = Literal["refreshed", "skipped", "reauthorization_required", "failed", "backed_off"]


@dataclass(frozen=True)
class Token:
    """An access token with its refresh token and absolute expiry. Its repr shows no secret."""

    access_token: str = field(repr=False)
    token_type: str = "bearer"
    expires_at: float | None = None  # unix seconds; None = the provider gave no lifetime
    refresh_token: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    obtained_at: float = 0.0

    def is_expiring(self, now: float, leeway: float = 0.0) -> bool:
        """True when the token expires within ``leeway`` seconds of ``now`` (or already has)."""
        return self.expires_at is not None and now + leeway >= self.expires_at

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now`` (negative once expired), or None if unknown."""
        return None if self.expires_at is None else self.expires_at - now

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (contains secrets: only for stores)."""
        data = dataclasses.asdict(self)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        """Inverse of ``to_dict``."""
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "bearer"),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            refresh_token=None if data.get("refresh_token") is None else str(data["refresh_token"]),
            scopes=tuple(str(s) for s in data.get("scopes") or ()),
            obtained_at=float(data.get("obtained_at") or 0.0),
        )


@dataclass(frozen=True)
class InstallRecord:
    """Everything stored for one install (the multi-domain key, e.g. a site's host name).

    ``version`` increases by one on every write; stores compare-and-set on it.
    """

    install: str
    token: Token | None = None
    state: InstallState = "not_connected"
    reason: str | None = None  # why reauthorization is required
    state_changed_at: float | None = None
    account_id: str | None = None
    account_name: str | None = None
    last_refresh_at: float | None = None
    version: int = 0
    # Names the authorization this record's tokens come from; a new one per completed connect,
    # so a refresh never writes one grant's pair over another's (oob_helper/records.py).
    grant_id: str | None = None
    # Where the connection was made (``TokenStore.location()``): a store that finds its records
    # made somewhere else is a copy and refuses to refresh them (SiteMismatch). None: made
    # before the clone guard existed, "not known yet", stamped by the record owner's next write.
    store_location: str | None = None
    # When the current refresh token was received, and when it was last spent on a refresh
    # (None: unknown, e.g. a record written before these were kept). oob_helper/health.py
    # computes from them when a provider's idle lifetime (Constant Contact: 180 days) runs out.
    refresh_token_issued_at: float | None = None
    refresh_token_used_at: float | None = None
    # When ``refresh_overdue`` / ``refresh_token_expiring`` was told for the current refresh
    # token: each fires once per refresh token, and a connect or refresh clears both.
    overdue_warned_at: float | None = None
    expiring_warned_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (contains secrets: only for stores)."""
        data = dataclasses.asdict(self)
        data["token"] = None if self.token is None else self.token.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstallRecord:
        """Inverse of ``to_dict``."""
        token = data.get("token")
        return cls(
            install=str(data["install"]),
            token=None if token is None else Token.from_dict(token),
            state=data.get("state") or "not_connected",
            reason=data.get("reason"),
            state_changed_at=data.get("state_changed_at"),
            account_id=None if data.get("account_id") is None else str(data["account_id"]),
            account_name=data.get("account_name"),
            last_refresh_at=data.get("last_refresh_at"),
            version=int(data.get("version") or 0),
            grant_id=None if data.get("grant_id") is None else str(data["grant_id"]),
            store_location=None if data.get("store_location") is None else str(data["store_location"]),
            refresh_token_issued_at=_float_or_none(data.get("refresh_token_issued_at")),
            refresh_token_used_at=_float_or_none(data.get("refresh_token_used_at")),
            overdue_warned_at=_float_or_none(data.get("overdue_warned_at")),
            expiring_warned_at=_float_or_none(data.get("expiring_warned_at")),
        )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class PendingAttempt:
    """An authorization started but not completed: single use, short-lived, server-side only.

    The browser carries only a signed reference to ``attempt_id``; the verifier never leaves
    the server.
    """

    attempt_id: str = field(repr=False)
    install: str
    state: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float
    code_verifier: str | None = field(default=None, repr=False)

    def is_expired(self, now: float) -> bool:
        """True once the attempt may no longer be completed."""
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (contains secrets: only for stores)."""
        data = dataclasses.asdict(self)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingAttempt:
        """Inverse of ``to_dict``."""
        return cls(
            attempt_id=str(data["attempt_id"]),
            install=str(data["install"]),
            state=str(data["state"]),
            redirect_uri=str(data["redirect_uri"]),
            scopes=tuple(str(s) for s in data.get("scopes") or ()),
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
            code_verifier=data.get("code_verifier"),
        )
