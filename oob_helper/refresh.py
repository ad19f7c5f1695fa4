"""The single-flight refresh coordinator.

Read top-down, a refresh goes: the httpx auth (or the facade) -> this coordinator -> the token
grant (``oob_helper.grant``) -> the transport, and the result -> the record owner
(``oob_helper.records``), which alone writes records. Nothing here calls back up.

Inside the install's cross-process lock (held through ``InstallRecords.locked``, its lease
renewed while the refresh runs) the coordinator re-reads the record, refreshes only if still
needed, and hands the new pair to the owner, which persists it (compare-and-set, over the same
grant only) before anyone uses the new access token.

Two locks, on purpose: a per-install ``threading.Lock`` queues the threads of this process
(so they wait cheaply and do not all poll the store's lock), and the store's lock serialises
processes. A waiter that gets the lock re-reads the record and, finding a token a sibling just
wrote, returns it without calling the provider.

The shared back-off (``oob_helper.backoff``) is checked before the lock and again under it, so
processes that all passed the first check while a sibling's refresh failed still send nothing:
after a failure no refresh goes until its next allowed attempt, except one a person asked for
(``override_backoff``). Meanwhile a still-valid access token keeps being handed out; an expired
one raises RefreshBackedOff, with no request sent.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable
from typing import Protocol

from oob_helper.backoff import Backoff, BackoffBook, BackoffSchedule
from oob_helper.errors import (
    InvalidGrant,
    MalformedResponse,
    NetworkError,
    NotConnected,
    ProviderError,
    ReauthorizationRequired,
    RefreshBackedOff,
)
from oob_helper.lifecycle import is_transient
from oob_helper.records import InstallRecords, LockedInstall
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, RefreshResult, Token


class RefreshGrant(Protocol):
    """What the coordinator needs of the provider (``oob_helper.grant.TokenGrant``)."""

    def refresh(self, token: Token, *, guard: Callable[[], None] | None = None) -> Token:
        """The refresh grant for ``token``'s refresh token; raises InvalidGrant when refused,
        other ProviderError subclasses, or NetworkError."""
        ...

    def revoke(self, token: Token) -> None:
        """Revoke ``token``'s grant at the provider."""
        ...


