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
from oob_helper.stores.base import BulkTokenStore, OnceStore, TokenStore

__all__ = [
    "ACCEPTED_FORMS",
    "BulkTokenStore",
    "OnceStore",
    "TokenStore",
    "check_store_url",
    "default_store_url",
    "open_store",
    "reencrypt",
]

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


def check_store_url(url: str, source: str = "OOB_HELPER_STORE") -> tuple[str, str]:
    """The URL's scheme and what follows ``://``, or the one ConfigurationError for a bad URL.

    ``source`` names where the URL came from (``--store``, the config file) in the message.
    Nothing is opened or imported: the settings check URLs with it before any store exists.
    """
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        head = url.split(":", 1)[0].lower() if ":" in url else ""
        if head == "sqlite":
            raise _bad(url, "a SQLite URL is sqlite:/// followed by the file's path", source)
        if head in _SCHEMES:
            raise _bad(url, f"it must start with {head}://", source)
        raise _bad(url, "it has no scheme", source)
    if scheme == "memory" and rest:
        raise _bad(url, "memory:// takes nothing after the scheme", source)
    if scheme == "sqlite":
        if not rest.startswith("/") or len(rest) < 2:
            raise _bad(url, "a SQLite URL is sqlite:/// followed by the file's path", source)
        if "?" in rest or "#" in rest:
            raise _bad(url, "SQLite URLs take no parameters", source)
    elif scheme in ("redis", "rediss", "unix", "postgresql", "postgres"):
        try:
            parts = urlsplit(url)
            _ = parts.port
        except ValueError:
            why = "its host or port cannot be read: a port is a number up to 65535, IPv6 hosts go in []"
            raise _bad(url, why, source) from None
    elif scheme in _REDIS_MULTI_HOST:
        from oob_helper.stores.redis_conn import parse_redis_url  # noqa: PLC0415 - stdlib only

        parse_redis_url(url, source)  # several hosts: checked whole, with its own reasons
    elif scheme != "memory":
        raise _bad(url, f"the scheme {scheme!r} is not supported", source)
    return scheme, rest


def open_store(url: str | None = None, *, encryption_keys: Sequence[str] | None = None) -> TokenStore:
    """Open the store named by ``url`` (None: the default SQLite file).

    ``encryption_keys``: Fernet keys, the first encrypting; None reads
    ``OOB_HELPER_ENCRYPTION_KEYS``; an empty sequence means no encryption.
    Raises ConfigurationError for an unknown or malformed URL, or a SQLite file whose directory
    does not exist (only the default location's directories are created), StoreError if it
    cannot be opened.
    """
    default = url is None or not url.strip()
    url = default_store_url() if url is None or not url.strip() else url.strip()
    scheme, rest = check_store_url(url)
    cipher = cipher_from_keys(encryption_keys)
    if scheme == "memory":
        from oob_helper.stores.memory import MemoryStore  # noqa: PLC0415

        return MemoryStore(cipher=cipher)
    if scheme == "sqlite":
        from oob_helper.stores.sqlite import SQLiteStore  # noqa: PLC0415

        path = rest[1:]
        if path.startswith("/"):
            path = "/" + path.lstrip("/")  # POSIX keeps a leading "//"; one is meant
        if not default:
            _check_directory(url, path)
        return SQLiteStore(path, cipher=cipher)
    if scheme in ("redis", "rediss", "unix", *_REDIS_MULTI_HOST):
        from oob_helper.stores.redis import RedisStore  # noqa: PLC0415

        return RedisStore(url, cipher=cipher)
    from oob_helper.stores.postgres import PostgresStore  # noqa: PLC0415

    return PostgresStore(url, cipher=cipher)


def _check_directory(url: str, path: str) -> None:
    """Refuse a path whose directory is missing, naming it."""
    # A typo in an explicit path must not silently create directories (as root, anywhere).
    directory = Path(path).expanduser().absolute().parent
    if not directory.is_dir():
        relative = (
            ""
            if Path(path).is_absolute()
            else (
                f"; sqlite:/// starts a relative path, an absolute one takes four slashes: sqlite:////{path}"
            )
        )
        raise ConfigurationError(
            f"the SQLite store's directory {directory} does not exist ({url}): create it "
            f"(mkdir -p {directory}), or fix the store URL (OOB_HELPER_STORE or --store){relative}"
        )


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


_SCHEMES = ("memory", "sqlite", "redis", "rediss", "unix", "postgresql", "postgres", *_REDIS_MULTI_HOST)


def _bad(url: str, why: str, source: str = "OOB_HELPER_STORE") -> ConfigurationError:
    from oob_helper.stores._common import redact_url  # noqa: PLC0415

    return ConfigurationError(
        f"{source}: {redact_url(url)!r} is not a store URL ({why}); use one of: {ACCEPTED_FORMS}"
    )
