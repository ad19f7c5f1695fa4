"""The fleet view's data: every install's health as rows, filtered, searched and keyset-paged.

Pure functions over records (no I/O, no web): the fleet page (``oob_helper.web.fleet``) and
``oob-helper status`` feed them ``store.iter_records(after=...)``. Paging is by key, never by
offset: a page starts strictly after the last install of the previous one, so the cost of a
page does not grow with the number of installs before it. A filter or a search reads forward
until the page is full, but at most ``scan_limit`` records per page: where it stops, the page
says so and offers to continue from there (a search for a rare name in a large fleet costs a
few bounded steps, never one unbounded scan).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from oob_helper.health import PROBLEM_TEXT, health, is_copy, refresh_token_lapses_at
from oob_helper.tokens import InstallRecord

STATES = ("connected", "reauthorization_required")
PROBLEMS = ("any", "none", "some")
MAX_PAGE = 500
MAX_SEARCH = 200
_INSTALL_KEY = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


class BadQuery(ValueError):
    """A fleet query parameter that cannot be used (the message names it and the fix)."""


@dataclass(frozen=True)
class FleetQuery:
    """Which installs to list: by state, by problem, by a piece of the install name, a page."""

    state: str | None = None  # one of STATES; None: every state
    problem: str = "any"  # "some": only installs with a problem; "none": only healthy ones
    search: str = ""  # a case-insensitive piece of the install name
    after: str = ""  # the page starts after this install (keyset)
    limit: int = 50

    @classmethod
    def parse(cls, params: Mapping[str, str], *, default_limit: int = 50) -> FleetQuery:
        """The query from URL or CLI parameters; BadQuery names a bad one and the fix."""
        state = params.get("state", "").strip() or None
        if state == "all":
            state = None
        if state is not None and state not in STATES:
            raise BadQuery(f"state must be one of {', '.join(('all', *STATES))}, not {state[:40]!r}")
        problem = params.get("problem", "").strip() or "any"
        if problem not in PROBLEMS:
            raise BadQuery(f"problem must be one of {', '.join(PROBLEMS)}, not {problem[:40]!r}")
        search = params.get("q", "").strip()
        if len(search) > MAX_SEARCH:
            raise BadQuery(f"the search is longer than {MAX_SEARCH} characters: search for a shorter piece")
        after = params.get("after", "")
        if after and not _INSTALL_KEY.fullmatch(after):
            raise BadQuery("after must be an install name (as the page's own 'Next page' link gives it)")
        text = params.get("limit", "").strip()
        if not text:
            limit = default_limit
        elif text.isdigit() and 1 <= int(text) <= MAX_PAGE:
            limit = int(text)
        else:
            raise BadQuery(f"limit must be a whole number from 1 to {MAX_PAGE}, not {text[:20]!r}")
        return cls(state=state, problem=problem, search=search, after=after, limit=limit)

    def params(self, **changes: str) -> dict[str, str]:
        """The query as URL parameters (defaults left out), with ``changes`` applied."""
        values = {
            "state": self.state or "",
            "problem": "" if self.problem == "any" else self.problem,
            "q": self.search,
            "after": self.after,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class FleetRow:
    """One install's line in the fleet view (no secret: names, times and words only)."""

    install: str
    state: str
    account: str | None
    expires_at: float | None
    last_refresh_at: float | None
    problem: str | None
    problem_since: float | None
    # When the refresh token lapses unused (None: no lifetime, or its age is unknown).
    refresh_token_lapses_at: float | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "install": self.install,
            "state": self.state,
            "account": self.account,
            "expires_at": self.expires_at,
            "last_refresh_at": self.last_refresh_at,
            "problem": self.problem,
            "problem_since": self.problem_since,
            "refresh_token_lapses_at": self.refresh_token_lapses_at,
        }


