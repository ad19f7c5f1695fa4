"""Token stores, chosen by URL (the ``OOB_HELPER_STORE`` setting).

- ``memory://``: in this process only (tests, embedding);
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: the embedded default;
- ``redis://[:password@]host[:port][/db][?prefix=oob-helper:]`` (and ``rediss://``): many hosts;
  ``redis+cluster://host:port,...`` for a Redis Cluster, ``redis+sentinel://host:port,.../MASTER``
  for a primary found through Sentinel (see ``oob_helper.stores.redis_conn``);
- ``postgresql://user[:password]@host[:port]/dbname[?schema=NAME]`` (or ``postgres://``): many
  hosts, with a connection pool;
- None: a SQLite file in the user's data directory.

Encryption at rest: see ``oob_helper.crypto``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from oob_helper.crypto import cipher_from_keys
from oob_helper.errors import ConfigurationError, VersionConflict
from oob_helper.stores.base import BulkTokenStore, TokenStore

__all__ = ["ACCEPTED_FORMS", "BulkTokenStore", "TokenStore", "default_store_url", "open_store", "reencrypt"]

ACCEPTED_FORMS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "redis://host:port/db, redis+cluster://host:port,host:port, "
    "redis+sentinel://host:port,host:port/MASTER, postgresql://user@host:port/dbname"
)

# Schemes whose netloc lists several hosts (``redis_conn`` parses and checks them).
_REDIS_MULTI_HOST = ("redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")


def default_store_url() -> str:
    """The store used when none is configured: ``tokens.db`` in the user's data directory."""
    import platformdirs  # noqa: PLC0415 - only needed for the default

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("oob-helper")) / "tokens.db")


def open_store(url: str | None = None, *, encryption_keys: Sequence[str] | None = None) -> TokenStore:
    """Open the store named by ``url`` (None: the default SQLite file).

    ``encryption_keys``: Fernet keys, the first encrypting; None reads
    ``OOB_HELPER_ENCRYPTION_KEYS``; an empty sequence means no encryption.
    Raises ConfigurationError for an unknown or malformed URL, StoreError if it cannot be opened.
    """
    if url is None or not url.strip():
        url = default_store_url()
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _bad(url, "it has no scheme")
    cipher = cipher_from_keys(encryption_keys)
    if scheme == "memory":
        if rest:
            raise _bad(url, "memory:// takes nothing after the scheme")
        from oob_helper.stores.memory import MemoryStore  # noqa: PLC0415

        return MemoryStore(cipher=cipher)
    if scheme == "sqlite":
        if not rest.startswith("/") or len(rest) < 2:
            raise _bad(url, "a SQLite URL is sqlite:/// followed by the file's path")
        if "?" in rest or "#" in rest:
            raise _bad(url, "SQLite URLs take no parameters")
        from oob_helper.stores.sqlite import SQLiteStore  # noqa: PLC0415

        path = rest[1:]
        if path.startswith("/"):
            path = "/" + path.lstrip("/")  # POSIX keeps a leading "//"; one is meant
        return SQLiteStore(path, cipher=cipher)
    if scheme in ("redis", "rediss", "unix", *_REDIS_MULTI_HOST):
        if scheme not in _REDIS_MULTI_HOST:
            _check_netloc(url)
        from oob_helper.stores.redis import RedisStore  # noqa: PLC0415

        return RedisStore(url, cipher=cipher)
    if scheme in ("postgresql", "postgres"):
        _check_netloc(url)
        from oob_helper.stores.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(url, cipher=cipher)
    raise _bad(url, f"the scheme {scheme!r} is not supported")


def reencrypt(store: TokenStore) -> int:
    """Rewrite every record and setting sealed with the store's first key (key rotation, step 3).

    Each record is rewritten by compare-and-set after a fresh read, so a refresh running at the
    same time is never lost (on a conflict the record is read again). Returns how many records
    were rewritten.
    """
    count = 0
    for install in store.list_installs():
        while (record := store.get(install)) is not None:
            try:
                store.put(record, expected_version=record.version)
            except VersionConflict:
                continue
            count += 1
            break
    rewrap = getattr(store, "rewrap_settings", None)
    if rewrap is not None:
        rewrap()
    return count


def _check_netloc(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise _bad(url, str(exc)) from None


def _bad(url: str, why: str) -> ConfigurationError:
    from oob_helper.stores._common import redact_url  # noqa: PLC0415

    return ConfigurationError(
        f"OOB_HELPER_STORE={redact_url(url)!r} is not a store URL ({why}); use one of: {ACCEPTED_FORMS}"
    )
