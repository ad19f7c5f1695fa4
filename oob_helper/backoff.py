"""Shared refresh back-off: after a failed refresh, when the install may be tried again.

The state lives in the token store (a setting per install, ``refresh_backoff:<install>``), not
on the record: a failure changes no record, so a lost answer (a timeout, a 502 after the
provider may have rotated the token) still leaves the record as it was. Every worker and host
reading the store backs off together. Only the refresh coordinator writes it, under the
install's lock.

The schedule (``BackoffSchedule``): the first retry after a failure goes at once (a provider's
grace window for a lost answer still lets it recover); after the n-th failure in a row (n >= 2)
the next attempt waits ``min(max, base * 2 ** (n - 2))`` scaled by a random factor in
[0.5, 1] (jitter, so hosts do not retry in step). Defaults: base 30 s, max 1 h. A permanent
failure (the provider's answer says a person must act, e.g. ``invalid_client``) stops attempts
until a person reconnects or forces a refresh of that install.

A back-off belongs to one record version of one grant: a refresh that succeeds, a reconnect or
a disconnect writes the record, and the old back-off then no longer applies (no clean-up write
is needed, and no race between them can leave an install backed off by a stale entry).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Protocol

from oob_helper.tokens import InstallRecord

SETTING_PREFIX = "refresh_backoff:"
DEFAULT_BASE = 30.0
DEFAULT_MAX = 3600.0


@dataclass(frozen=True)
class BackoffSchedule:
    """Exponential with jitter, capped; the first retry after a failure is immediate."""

    base: float = DEFAULT_BASE
    max: float = DEFAULT_MAX

    def delay(self, failures: int, spread: float) -> float:
        """Seconds to wait after ``failures`` failures in a row; ``spread`` in [0, 1] is the jitter."""
        if failures <= 1:
            return 0.0
        full = min(self.max, self.base * 2.0 ** min(failures - 2, 60))
        return full * (0.5 + 0.5 * spread)

    def most_attempts(self, seconds: float) -> int:
        """The most refresh attempts the schedule lets through in ``seconds`` of failures
        (every delay at its shortest), counting the first."""
        attempts, at = 1, 0.0
        while True:
            at += self.delay(attempts, 0.0)
            if at > seconds:
                return attempts
            attempts += 1
            if attempts > 10_000:  # base 0: no back-off at all
                return attempts


@dataclass(frozen=True)
class Backoff:
    """One install's back-off: how many refreshes failed in a row and when the next may go."""

    grant_id: str | None
    version: int  # the record version the failures were against
    failures: int
    next_attempt_at: float
    permanent: bool
    error: str

    def applies_to(self, record: InstallRecord) -> bool:
        """Whether it is about this record (not a newer refresh, reconnect or new connection)."""
        return record.grant_id == self.grant_id and record.version == self.version

    def blocks(self, now: float) -> bool:
        """Whether a refresh may not be attempted at ``now``."""
        return self.permanent or now < self.next_attempt_at

    def to_json(self) -> str:
        """The stored form (no secret in it)."""
        return json.dumps(
            {
                "grant_id": self.grant_id,
                "version": self.version,
                "failures": self.failures,
                "next_attempt_at": self.next_attempt_at,
                "permanent": self.permanent,
                "error": self.error,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Backoff | None:
        """Inverse of ``to_json``; None for anything unreadable (it is then ignored)."""
        try:
            data = json.loads(text)
            return cls(
                grant_id=None if data["grant_id"] is None else str(data["grant_id"]),
                version=int(data["version"]),
                failures=int(data["failures"]),
                next_attempt_at=float(data["next_attempt_at"]),
                permanent=bool(data["permanent"]),
                error=str(data["error"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


class SettingsStore(Protocol):
    """The two store calls the back-off needs (every built-in backend has them)."""

    def get_setting(self, name: str) -> str | None:
        """A setting, or None."""
        ...

    def set_setting(self, name: str, value: str) -> None:
        """Store a setting, replacing any."""
        ...


class BackoffBook:
    """Reads and writes installs' back-off in the store (a store without ``set_setting``, e.g.
    a third-party one, keeps it in this process only)."""

    def __init__(self, store: object, schedule: BackoffSchedule | None = None) -> None:
        self.schedule = schedule or BackoffSchedule()
        self._store: SettingsStore | None = (
            store if callable(getattr(store, "set_setting", None)) else None  # type: ignore[assignment]
        )
        self._local: dict[str, str] = {}

    def get(self, record: InstallRecord) -> Backoff | None:
        """The back-off that applies to ``record`` now, or None."""
        name = SETTING_PREFIX + record.install
        text = self._store.get_setting(name) if self._store is not None else self._local.get(name)
        backoff = Backoff.from_json(text) if text else None
        return backoff if backoff is not None and backoff.applies_to(record) else None

    def failed(self, record: InstallRecord, *, error: str, transient: bool, now: float) -> Backoff:
        """Count a failed refresh of ``record`` (the caller holds the install's lock)."""
        previous = self.get(record)
        failures = (previous.failures if previous else 0) + 1
        delay = self.schedule.delay(failures, random.random())  # noqa: S311 - jitter, not a secret
        backoff = Backoff(
            grant_id=record.grant_id,
            version=record.version,
            failures=failures,
            next_attempt_at=now + delay,
            permanent=not transient,
            error=error,
        )
        name = SETTING_PREFIX + record.install
        if self._store is not None:
            self._store.set_setting(name, backoff.to_json())
        else:
            self._local[name] = backoff.to_json()
        return backoff


__all__ = ["Backoff", "BackoffBook", "BackoffSchedule"]
