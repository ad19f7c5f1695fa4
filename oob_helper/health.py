"""Connection health: when a refresh token lapses, and what trouble an install is in. Pure.

A provider may end a refresh token that goes unused for a while (Constant Contact: "must be
used within 180 days"; providers.md B5). Its life restarts whenever it is used or replaced, so
it lapses ``lifetime`` seconds after the later of ``refresh_token_issued_at`` and
``refresh_token_used_at``. A record without those fields (written before they were kept) has an
unknown lapse time.

The thresholds, for a lifetime L (scaled down for short lifetimes so a fresh token is never
already in trouble):

- keepalive point: ``lapses_at - margin`` with margin ``min(30 days, L/2)`` by default; from
  then on ``refresh --all --keepalive`` refreshes the install (``keepalive_due``);
- ``refresh_overdue``: one day (at most a quarter of the margin) past the default keepalive
  point and still not refreshed: the scheduled ``refresh --all --keepalive`` did not run;
- ``refresh_token_expiring``: ``min(14 days, L/4)`` before the lapse;
- ``refresh_token_lapsed``: past ``lapses_at``; a person must reconnect (the provider will
  refuse the token), as for ``reauthorization_required``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from oob_helper.tokens import InstallRecord

DAY = 86400.0
KEEPALIVE_MARGIN = 30 * DAY
EXPIRING_WARNING = 14 * DAY
OVERDUE_GRACE = 1 * DAY

Problem = Literal[
    "site_mismatch",
    "reauthorization_required",
    "refresh_token_lapsed",
    "refresh_token_expiring",
    "refresh_overdue",
]
# Problems a person must fix; the others are warnings while there is still time.
NEEDS_PERSON: frozenset[Problem] = frozenset(
    {"site_mismatch", "reauthorization_required", "refresh_token_lapsed"}
)


# What each problem means, in words for the admin (status, the web banner, event reasons).
PROBLEM_TEXT: dict[Problem, str] = {
    # Found by the record owner, which knows the store's location (records.InstallRecords.health).
    "site_mismatch": "This connection was made in a store that lives somewhere else: this one looks "
    "like a copy (a staging clone, a restored backup, a copied file), so it is not refreshed here "
    "and the original keeps its tokens. If the original is retired, run `oob-helper adopt-store`; "
    "if this is a copy, connect again (`oob-helper connect --install NAME`) for a grant of its own.",
    "reauthorization_required": "The provider no longer accepts this connection: connect again.",
    "refresh_token_lapsed": "The refresh token went unused too long and has lapsed: connect again.",
    "refresh_token_expiring": "The refresh token lapses soon unless it is used: refresh now to "
    "keep the connection.",
    "refresh_overdue": "The scheduled refresh did not happen (is `oob-helper refresh --all "
    "--keepalive` running?): refresh now to keep the connection.",
}


def refresh_token_lapses_at(record: InstallRecord, lifetime: float | None) -> float | None:
    """When the record's refresh token lapses unused, or None (no lifetime, no token, unknown)."""
    if not lifetime or lifetime <= 0 or record.token is None or record.token.refresh_token is None:
        return None
    known = [t for t in (record.refresh_token_issued_at, record.refresh_token_used_at) if t is not None]
    return max(known) + lifetime if known else None


def keepalive_margin(lifetime: float, margin: float = KEEPALIVE_MARGIN) -> float:
    """The keepalive margin for a lifetime: at most half of it."""
    return min(margin, lifetime / 2)


def keepalive_due(
    record: InstallRecord, lifetime: float | None, now: float, margin: float = KEEPALIVE_MARGIN
) -> bool:
    """Whether ``refresh --all --keepalive`` should refresh this install now.

    A connected install whose refresh token has a lifetime is due from ``margin`` before the
    lapse; one whose age is unknown (an older record) is due too, since the refresh records it.
    """
    token = record.token
    if record.state != "connected" or not lifetime or token is None or token.refresh_token is None:
        return False
    lapses_at = refresh_token_lapses_at(record, lifetime)
    return lapses_at is None or now >= lapses_at - keepalive_margin(lifetime, margin)


@dataclass(frozen=True)
class Health:
    """An install's trouble at one moment: the problem, since when, and when it breaks."""

    problem: Problem | None = None
    since: float | None = None
    lapses_at: float | None = None
    text: str | None = None

    @property
    def needs_person(self) -> bool:
        """True when only a person can fix it (reconnect)."""
        return self.problem in NEEDS_PERSON


def overdue_at(lapses_at: float, lifetime: float) -> float:
    """When a refresh the default keepalive schedule should have made is overdue."""
    margin = keepalive_margin(lifetime)
    return lapses_at - margin + min(OVERDUE_GRACE, margin / 4)


def expiring_at(lapses_at: float, lifetime: float) -> float:
    """When ``refresh_token_expiring`` is due: 14 days (at most a quarter lifetime) ahead."""
    return lapses_at - min(EXPIRING_WARNING, lifetime / 4)


def is_copy(record: InstallRecord, here: str | None) -> bool:
    """Whether ``record`` was made in a store that lives elsewhere than ``here`` (this store's
    ``location()``; None: the store has none, the guard is off). A record without a location
    (written before the clone guard) is not known to be a copy."""
    return here is not None and record.store_location is not None and record.store_location != here


def health(record: InstallRecord, lifetime: float | None, now: float, here: str | None = None) -> Health:
    """The install's current problem (the worst one), in words for the admin; ``here``: this
    store's location, so a record copied from elsewhere is a ``site_mismatch`` first."""
    if is_copy(record, here):
        return Health("site_mismatch", None, None, PROBLEM_TEXT["site_mismatch"])
    if record.state == "reauthorization_required":
        return Health(
            "reauthorization_required",
            record.state_changed_at,
            None,
            PROBLEM_TEXT["reauthorization_required"],
        )
    if record.state != "connected":
        return Health()
    lapses_at = refresh_token_lapses_at(record, lifetime)
    if lapses_at is None or lifetime is None:
        return Health()
    stages: tuple[tuple[Problem, float], ...] = (
        ("refresh_token_lapsed", lapses_at),
        ("refresh_token_expiring", expiring_at(lapses_at, lifetime)),
        ("refresh_overdue", overdue_at(lapses_at, lifetime)),
    )
    for problem, since in stages:  # the worst first
        if now >= since:
            return Health(problem, since, lapses_at, PROBLEM_TEXT[problem])
    return Health(lapses_at=lapses_at)


WarningKind = Literal["refresh_overdue", "refresh_token_expiring"]


def warnings_due(record: InstallRecord, lifetime: float | None, now: float) -> list[WarningKind]:
    """The warning events due for this record and not yet told for its refresh token."""
    lapses_at = refresh_token_lapses_at(record, lifetime)
    if record.state != "connected" or lapses_at is None or lifetime is None or now >= lapses_at:
        return []  # a lapsed token is told by the refresh the provider refuses
    due: list[WarningKind] = []
    if now >= overdue_at(lapses_at, lifetime) and record.overdue_warned_at is None:
        due.append("refresh_overdue")
    if now >= expiring_at(lapses_at, lifetime) and record.expiring_warned_at is None:
        due.append("refresh_token_expiring")
    return due


__all__ = [
    "EXPIRING_WARNING",
    "KEEPALIVE_MARGIN",
    "NEEDS_PERSON",
    "OVERDUE_GRACE",
    "PROBLEM_TEXT",
    "Health",
    "Problem",
    "WarningKind",
    "expiring_at",
    "health",
    "keepalive_due",
    "keepalive_margin",
    "overdue_at",
    "refresh_token_lapses_at",
    "warnings_due",
]