def problem_of(
    record: InstallRecord, now: float, lifetime: float | None = None, location: str | None = None
) -> tuple[str | None, float | None]:
    """What is wrong with the install, in words, and since when (None: nothing); with the
    refresh tokens' ``lifetime``, also a lapsed, expiring or overdue one (oob_helper/health.py);
    with the store's ``location``, a record copied from another store first."""
    if is_copy(record, location):
        return PROBLEM_TEXT["site_mismatch"], None
    if record.state == "reauthorization_required":
        return record.reason or "reauthorization required", record.state_changed_at
    token = record.token
    if (
        record.state == "connected"
        and token is not None
        and token.expires_at is not None
        and token.refresh_token is None
        and token.expires_at <= now
    ):
        return "the access token expired and no refresh token was issued", token.expires_at
    found = health(record, lifetime, now)
    if found.problem is not None:
        return PROBLEM_TEXT[found.problem], found.since
    return None, None


def fleet_row(
    record: InstallRecord, now: float, lifetime: float | None = None, location: str | None = None
) -> FleetRow:
    """The row for ``record`` at ``now`` (``lifetime``: of its refresh token, None = no limit;
    ``location``: the store's, for the clone guard)."""
    problem, since = problem_of(record, now, lifetime, location)
    token = record.token
    return FleetRow(
        install=record.install,
        state=record.state,
        account=record.account_name or record.account_id,
        expires_at=None if token is None else token.expires_at,
        last_refresh_at=record.last_refresh_at,
        problem=problem,
        problem_since=since,
        refresh_token_lapses_at=refresh_token_lapses_at(record, lifetime),
    )


@dataclass(frozen=True)
class FleetPage:
    """One page: its rows, where the next page starts, and whether the scan stopped early."""

    rows: tuple[FleetRow, ...]
    next_after: str | None  # None: this is the last page
    scanned: int
    stopped_early: bool  # the scan limit ended the page before it was full


def _matches(row: FleetRow, query: FleetQuery, needle: str) -> bool:
    if query.state is not None and row.state != query.state:
        return False
    if query.problem == "some" and row.problem is None:
        return False
    if query.problem == "none" and row.problem is not None:
        return False
    return not needle or needle in row.install.casefold()


def select(
    records: Iterable[InstallRecord],
    query: FleetQuery,
    now: float,
    *,
    lifetime: float | None = None,
    location: str | None = None,
) -> Iterator[InstallRecord]:
    """The records that match ``query``'s state, problem and search, after ``query.after``, in
    order, without a page limit (``oob-helper status`` with the fleet's filters)."""
    needle = query.search.casefold()
    for record in records:
        if record.install > query.after and _matches(
            fleet_row(record, now, lifetime, location), query, needle
        ):
            yield record


def fleet_page(
    records: Iterable[InstallRecord],
    query: FleetQuery,
    now: float,
    *,
    scan_limit: int = 5000,
    lifetime: float | None = None,
    location: str | None = None,
) -> FleetPage:
    """The page of ``records`` (ordered by install, starting after ``query.after``);
    ``lifetime``: how long their refresh tokens live unused (None = no limit)."""
    needle = query.search.casefold()
    rows: list[FleetRow] = []
    scanned = 0
    last: str | None = None
    for record in records:
        if record.install <= query.after:
            continue  # a backend without keyset reads (a custom store) gives us everything
        if len(rows) == query.limit or scanned >= scan_limit:
            # There is more after ``last``: a next page (the page is full, or the scan stopped).
            return FleetPage(tuple(rows), last, scanned, stopped_early=len(rows) < query.limit)
        scanned += 1
        last = record.install
        row = fleet_row(record, now, lifetime, location)
        if _matches(row, query, needle):
            rows.append(row)
    return FleetPage(tuple(rows), None, scanned, stopped_early=False)


__all__ = [
    "STATES",
    "BadQuery",
    "FleetPage",
    "FleetQuery",
    "FleetRow",
    "fleet_page",
    "fleet_row",
    "problem_of",
    "select",
]
