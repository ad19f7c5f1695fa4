"""``oob-helper migrate-store``: copy every install record between two token stores.

Records are copied with their version (``import_record`` where the backend has it), then read
back and compared, so a migration either reports success with identical records or says which
install differs. A migration is a deliberate move, so each copied record is stamped with the
target's ``location()``, so the clone guard lets the target refresh it. The web helper's
signing key goes along, so signed links stay valid.
Stop the workers that refresh tokens while migrating: a refresh during the copy would be lost.
Both stores are opened with ``OOB_HELPER_ENCRYPTION_KEYS``: records are read with them and
written encrypted with the first (plain records in the source are read as they are).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TextIO

from oob_helper.errors import ConfigurationError, StoreError, VersionConflict
from oob_helper.progress import Progress
from oob_helper.stores._common import all_records
from oob_helper.tokens import InstallRecord

# Store-wide settings worth carrying over (the web helper's generated signing key).
COPIED_SETTINGS = ("web_secret_key",)


def _write(target: Any, record: InstallRecord) -> None:
    import_record = getattr(target, "import_record", None)
    if import_record is not None:
        import_record(record)
        return
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
    copied: list[InstallRecord] = []
    here = _location(target)
    try:
        for found in all_records(source):
            record = found if here is None else dataclasses.replace(found, store_location=here)
            _write(target, record)
            copied.append(record)
            progress.advance("copied")
    finally:
        progress.close()
    for name in COPIED_SETTINGS:
        value = source.get_setting(name)
        if value is not None and target.set_setting_if_absent(name, value) != value:
            progress.message(f"note: the target already had its own {name}; it was kept")
    for record in copied:
        stored = target.get(record.install)
        if stored is None or stored.to_dict() != record.to_dict():
            raise StoreError(
                f"install {record.install!r} differs in the target store after copying: "
                "check the target, then run migrate-store again"
            )
    return len(copied)


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
