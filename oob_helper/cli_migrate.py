"""``oob-helper migrate-store``: copy every install record between two token stores.

Records are copied with their version (``import_records``, a page per transaction), then read
back in pages and compared, so a migration either reports success with identical records or
says which install differs. A migration is a deliberate move, so each copied record is stamped with the
target's ``location()``, so the clone guard lets the target refresh it. The web helper's
signing key goes along, so signed links stay valid.
Stop the workers that refresh tokens while migrating: a refresh during the copy would be lost.
Both stores are opened with ``OOB_HELPER_ENCRYPTION_KEYS``: records are read with them and
written encrypted with the first (plain records in the source are read as they are).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from oob_helper.errors import ConfigurationError, StoreError, VersionConflict
from oob_helper.progress import Progress
from oob_helper.stores._common import all_records, batched
from oob_helper.tokens import InstallRecord

# Store-wide settings worth carrying over (the web helper's generated signing key).
COPIED_SETTINGS = ("web_secret_key",)
# Records per write and per progress step: the backends' own page size.
_PAGE = 500


def _writer(target: Any) -> Callable[[list[InstallRecord]], object]:
    """The target's batch import (one transaction or MULTI per page), else record by record."""
    import_records = getattr(target, "import_records", None)
    if import_records is not None:
        return import_records  # type: ignore[no-any-return]
    import_record = getattr(target, "import_record", None)
    if import_record is not None:
        return lambda batch: [import_record(record) for record in batch]
    raise ConfigurationError(
        f"the target store ({type(target).__name__}) cannot import records with their versions: "
        "choose a backend that supports migrate-store (sqlite, redis, postgresql)"
    )


def migrate_store(source_url: str, target_url: str, *, progress_stream: TextIO) -> tuple[int, str | None]:
    """Copy every record from ``source_url`` to ``target_url``; returns how many were copied
    and the target location they were stamped with (None: the target has no ``location()``).

    The same URL twice rewrites every record in place, sealed with the first encryption key
    (step 3 of a key rotation).
    """
    from oob_helper.stores import open_store  # noqa: PLC0415

    if source_url.strip() == target_url.strip():
        store = open_store(source_url)
        try:
            return rewrite_in_place(store), None
        finally:
            store.close()
    source = open_store(source_url)
    try:
        target = open_store(target_url)
        try:
            return _copy(source, target, progress_stream), _location(target)
        finally:
            target.close()
    finally:
        source.close()


def _location(store: Any) -> str | None:
    where = getattr(store, "location", None)
    return None if where is None else str(where())


def _copy(source: Any, target: Any, stream: TextIO) -> int:
    installs = source.list_installs()
    progress = Progress(len(installs), stream, enabled=stream.isatty())
    write = _writer(target)
    # What each install must read back as: its record, stamped with the target's location.
    expected: dict[str, InstallRecord] = {}
    here = _location(target)
    try:
        # A page at a time: one transaction (or MULTI) per page, not per record, so 10,000
        # installs cost tens of round trips and fsyncs instead of 10,000.
        for page in batched(all_records(source), _PAGE):
            stamped = [r if here is None else dataclasses.replace(r, store_location=here) for r in page]
            write(stamped)
            for record in stamped:
                expected[record.install] = record
                progress.advance("copied")
    finally:
        progress.close()
    for name in COPIED_SETTINGS:
        value = source.get_setting(name)
        if value is not None and target.set_setting_if_absent(name, value) != value:
            progress.message(f"note: the target already had its own {name}; it was kept")
    # Read back in pages too; a record the target lacks or holds differently is named.
    unseen = set(expected)
    for stored in all_records(target):
        want = expected.get(stored.install)
        if want is None:
            continue  # the target's own install, not part of this copy
        if stored != want:  # field by field (frozen dataclasses), token included
            _differs(stored.install)
        unseen.discard(stored.install)
    if unseen:
        _differs(min(unseen, key=lambda name: name.encode("utf-8")))
    return len(expected)


def _differs(install: str) -> NoReturn:
    raise StoreError(
        f"install {install!r} differs in the target store after copying: "
        "check the target, then run migrate-store again"
    )


def rewrite_in_place(store: Any) -> int:
    """Rewrite every record (compare-and-set after a fresh read, so no refresh is lost)."""
    from oob_helper import stores  # noqa: PLC0415

    reencrypt = getattr(stores, "reencrypt", None)
    if reencrypt is not None:
        count: int = reencrypt(store)
        return count
    count = 0
    for install in store.list_installs():
        while (record := store.get(install)) is not None:
            try:
                store.put(record, expected_version=record.version)
            except VersionConflict:
                continue  # a refresh wrote meanwhile: read it again
            count += 1
            break
    return count
