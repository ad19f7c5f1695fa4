"""The TokenStore interface every backend implements.

Records are keyed by install. Writes are compare-and-set on ``InstallRecord.version``: a write
succeeds only if the stored version equals ``expected_version`` (None = must not exist yet), and
the stored copy gets ``expected_version + 1`` (1 for a new record). A crash at any moment leaves
the old record or the new one, never a mix or nothing.

The refresh lock is cross-process (for SQLite: on one host; Redis/PostgreSQL: across hosts)
and carries a lease: a holder that dies releases it when the lease runs out, and a live holder
keeps it renewed, so it never passes to another worker while its holder works. The lock yields a
``Lease``: a holder checks ``lease.check()`` before each request it sends to the provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from oob_helper.stores._common import Lease
from oob_helper.tokens import InstallRecord, PendingAttempt


@runtime_checkable
class TokenStore(Protocol):
    """Install records, pending attempts, settings, and a per-install refresh lock."""

    def get(self, install: str) -> InstallRecord | None:
        """The install's record, or None."""
        ...

    def put(self, record: InstallRecord, *, expected_version: int | None) -> InstallRecord:
        """Compare-and-set write; returns the stored record (new version) or raises VersionConflict."""
        ...

    def delete(self, install: str, *, expected_version: int | None = None) -> bool:
        """Forget the install (and its attempts); True if it existed.

        With ``expected_version``, only that version is deleted (compare-and-set): a different
        stored version raises VersionConflict and changes nothing.
        """
        ...

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted."""
        ...

    def save_attempt(self, attempt: PendingAttempt) -> None:
        """Keep a pending attempt until it expires or is taken."""
        ...

    def take_attempt(self, attempt_id: str) -> PendingAttempt | None:
        """Atomically remove and return the attempt (single use); None if unknown or taken.

        Expiry is the caller's decision (``PendingAttempt.is_expired``); stores may purge
        attempts older than their ``expires_at`` at any time.
        """
        ...

    def purge_attempts(self, now: float) -> int:
        """Drop attempts that expired before ``now``; returns how many."""
        ...

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting (e.g. the generated web secret key)."""
        ...

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""
        ...

    def lock(
        self, install: str, *, timeout: float = 30.0, lease: float = 60.0
    ) -> AbstractContextManager[Lease]:
        """The install's refresh lock, across processes; raises StoreError after ``timeout``.

        While held, the lease is renewed in the background (see ``Lease``).
        """
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...


@runtime_checkable
class OnceStore(Protocol):
    """A "seen once" set with expiry, e.g. for webhook delivery ids (every built-in backend).

    Separate from ``TokenStore`` so that stores written before it still pass as token stores.
    """

    def claim_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; True if this call did, False if it was recorded
        already and has not expired by ``now``. Atomic across the store's processes."""
        ...

    def release_claim(self, key: str) -> None:
        """Forget ``key`` (a claim whose work failed, so that a retry may claim it again)."""
        ...


@runtime_checkable
class BulkTokenStore(TokenStore, Protocol):
    """What every built-in backend offers beyond ``TokenStore`` (migrate-store, status, rotation)."""

    def describe(self) -> dict[str, Any]:
        """``{"backend": "sqlite"|"memory"|"redis"|"postgresql", "encrypted": bool, "location": str}``
        (the location never shows a password)."""
        ...

    def iter_records(self, after: str = "") -> Iterator[InstallRecord]:
        """Every record, ordered by install (byte order), read in pages; with ``after``, only
        those of installs sorting after it (keyset paging)."""
        ...

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any."""
        ...

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many, a few hundred per transaction; returns how many."""
        ...

    def set_setting(self, name: str, value: str) -> None:
        """Store a setting, replacing any."""
        ...

    def rewrap_settings(self) -> int:
        """Re-encrypt every setting with the first key; returns how many changed."""
        ...
