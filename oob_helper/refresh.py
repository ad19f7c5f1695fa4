"""The single-flight refresh coordinator.

Contract used by the facade (oob_helper/helper.py) and the httpx auth (oob_helper/auth.py):
inside the install's cross-process store lock it re-reads the record, refreshes only if still
needed, and persists the new refresh token (compare-and-set on the version) before anyone uses
the new access token.

Two locks, on purpose: a per-install ``threading.Lock`` queues the threads of this process
(so they wait cheaply and do not all poll the store's lock), and ``store.lock(install)``
serialises processes. A waiter that gets the lock re-reads the record and, finding a token a
sibling just wrote, returns it without calling the provider.

A small per-install cache of the last token read or written spares ``valid_token`` a store
read (and the record's decoding) on every request: an entry is served only while its token is
outside the refresh window and it is younger than ``cache_ttl`` seconds, by both the injected
clock and a monotonic one, so a disconnect or "reauthorization required" written by another
process is seen within that time. Every path that re-reads or writes drops the entry first, and
a fill is kept only if no drop happened since its read began (a per-install generation), so a
stale read can never overwrite a newer state of this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable
from typing import NoReturn

from oob_helper.errors import InvalidGrant, NotConnected, ReauthorizationRequired, VersionConflict
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, RefreshResult, Token

# Performs the refresh grant for a record's refresh token and returns the new Token (keeping
# the old refresh token when the response has none). Raises oob_helper.errors.ProviderError
# subclasses (InvalidGrant when the provider refuses the refresh token) or NetworkError.
Refresher = Callable[[InstallRecord], Token]

# A refresh that loses a compare-and-set (only possible when a lock lease ran out under it)
# re-reads and writes again this many times before giving up.
_WRITE_ATTEMPTS = 3


class RefreshCoordinator:
    """Hands out valid tokens; exactly one refresh per install at a time, across processes."""

    def __init__(
        self,
        store: TokenStore,
        refresher: Refresher,
        *,
        clock: Callable[[], float],
        leeway: float = 300.0,
        jitter: float = 30.0,
        lock_timeout: float = 30.0,
        cache_ttl: float = 2.0,
    ) -> None:
        self.store = store
        self.refresher = refresher
        self.clock = clock
        self.leeway = leeway
        self.jitter = jitter
        self.lock_timeout = lock_timeout
        self.cache_ttl = cache_ttl
        self._guard = threading.Lock()
        self._install_locks: dict[str, threading.Lock] = {}
        # install -> (token, read at by self.clock, read at by time.monotonic)
        self._cache: dict[str, tuple[Token, float, float]] = {}
        self._generations: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={type(self.store).__name__}, leeway={self.leeway})"

    def valid_token(self, install: str) -> Token:
        """A token not expiring within the leeway; refreshes first if needed.

        Raises NotConnected, ReauthorizationRequired, ProviderError or NetworkError.
        """
        cached = self.cached_token(install)
        if cached is not None:
            return cached
        generation = self.forget(install)
        read_at, read_mono = self.clock(), time.monotonic()
        record = self.store.get(install)
        token = _usable_token(install, record)
        within = self._window(token)
        if not token.is_expiring(self.clock(), within):
            self._remember(install, generation, token, read_at, read_mono)
            return token
        _, record = self.refresh(install, within=within)
        return _usable_token(install, record)

    def cached_token(self, install: str) -> Token | None:
        """The cached token if it may be served now (no I/O, never blocks), else None.

        ``valid_token`` tries this first; the async auth flow calls it on the event loop and
        only goes to a worker thread when it returns None.
        """
        entry = self._cache.get(install)
        if entry is None:
            return None
        token, read_at, read_mono = entry
        now = self.clock()
        if (
            0.0 <= now - read_at < self.cache_ttl
            and 0.0 <= time.monotonic() - read_mono < self.cache_ttl
            and not token.is_expiring(now, self._window(token))
        ):
            return token
        return None

    def forget(self, install: str) -> int:
        """Drop the cached token of ``install``; the next call reads the store.

        Call it after writing the install's record outside the coordinator (connect,
        disconnect). Returns the install's new cache generation.
        """
        with self._guard:
            generation = self._generations.get(install, 0) + 1
            self._generations[install] = generation
            self._cache.pop(install, None)
            return generation

    def _remember(
        self, install: str, generation: int, token: Token, read_at: float, read_mono: float
    ) -> None:
        if self.cache_ttl <= 0:
            return
        with self._guard:
            # A drop since the read began means this token may be older than the store's.
            if self._generations.get(install) == generation:
                self._cache[install] = (token, read_at, read_mono)

    def _window(self, token: Token) -> float:
        # Jitter spreads the proactive refreshes of many installs written at the same moment
        # (e.g. by `refresh --all`) so they do not all come due together next time.
        within = self.leeway + random.uniform(0.0, self.jitter)  # noqa: S311 - not a secret
        return _capped(within, token)

    def refresh(
        self,
        install: str,
        *,
        rejected_access_token: str | None = None,
        force: bool = False,
        within: float | None = None,
    ) -> tuple[RefreshResult, InstallRecord]:
        """Refresh if needed: ``force``; or the API rejected ``rejected_access_token`` (and it is
        still the stored one); or expiring within ``within`` (default: the leeway)."""
        window = self.leeway if within is None else within
        generation = self.forget(install)
        read_at, read_mono = self.clock(), time.monotonic()
        result, record = self._refresh(install, rejected_access_token, force, window)
        if record.state == "connected" and record.token is not None:
            self._remember(install, generation, record.token, read_at, read_mono)
        return result, record

    def _refresh(
        self, install: str, rejected: str | None, force: bool, window: float
    ) -> tuple[RefreshResult, InstallRecord]:
        with self._thread_lock(install):
            # Threads queued behind a sibling's refresh usually find its token here, without
            # touching the cross-process lock (which waiters poll with backoff).
            record = self.store.get(install)
            if not self._needed(_usable_token(install, record), rejected, force, window):
                assert record is not None  # _usable_token raised otherwise
                return "skipped", record
            with self.store.lock(install, timeout=self.lock_timeout):
                # Re-read under the lock: another process may have refreshed meanwhile.
                record = self.store.get(install)
                token = _usable_token(install, record)
                assert record is not None
                if not self._needed(token, rejected, force, window):
                    return "skipped", record
                return self._refresh_locked(record)

    def _needed(self, token: Token, rejected: str | None, force: bool, window: float) -> bool:
        if force:
            return True
        if rejected is not None and token.access_token == rejected:
            return True
        # A rejected token that is no longer the stored one means a sibling already replaced
        # it: the stored token is the answer unless it too is about to expire.
        return token.is_expiring(self.clock(), window)

    def _refresh_locked(self, record: InstallRecord) -> tuple[RefreshResult, InstallRecord]:
        """Call the provider and persist the result; the caller holds both locks."""
        assert record.token is not None
        if record.token.refresh_token is None:
            if not record.token.is_expiring(self.clock(), 0.0):
                return "skipped", record  # nothing to refresh with, but it still works
            self._require_reauthorization(record, "the token expired and no refresh token was issued")
        try:
            new_token = self.refresher(record)
        except InvalidGrant as exc:
            current = self.store.get(record.install)
            if current is None:
                raise NotConnected(record.install) from None
            stored = _usable_token(record.install, current)
            if stored.refresh_token != record.token.refresh_token:
                # Rotated under us (a lease ran out, or another host): the stored pair is newer
                # than the one the provider refused, so use it rather than give up.
                if stored.is_expiring(self.clock(), 0.0) and stored.refresh_token is not None:
                    return self._refresh_locked(current)
                return "skipped", current
            reason = f"the provider refused the refresh token ({exc.error})"
            if exc.error_description:
                reason += f": {exc.error_description}"
            self._require_reauthorization(current, reason)
        if new_token.refresh_token is None:
            new_token = dataclasses.replace(new_token, refresh_token=record.token.refresh_token)
        return "refreshed", self._write(record, new_token)

    def _write(self, record: InstallRecord, token: Token) -> InstallRecord:
        """Persist the new pair before anyone may use it (compare-and-set on the version)."""
        now = self.clock()
        current = record
        for _ in range(_WRITE_ATTEMPTS):
            updated = dataclasses.replace(
                current,
                token=token,
                state="connected",
                reason=None,
                state_changed_at=now if current.state != "connected" else current.state_changed_at,
                last_refresh_at=now,
            )
            try:
                return self.store.put(updated, expected_version=current.version)
            except VersionConflict:
                # Someone wrote while we refreshed (our lock's lease ran out). The provider has
                # just issued our pair, so with rotation it is the one still valid: write it
                # over theirs, unless the install was disconnected meanwhile.
                latest = self.store.get(record.install)
                if latest is None:
                    raise NotConnected(record.install) from None
                current = latest
        raise VersionConflict(
            f"install {record.install!r}: the record kept changing while a refresh was written"
        )

    def _require_reauthorization(self, record: InstallRecord, reason: str) -> NoReturn:
        """Mark the install (keeping its record) and raise ReauthorizationRequired."""
        marked = dataclasses.replace(
            record,
            state="reauthorization_required",
            reason=reason,
            state_changed_at=self.clock(),
        )
        # On a conflict a newer record (perhaps a fresh connection) won; do not overwrite it.
        with contextlib.suppress(VersionConflict):
            self.store.put(marked, expected_version=record.version)
        raise ReauthorizationRequired(record.install, reason) from None

    def _thread_lock(self, install: str) -> threading.Lock:
        with self._guard:
            lock = self._install_locks.get(install)
            if lock is None:
                lock = self._install_locks[install] = threading.Lock()
            return lock


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
