"""An in-process store for tests and embedding: thread-safe, gone when the process ends.

Its lock works across threads of one process only; the lease still applies, so a thread that
holds the lock past its lease loses it to the next waiter (writes stay fenced by version).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from oob_helper.crypto import TokenCipher
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, conflict, leased_lock, with_version
from oob_helper.tokens import InstallRecord, PendingAttempt


class MemoryStore:
    """Records, attempts and settings in dicts, stored in the same text form as other backends."""

    def __init__(self, *, cipher: TokenCipher | None = None) -> None:
        self._codec = Codec(cipher)
        self._mutex = threading.Lock()
        self._records: dict[str, tuple[int, str]] = {}
        self._attempts: dict[str, tuple[str, float, str]] = {}  # key -> (install, expires, text)
        self._settings: dict[str, str] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # install -> (holder, monotonic expiry)
        self._once: dict[str, float] = {}  # claimed key -> expires_at
        self._identity = uuid.uuid4().hex
        verify_keys(self._codec, lambda: self._settings.get(KEY_CHECK_SETTING), self._write_setting)

    def __repr__(self) -> str:
        return f"MemoryStore(installs={len(self._records)}, encrypted={self._codec.encrypted})"

    def location(self) -> str:
        """This store object itself: a memory store is never copied, only its records are."""
        return f"memory:{self._identity}"

    def describe(self) -> dict[str, Any]:
        """What the store is, for ``status``: backend name and whether tokens are encrypted."""
        return {"backend": "memory", "encrypted": self._codec.encrypted, "location": "memory://"}

    def get(self, install: str) -> InstallRecord | None:
        """The install's record, or None."""
        with self._mutex:
            stored = self._records.get(install)
        return None if stored is None else self._codec.load_record(stored[1], stored[0])

    def put(self, record: InstallRecord, *, expected_version: int | None) -> InstallRecord:
        """Compare-and-set write; returns the stored record or raises VersionConflict."""
        new_version = 1 if expected_version is None else expected_version + 1
        new = with_version(record, new_version)
        text = self._codec.dump_record(new)
        with self._mutex:
            current = self._records.get(record.install)
            found = None if current is None else current[0]
            if found != expected_version:
                raise conflict(record.install, expected_version, found)
            self._records[record.install] = (new_version, text)
        return new

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any (migrate-store)."""
        self.import_records([record])

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many records; returns how many were written."""
        texts = [(r.install, r.version, self._codec.dump_record(r)) for r in records]
        with self._mutex:
            for install, version, text in texts:
                self._records[install] = (version, text)
        return len(texts)

    def delete(self, install: str, *, expected_version: int | None = None) -> bool:
        """Forget the install and its attempts; True if it had a record (see ``TokenStore``)."""
        with self._mutex:
            current = self._records.get(install)
            if current is not None and expected_version is not None and current[0] != expected_version:
                raise conflict(install, expected_version, current[0])
            existed = self._records.pop(install, None) is not None
            for key in [k for k, v in self._attempts.items() if v[0] == install]:
                del self._attempts[key]
        return existed

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted."""
        with self._mutex:
            return sorted(self._records)

    def iter_records(self, after: str = "") -> Iterator[InstallRecord]:
        """Every record (of an install sorting after ``after``), ordered by install."""
        for install in self.list_installs():
            if install <= after:
                continue
            record = self.get(install)
            if record is not None:
                yield record

    def save_attempt(self, attempt: PendingAttempt) -> None:
        """Keep a pending attempt until it expires or is taken."""
        text = self._codec.dump_attempt(attempt)
        with self._mutex:
            self._attempts[attempt_key(attempt.attempt_id)] = (
                attempt.install,
                attempt.expires_at,
                text,
            )

    def take_attempt(self, attempt_id: str) -> PendingAttempt | None:
        """Remove and return the attempt (single use); None if unknown or taken."""
        with self._mutex:
            stored = self._attempts.pop(attempt_key(attempt_id), None)
        return None if stored is None else self._codec.load_attempt(stored[2])

    def purge_attempts(self, now: float) -> int:
        """Drop attempts that expired before ``now``; returns how many."""
        with self._mutex:
            old = [k for k, v in self._attempts.items() if v[1] <= now]
            for key in old:
                del self._attempts[key]
        return len(old)

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting, or None."""
        with self._mutex:
            text = self._settings.get(name)
        return None if text is None else self._codec.load_setting(text)

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""
        text = self._codec.dump_setting(value)
        with self._mutex:
            text = self._settings.setdefault(name, text)
        return self._codec.load_setting(text)

    def set_setting(self, name: str, value: str) -> None:
        """Store ``value``, replacing any."""
        text = self._codec.dump_setting(value)
        with self._mutex:
            self._settings[name] = text

    def rewrap_settings(self) -> int:
        """Re-encrypt every setting with the current key; returns how many changed."""
        with self._mutex:
            changed = {n: self._codec.rewrap_setting(t) for n, t in self._settings.items()}
            updates = {n: t for n, t in changed.items() if t is not None}
            self._settings.update(updates)
        return len(updates)

    def lock(
        self, install: str, *, timeout: float = 30.0, lease: float = 60.0
    ) -> AbstractContextManager[Lease]:
        """The install's refresh lock across this process's threads, with a renewed lease."""
        holder = uuid.uuid4().hex

        def try_acquire() -> bool:
            now = time.monotonic()
            with self._mutex:
                current = self._leases.get(install)
                if current is not None and current[1] > now:
                    return False
                self._leases[install] = (holder, now + lease)
                return True

        def renew() -> bool:
            with self._mutex:
                current = self._leases.get(install)
                if current is None or current[0] != holder:
                    return False
                self._leases[install] = (holder, time.monotonic() + lease)
                return True

        def release() -> None:
            with self._mutex:
                current = self._leases.get(install)
                if current is not None and current[0] == holder:
                    del self._leases[install]

        return leased_lock(
            install, timeout=timeout, duration=lease, try_acquire=try_acquire, renew=renew, release=release
        )

    def claim_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at`` unless it is recorded and live at ``now``."""
        with self._mutex:
            if self._once.get(key, now) > now:
                return False
            for old in [k for k, until in self._once.items() if until <= now]:
                del self._once[old]
            self._once[key] = expires_at
            return True

    def release_claim(self, key: str) -> None:
        """Forget ``key``."""
        with self._mutex:
            self._once.pop(key, None)

    def _write_setting(self, text: str, only_if_absent: bool) -> None:
        with self._mutex:
            if only_if_absent:
                self._settings.setdefault(KEY_CHECK_SETTING, text)
            else:
                self._settings[KEY_CHECK_SETTING] = text

    def close(self) -> None:
        """Nothing to release."""
