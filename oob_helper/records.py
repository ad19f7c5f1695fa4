"""The one owner of every install's record, and of the in-process cache that mirrors it.

Every transition of a record happens here and nowhere else: connected (a first connect or a
reconnect), refreshed, reauthorization required, disconnected. Each takes the install's
cross-process lock (``TokenStore.lock``, whose lease is renewed while the holder works),
re-reads, and writes with compare-and-set on the record's version.

Every completed authorization starts a new *grant*, named by ``InstallRecord.grant_id``. A
refresh writes its new pair only over the grant it refreshed and only while the stored token is
still the one it refreshed from: if a reconnect or a disconnect replaced the grant meanwhile,
the pair is an orphan, revoked at the provider (RFC 7009, best effort) and never stored; if
another worker already stored a newer pair of the same grant (possible only after a lease was
lost), that newer pair is kept. So no race can cross two grants, lose the newer token, or leave
a pair alive that nothing holds.

The cache keeps each install's last token read or written for up to ``cache_ttl`` seconds (by
the injected clock and a monotonic one), so an API call needs no store read; transitions here
replace the entry themselves, and a fill from a read is kept only if no transition of this
process began since the read did (a per-install generation), so a stale read never hides a
newer state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import NoReturn

from oob_helper.errors import (
    ConfigurationError,
    NetworkError,
    NotConnected,
    ProviderError,
    ReauthorizationRequired,
    SiteMismatch,
    StoreError,
    VersionConflict,
)
from oob_helper.health import (
    PROBLEM_TEXT,
    Health,
    health,
    is_copy,
    refresh_token_lapses_at,
    warnings_due,
)
from oob_helper.lifecycle import EventKind, LifecycleEvent, Subscribers, is_transient
from oob_helper.stores._common import Lease
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import InstallRecord, Token

logger = logging.getLogger("oob_helper")

# Revokes one token at the provider (RFC 7009); raises ProviderError or NetworkError.
Revoke = Callable[[Token], None]

# A write that loses its compare-and-set to a write that changed nothing this owner cares
# about (a key rotation rewriting the same record) is retried this many times.
_WRITE_ATTEMPTS = 3


def new_grant_id() -> str:
    """A fresh grant identity (random, not secret)."""
    return secrets.token_hex(12)


class LockedInstall:
    """An install while its lock is held: the record read under the lock, the lease, and the
    transitions a refresh may make."""

    def __init__(self, owner: InstallRecords, install: str, record: InstallRecord | None, lease: Lease):
        self._owner = owner
        self.install = install
        self.record = record
        self.lease = lease
        self.locked_at = time.monotonic()  # a refresh's events report how long it took from here

    def elapsed(self) -> float:
        """Seconds since the lock was taken."""
        return time.monotonic() - self.locked_at

    def __repr__(self) -> str:
        return f"LockedInstall(install={self.install!r}, version={getattr(self.record, 'version', None)})"

    def reread(self) -> InstallRecord | None:
        """Read the record again (after the provider refused a token: a sibling may have
        rotated it, if this lock's lease was lost)."""
        self.record = self._owner.store.get(self.install)
        return self.record

    def refreshed(self, token: Token) -> InstallRecord:
        """Store the pair a refresh of ``self.record`` returned, before anyone uses it.

        Returns the stored record, or the current one if the pair could not be stored over its
        grant (it is then revoked when the grant was replaced). Raises NotConnected when the
        install was disconnected meanwhile.
        """
        return self._owner._write_refreshed(self, token)

    def reauthorization_required(self, reason: str, *, error: str | None = None) -> NoReturn:
        """Mark the install (keeping its record) and raise ReauthorizationRequired; ``error`` is
        the provider's OAuth error code, when its answer was the cause."""
        self._owner._mark_reauthorization(self, reason, error)

    def check_site(self) -> None:
        """Raise SiteMismatch (and emit ``clone_detected``) when the record was made in another
        store: called before anything is sent to the provider."""
        self._owner.check_site(self.install, self.record)

    def refresh_failed(
        self,
        exc: ProviderError | NetworkError,
        *,
        next_attempt_at: float | None = None,
        attempts: int | None = None,
    ) -> None:
        """Report a refresh that failed without an answer about the grant (the record stays);
        ``next_attempt_at``/``attempts``: the shared back-off it leaves (oob_helper/backoff.py)."""
        code = exc.error if isinstance(exc, ProviderError) else "network"
        self._owner._emit(
            "refresh_failed",
            self.record,
            self.install,
            reason=str(exc),
            error=code,
            transient=is_transient(exc),
            duration=self.elapsed(),
            next_attempt_at=next_attempt_at,
            attempts=attempts,
        )


class InstallRecords:
    """Reads and every transition of install records over one store (see the module docstring)."""

    def __init__(
        self,
        store: TokenStore,
        *,
        clock: Callable[[], float],
        revoke: Revoke | None = None,
        lock_timeout: float = 30.0,
        lease: float = 60.0,
        cache_ttl: float = 2.0,
        events: Subscribers | None = None,
        refresh_token_lifetime: float | None = None,
    ) -> None:
        self.store = store
        # Seconds a refresh token lives unused (None: no limit); oob_helper/health.py.
        self.refresh_token_lifetime = refresh_token_lifetime
        self.events = events if events is not None else Subscribers()
        self.clock = clock
        self.revoke = revoke
        self.lock_timeout = lock_timeout
        self.lease = lease
        self.cache_ttl = cache_ttl
        self._guard = threading.Lock()
        # install -> (token, read at by self.clock, read at by time.monotonic)
        self._cache: dict[str, tuple[Token, float, float]] = {}
        self._generations: dict[str, int] = {}
        self._location: str | None = None

    # -- where the store lives (the clone guard) -------------------------------------------

    @property
    def location(self) -> str | None:
        """This store's ``location()`` (read once: a store does not move under a running
        process), or None for a store without one (the guard is then off)."""
        if self._location is None:
            where = getattr(self.store, "location", None)
            self._location = None if where is None else str(where())
        return self._location

    def foreign(self, record: InstallRecord | None) -> bool:
        """True when ``record`` was made in a store that lives somewhere else than this one.

        A record without a location (written before the guard existed) is not known to be
        foreign: the next write here stamps it.
        """
        return record is not None and is_copy(record, self.location)

    def check_site(self, install: str, record: InstallRecord | None) -> None:
        """Raise SiteMismatch, after a ``clone_detected`` event, when ``record`` is foreign."""
        if not self.foreign(record):
            return
        assert record is not None
        exc = SiteMismatch(install, str(record.store_location), str(self.location))
        self._emit("clone_detected", record, install, reason=str(exc))
        raise exc

    def _stamped(self, record: InstallRecord) -> InstallRecord:
        """``record`` with this store's location where it had none yet (a legacy record)."""
        if record.store_location is not None or self.location is None:
            return record
        return dataclasses.replace(record, store_location=self.location)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={type(self.store).__name__})"

    # -- reads -----------------------------------------------------------------------------

    def get(self, install: str) -> InstallRecord | None:
        """The stored record (and a cache fill with its token)."""
        if self.cache_ttl <= 0:
            # The cache is off: nothing to fill, so no generation to take (with cache_ttl=0
            # every authorized request comes here).
            return self.store.get(install)
        generation = self._bump(install, drop=False)
        read_at, read_mono = self.clock(), time.monotonic()
        record = self.store.get(install)
        if (
            record is not None
            and record.state == "connected"
            and record.token is not None
            and not self.foreign(record)  # a copy's token is never served from the cache
        ):
            self._fill(install, generation, record.token, read_at, read_mono)
        return record

    def cached_token(self, install: str, usable: Callable[[Token, float], bool]) -> Token | None:
        """The cached token if it is young enough and ``usable(token, now)``; no I/O, never blocks."""
        if self.cache_ttl <= 0:
            return None  # the cache is off (an entry left from before is never young enough)
        entry = self._cache.get(install)
        if entry is None:
            return None
        token, read_at, read_mono = entry
        now = self.clock()
        if (
            0.0 <= now - read_at < self.cache_ttl
            and 0.0 <= time.monotonic() - read_mono < self.cache_ttl
            and usable(token, now)
        ):
            return token
        return None

    # -- the lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, install: str) -> Iterator[LockedInstall]:
        """Hold the install's cross-process lock and read its record under it."""
        with self.store.lock(install, timeout=self.lock_timeout, lease=self.lease) as lease:
            self._bump(install)
            yield LockedInstall(self, install, self.store.get(install), lease)

    # -- transitions ---------------------------------------------------------------------------

    def connect(
        self, install: str, token: Token, account_id: str | None, account_name: str | None
    ) -> InstallRecord:
        """Record a completed authorization as a new grant, replacing any earlier one.

        The grant it replaces is revoked at the provider (best effort): nothing holds it any
        more. If the new pair cannot be stored, it is revoked too and the error raised, so no
        pair is left alive that nothing holds.
        """
        now = self.clock()
        try:
            with self.locked(install) as held:
                current = held.record
                for _ in range(_WRITE_ATTEMPTS):
                    record = InstallRecord(
                        install=install,
                        token=token,
                        state="connected",
                        state_changed_at=now,
                        account_id=account_id,
                        account_name=account_name,
                        grant_id=new_grant_id(),
                        version=current.version if current else 0,
                        store_location=self.location,
                        refresh_token_issued_at=now if token.refresh_token else None,
                    )
                    try:
                        stored = self.store.put(record, expected_version=current.version if current else None)
                    except VersionConflict:
                        current = self.store.get(install)
                        continue
                    break
                else:
                    raise VersionConflict(
                        f"install {install!r}: the record kept changing while it was connected"
                    )
                self._set(install, stored)
        except StoreError:
            self._revoke_quietly(install, token, "the new connection could not be stored")
            raise
        if current is not None and current.token is not None and current.state == "connected":
            if self.foreign(current):
                # A copy's record holds the original's grant: revoking it would cut the original off.
                logger.info("install %r: replaced a copied connection without revoking it", install)
            else:
                self._revoke_quietly(install, current.token, "the connection it replaced")
        self._emit("connected", stored, install)
        return stored

    def disconnect(self, install: str, *, force: bool = False) -> InstallRecord:
        """Revoke the install's grant, then forget it; returns the record forgotten.

        The record is deleted only if it is still the grant that was revoked (compare-and-set).
        A revoke failure keeps the record (raised) unless ``force``, or unless the provider
        already took the grant away (reauthorization required). Raises NotConnected.

        A record copied from another store (``foreign``) holds the original's grant: it is
        forgotten here only, never revoked.
        """
        with self.locked(install) as held:
            record = held.record
            if record is None:
                raise NotConnected(install)
            if self.foreign(record):
                logger.warning("install %r: a copied connection, forgotten here only (not revoked)", install)
            elif record.token is not None and self.revoke is not None:
                held.lease.check()
                try:
                    self.revoke(record.token)
                except (ProviderError, NetworkError) as exc:
                    dead = record.state == "reauthorization_required" and isinstance(exc, ProviderError)
                    if not (force or dead):
                        logger.warning("install %r: revoke failed, record kept: %s", install, exc)
                        raise
                    logger.warning("install %r: revoke failed, forgetting it anyway: %s", install, exc)
            self._delete(record)
        self._emit("disconnected", record, install)
        return record

    def adopt(self) -> int:
        """Declare this store's location the legitimate one (a disk move, a restore after the
        original was lost): rewrite every record made elsewhere, or before the guard existed,
        with this location (under each install's lock, compare-and-set). Returns how many."""
        here = self.location
        if here is None:
            return 0
        adopted = 0
        for install in self.store.list_installs():
            with self.locked(install) as held:
                record = held.record
                for _ in range(_WRITE_ATTEMPTS):
                    if record is None or record.store_location == here:
                        break
                    try:
                        stored = self.store.put(
                            dataclasses.replace(record, store_location=here), expected_version=record.version
                        )
                    except VersionConflict:
                        record = self.store.get(install)
                        continue
                    self._set(install, stored)
                    adopted += 1
                    break
                else:
                    raise VersionConflict(
                        f"install {install!r}: the record kept changing while it was adopted"
                    )
        return adopted

    def move(self, old: str, new: str) -> InstallRecord:
        """Rename install ``old`` to ``new``, keeping its connection; returns the new record.

        Under both installs' locks: create ``new`` (compare-and-set: it must not exist), then
        delete ``old`` (compare-and-set). A crash between the two leaves both with the same grant;
        running the move again finds ``new`` holding ``old``'s grant and finishes by deleting
        ``old``. A ``new`` that holds another grant is never overwritten (ConfigurationError).
        """
        if old == new:
            raise ConfigurationError("move-install needs two different install names")
        first, second = sorted((old, new))  # one lock order, so two moves never deadlock
        with self.locked(first) as one, self.locked(second) as two:
            held_old, held_new = (one, two) if one.install == old else (two, one)
            record, existing = held_old.record, held_new.record
            if record is None:
                raise NotConnected(old)
            if existing is None:
                existing = self.store.put(
                    dataclasses.replace(record, install=new, version=0), expected_version=None
                )
            elif existing.grant_id is None or existing.grant_id != record.grant_id:
                raise ConfigurationError(
                    f"install {new!r} already exists with its own connection: choose another name, "
                    f"or disconnect {new!r} first"
                )
            # else: a move that stopped between its two steps; finish it.
            self._delete(record)
            self._set(new, existing)
        logger.info("install %r: moved to %r", old, new)
        return existing

    def _delete(self, record: InstallRecord) -> None:
        install = record.install
        expected = record.version
        for _ in range(_WRITE_ATTEMPTS):
            try:
                self.store.delete(install, expected_version=expected)
            except VersionConflict:
                latest = self.store.get(install)
                if latest is None:
                    break
                if latest.grant_id != record.grant_id:
                    # Only possible when this lock's lease was lost: a reconnect won. Keep it.
                    raise VersionConflict(
                        f"install {install!r} was connected again while it was being disconnected: "
                        "the old connection was revoked and the new one kept; disconnect again to "
                        "remove it"
                    ) from None
                expected = latest.version
                continue
            break
        self._drop(install)

    def _write_refreshed(self, held: LockedInstall, token: Token) -> InstallRecord:
        read = held.record
        install = held.install
        assert read is not None
        assert read.token is not None
        now = self.clock()
        current: InstallRecord | None = read
        for _ in range(_WRITE_ATTEMPTS):
            if current is None or current.grant_id != read.grant_id:
                self._revoke_quietly(install, token, "a refresh of a connection replaced meanwhile")
                if current is None:
                    raise NotConnected(install)
                self._set(install, current)
                return current
            stored_token = current.token
            if stored_token is None or stored_token.refresh_token != read.token.refresh_token:
                # Another worker stored a newer pair of this grant (this lock's lease was lost):
                # the newer one wins, and ours is not revoked, as that could end the grant.
                logger.warning("install %r: a newer token was stored meanwhile; keeping it", install)
                self._set(install, current)
                return current
            updated = dataclasses.replace(
                self._stamped(current),
                token=token,
                state="connected",
                reason=None,
                state_changed_at=now if current.state != "connected" else current.state_changed_at,
                last_refresh_at=now,
                # The token just spent (or its successor) lives on from now: a new lapse time,
                # so the once-per-refresh-token warnings start over.
                refresh_token_issued_at=now
                if token.refresh_token != stored_token.refresh_token
                else current.refresh_token_issued_at,
                refresh_token_used_at=now,
                overdue_warned_at=None,
                expiring_warned_at=None,
            )
            try:
                stored = self.store.put(updated, expected_version=current.version)
            except VersionConflict:
                current = self.store.get(install)
                continue
            self._set(install, stored)
            self._emit("refreshed", stored, install, duration=held.elapsed())
            return stored
        raise VersionConflict(f"install {install!r}: the record kept changing while a refresh was written")

    def _mark_reauthorization(self, held: LockedInstall, reason: str, error: str | None) -> NoReturn:
        read = held.record
        assert read is not None
        marked = dataclasses.replace(
            self._stamped(read),
            state="reauthorization_required",
            reason=reason,
            state_changed_at=self.clock(),
        )
        # On a conflict a newer record (perhaps a fresh connection) won; do not overwrite it.
        try:
            self.store.put(marked, expected_version=read.version)
        except VersionConflict:
            pass
        else:
            self._emit(
                "reauthorization_required",
                marked,
                held.install,
                reason=reason,
                error=error,
                duration=held.elapsed(),
            )
        self._drop(held.install)
        raise ReauthorizationRequired(held.install, reason)

    def health(self, record: InstallRecord) -> Health:
        """The record's current problem, if any (pure: no I/O); a record made in another store
        (``foreign``) is a ``site_mismatch`` before anything else."""
        return health(record, self.refresh_token_lifetime, self.clock(), self.location)

    def observe(self, install: str, record: InstallRecord | None = None) -> InstallRecord | None:
        """Look at an install and tell ``refresh_overdue`` / ``refresh_token_expiring`` when they
        come due, each once per refresh token (the record remembers it was told).

        ``record`` is a copy just read (e.g. by ``status``), to spare a read. Nothing is
        written, and no lock taken, unless a warning is due. Returns the current record.
        """
        record = self.store.get(install) if record is None else record
        if (
            record is None
            or self.foreign(record)  # a copy's warnings are the original's to tell
            or not warnings_due(record, self.refresh_token_lifetime, self.clock())
        ):
            return record
        with self.locked(install) as held:
            current = held.record
            if current is None:
                return None
            now = self.clock()
            due = warnings_due(current, self.refresh_token_lifetime, now)
            if not due:
                return current  # another worker told them meanwhile
            marked = dataclasses.replace(
                current,
                overdue_warned_at=now if "refresh_overdue" in due else current.overdue_warned_at,
                expiring_warned_at=now if "refresh_token_expiring" in due else current.expiring_warned_at,
            )
            try:
                stored = self.store.put(marked, expected_version=current.version)
            except VersionConflict:
                return self.store.get(install)  # changed under us (a lost lease): look next time
            self._set(install, stored)
            # Told under the lock, as a refresh's event is: a transition that follows is told after.
            lapses_at = refresh_token_lapses_at(stored, self.refresh_token_lifetime)
            for kind in due:
                self._emit(kind, stored, install, reason=PROBLEM_TEXT[kind], lapses_at=lapses_at)
        return stored

    # -- helpers -------------------------------------------------------------------------------

    def _emit(
        self,
        kind: EventKind,
        record: InstallRecord | None,
        install: str,
        *,
        reason: str | None = None,
        error: str | None = None,
        transient: bool | None = None,
        duration: float | None = None,
        lapses_at: float | None = None,
        next_attempt_at: float | None = None,
        attempts: int | None = None,
    ) -> None:
        if not self.events:
            return  # the hot path pays nothing without subscribers
        self.events.emit(
            LifecycleEvent(
                kind=kind,
                install=install,
                at=self.clock(),
                account_id=record.account_id if record else None,
                grant_id=record.grant_id if record else None,
                reason=reason,
                error=error,
                transient=transient,
                duration=duration,
                lapses_at=lapses_at,
                next_attempt_at=next_attempt_at,
                attempts=attempts,
            )
        )

    def _revoke_quietly(self, install: str, token: Token, what: str) -> None:
        if self.revoke is None:
            return
        try:
            self.revoke(token)
        except (ProviderError, NetworkError) as exc:
            logger.warning("install %r: could not revoke %s: %s", install, what, exc)
        else:
            logger.info("install %r: revoked %s", install, what)

    def _bump(self, install: str, *, drop: bool = True) -> int:
        """A new cache generation for ``install`` (dropping its entry unless ``drop`` is False)."""
        with self._guard:
            generation = self._generations.get(install, 0) + 1
            self._generations[install] = generation
            if drop:
                self._cache.pop(install, None)
            return generation

    def _drop(self, install: str) -> None:
        self._bump(install)

    def _fill(self, install: str, generation: int, token: Token, read_at: float, read_mono: float) -> None:
        if self.cache_ttl <= 0:
            return
        with self._guard:
            if self._generations.get(install) == generation:
                self._cache[install] = (token, read_at, read_mono)

    def _set(self, install: str, record: InstallRecord) -> None:
        """After a transition: the cache holds what this process just wrote (or found)."""
        generation = self._bump(install)
        if record.state == "connected" and record.token is not None:
            self._fill(install, generation, record.token, self.clock(), time.monotonic())


__all__ = ["InstallRecords", "LockedInstall", "Revoke", "new_grant_id"]