class RefreshCoordinator:
    """Hands out valid tokens; exactly one refresh per install at a time, across processes."""

    def __init__(
        self,
        store: TokenStore,
        grant: RefreshGrant,
        *,
        clock: Callable[[], float],
        leeway: float = 300.0,
        jitter: float = 30.0,
        lock_timeout: float = 30.0,
        lease: float = 60.0,
        cache_ttl: float = 2.0,
        records: InstallRecords | None = None,
        backoff: BackoffSchedule | None = None,
    ) -> None:
        self.grant = grant
        self.clock = clock
        self.leeway = leeway
        self.jitter = jitter
        self.records = records or InstallRecords(
            store,
            clock=clock,
            revoke=grant.revoke,
            lock_timeout=lock_timeout,
            lease=lease,
            cache_ttl=cache_ttl,
        )
        self.backoff = BackoffBook(store, backoff)
        self._guard = threading.Lock()
        self._install_locks: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={type(self.records.store).__name__}, leeway={self.leeway})"

    @property
    def store(self) -> TokenStore:
        """The store the records live in."""
        return self.records.store

    @property
    def cache_ttl(self) -> float:
        """How long (seconds) a token read may be served without a store read; 0 turns it off."""
        return self.records.cache_ttl

    @cache_ttl.setter
    def cache_ttl(self, value: float) -> None:
        self.records.cache_ttl = value

    def valid_token(self, install: str) -> Token:
        """A token not expiring within the leeway; refreshes first if needed.

        Raises NotConnected, ReauthorizationRequired, ProviderError or NetworkError.
        """
        cached = self.cached_token(install)
        if cached is not None:
            return cached
        record = self.records.get(install)
        self.records.check_site(install, record)  # a copy serves no token at all (README)
        token = _usable_token(install, record)
        within = self._window(token)
        if not token.is_expiring(self.clock(), within):
            return token
        _, record = self.refresh(install, within=within)
        return _usable_token(install, record)

    def cached_token(self, install: str) -> Token | None:
        """The cached token if it may be served now (no I/O, never blocks), else None.

        ``valid_token`` tries this first; the async auth flow calls it on the event loop and
        only goes to a worker thread when it returns None.
        """
        return self.records.cached_token(install, self._servable)

    def _servable(self, token: Token, now: float) -> bool:
        # A method rather than a closure built on every call: this runs once per API request.
        return not token.is_expiring(now, self._window(token))

    def _window(self, token: Token) -> float:
        # Jitter spreads the proactive refreshes of many installs written at the same moment
        # (e.g. by `refresh --all`) so they do not all come due together next time.
        # random.random (C) times the span: random.uniform's value, without its Python frame.
        within = self.leeway + self.jitter * random.random()  # noqa: S311 - not a secret
        return _capped(within, token)

    def refresh(
        self,
        install: str,
        *,
        rejected_access_token: str | None = None,
        force: bool = False,
        within: float | None = None,
        override_backoff: bool = False,
    ) -> tuple[RefreshResult, InstallRecord]:
        """Refresh if needed: ``force``; or the API rejected ``rejected_access_token`` (and it is
        still the stored one); or expiring within ``within`` (default: the leeway).

        While the install is backed off (and not ``override_backoff``: a person asked) nothing
        is sent: "backed_off" with the record when its access token still works, else
        RefreshBackedOff."""
        window = self.leeway if within is None else within
        with self._thread_lock(install):
            if not force:
                # Threads queued behind a sibling's refresh usually find its token here, without
                # touching the cross-process lock (which waiters poll with backoff). A forced
                # refresh is needed whatever it finds, and everything else read here is read
                # again under the lock: it skips these two reads (`refresh --all` pays them
                # per install otherwise).
                record = self.records.get(install)
                self.records.check_site(install, record)
                if not self._needed(_usable_token(install, record), rejected_access_token, force, window):
                    assert record is not None  # _usable_token raised otherwise
                    return "skipped", record
                assert record is not None
                if not override_backoff and self._backed_off(record, rejected_access_token):
                    return "backed_off", record
            with self.records.locked(install) as held:
                # Re-read under the lock: another process may have refreshed meanwhile, or an
                # adopt-store / move may have changed the record. Nothing is sent from a copy.
                held.check_site()
                token = _usable_token(install, held.record)
                assert held.record is not None
                if not self._needed(token, rejected_access_token, force, window):
                    return "skipped", held.record
                # And the back-off again: a sibling's refresh may have failed while we waited.
                if not override_backoff and self._backed_off(held.record, rejected_access_token):
                    return "backed_off", held.record
                return self._refresh_locked(held)

    def backoff_text(self, record: InstallRecord) -> str | None:
        """Why refreshes of ``record`` are held back now, in words (None: they are not)."""
        backoff = self.backoff.get(record)
        now = self.clock()
        if backoff is None or not backoff.blocks(now):
            return None
        return str(_held_back(record.install, backoff, now))

    def _backed_off(self, record: InstallRecord, rejected: str | None) -> bool:
        """True when a back-off holds the refresh and the stored token still works; raises
        RefreshBackedOff when it holds it and the token does not (expired, or the API refused it)."""
        backoff = self.backoff.get(record)
        now = self.clock()
        if backoff is None or not backoff.blocks(now):
            return False
        assert record.token is not None
        if rejected != record.token.access_token and not record.token.is_expiring(now, 0.0):
            return True
        raise _held_back(record.install, backoff, now)

    def _needed(self, token: Token, rejected: str | None, force: bool, window: float) -> bool:
        if force:
            return True
        if rejected is not None and token.access_token == rejected:
            return True
        # A rejected token that is no longer the stored one means a sibling already replaced
        # it: the stored token is the answer unless it too is about to expire.
        return token.is_expiring(self.clock(), window)

    def _refresh_locked(self, held: LockedInstall) -> tuple[RefreshResult, InstallRecord]:
        """Call the provider and hand the result to the record owner; the caller holds the lock."""
        record = held.record
        assert record is not None
        assert record.token is not None
        if record.token.refresh_token is None:
            if not record.token.is_expiring(self.clock(), 0.0):
                return "skipped", record  # nothing to refresh with, but it still works
            held.reauthorization_required("the token expired and no refresh token was issued")
        held.lease.check()
        try:
            new_token = self.grant.refresh(record.token, guard=held.lease.check)
        except InvalidGrant as exc:
            return self._refused(held, record, exc)
        except (ProviderError, NetworkError) as exc:
            # A garbled answer (an HTML login page of a captive portal, cut-off JSON) says nothing
            # about the client: back off, but do not stop until a person acts.
            transient = is_transient(exc) or isinstance(exc, MalformedResponse)
            code = exc.error if isinstance(exc, ProviderError) else "network"
            # Still under the lock: the next process to get it sees this back-off.
            backoff = self.backoff.failed(record, error=code, transient=transient, now=self.clock())
            held.refresh_failed(
                exc,
                next_attempt_at=None if backoff.permanent else backoff.next_attempt_at,
                attempts=backoff.failures,
            )
            raise
        if new_token.refresh_token is None:
            # An answer without a refresh token leaves the stored one valid (RFC 6749 6).
            new_token = dataclasses.replace(new_token, refresh_token=record.token.refresh_token)
        return "refreshed", held.refreshed(new_token)

    def _refused(
        self, held: LockedInstall, record: InstallRecord, exc: InvalidGrant
    ) -> tuple[RefreshResult, InstallRecord]:
        """The provider refused the refresh token: someone else's newer pair, or the end of the grant."""
        assert record.token is not None
        current = held.reread()
        if current is None:
            raise NotConnected(record.install) from None
        stored = _usable_token(record.install, current)
        if stored.refresh_token != record.token.refresh_token or current.grant_id != record.grant_id:
            # Replaced under us (only after a lost lease): the stored pair is newer than the
            # one the provider refused, so use it rather than give up.
            if stored.is_expiring(self.clock(), 0.0) and stored.refresh_token is not None:
                return self._refresh_locked(held)
            return "skipped", current
        reason = f"the provider refused the refresh token ({exc.error})"
        if exc.error_description:
            reason += f": {exc.error_description}"
        return held.reauthorization_required(reason, error=exc.error)

    def _thread_lock(self, install: str) -> threading.Lock:
        with self._guard:
            lock = self._install_locks.get(install)
            if lock is None:
                lock = self._install_locks[install] = threading.Lock()
            return lock


def _held_back(install: str, backoff: Backoff, now: float) -> RefreshBackedOff:
    return RefreshBackedOff(
        install,
        next_attempt_at=backoff.next_attempt_at,
        permanent=backoff.permanent,
        error=backoff.error,
        now=now,
    )


def _capped(window: float, token: Token) -> float:
    """At most half the token's lifetime: with short-lived tokens (a 60 s custom provider, the
    mock's ``--access-token-ttl``) a 5-minute leeway would make every fresh token look expiring
    and every call refresh again."""
    if token.expires_at is None or token.obtained_at <= 0:
        return window
    return max(0.0, min(window, (token.expires_at - token.obtained_at) / 2))


def _usable_token(install: str, record: InstallRecord | None) -> Token:
    """The record's token, or the error that says why there is none to use."""
    if record is None or record.state == "not_connected" or record.token is None:
        raise NotConnected(install)
    if record.state == "reauthorization_required":
        raise ReauthorizationRequired(install, record.reason or "the provider refused the grant")
    return record.token
