"""A PostgreSQL store (psycopg 3 with a psycopg_pool connection pool) for many hosts.

URL: ``postgresql://user[:password]@host[:port]/dbname[?schema=NAME&pool_max=10]``; other
query parameters go to libpq (``sslmode``, ``connect_timeout``...). ``schema`` (default
``public``) lets one database hold several stores; it is created when missing.

- The schema is created and migrated by the helper on open: ``oob_meta`` holds its version, and
  migrations run in one transaction under a transaction-scoped advisory lock, so several
  workers starting at once migrate exactly once.
- Writes are single statements or one transaction; compare-and-set is
  ``UPDATE ... WHERE version = %s``; attempts are taken with ``DELETE ... RETURNING``.
- The refresh lock is a lease row ``(install, holder, expires_at)`` in ``oob_locks``, taken with
  ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < clock_timestamp()`` and released with a
  holder-checked ``DELETE``. Chosen over ``pg_advisory_lock`` because an advisory lock ties up a
  pooled connection for the whole refresh (an HTTP round trip) and is freed only when the server
  notices the dead session, whereas a lease needs no connection while held and expires on the
  database's own clock, the same for every host. A holder whose lease ran out cannot overwrite
  a newer record: its write is a compare-and-set on the version it read (fencing).
- Connections are checked before use, so after a server restart work resumes by itself; while
  the server is down every call raises ``StoreError`` after the pool's timeout (default 5 s).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oob_helper.crypto import TokenCipher
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, batched, conflict, leased_lock, redact_url, with_version
from oob_helper.tokens import InstallRecord, PendingAttempt

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

# The pool logs each failed reconnection; callers get a StoreError saying the same, so keep
# those lines out of stderr unless the application configures logging itself.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

# Migration N (1-based) takes the schema from version N-1 to N. Append only.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE oob_records (install TEXT PRIMARY KEY, version BIGINT NOT NULL, data TEXT NOT NULL)",
        "CREATE TABLE oob_attempts (attempt_key TEXT PRIMARY KEY, install TEXT NOT NULL,"
        " expires_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL)",
        "CREATE INDEX oob_attempts_by_expiry ON oob_attempts (expires_at)",
        "CREATE INDEX oob_attempts_by_install ON oob_attempts (install)",
        "CREATE TABLE oob_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE oob_locks (install TEXT PRIMARY KEY, holder TEXT NOT NULL,"
        " expires_at TIMESTAMPTZ NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = 0x00B0_4E1F  # advisory lock key serialising migrations
_PAGE = 500
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresStore:
    """A TokenStore in PostgreSQL (see the module docstring for the design)."""

    def __init__(self, url: str, *, cipher: TokenCipher | None = None) -> None:
        if psycopg is None:
            raise ConfigurationError(
                "OOB_HELPER_STORE names a PostgreSQL store but psycopg is missing: "
                "pip install 'oob-helper[postgres]'"
            )
        self.url = redact_url(url)
        self._codec = Codec(cipher)
        conninfo, self.schema, pool_max, pool_timeout = _split_options(url, self.url)
        kwargs: dict[str, Any] = {"autocommit": True, "options": f"-c search_path={self.schema}"}
        if "connect_timeout" not in conninfo:
            kwargs["connect_timeout"] = 5
        self._conninfo, self._kwargs = conninfo, kwargs
        self._pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=1,
            max_size=pool_max,
            timeout=pool_timeout,
            check=ConnectionPool.check_connection,
            open=False,
            name="oob-helper",
        )
        with self._errors():
            self._pool.open(wait=False)
        try:
            self._migrate()
            verify_keys(self._codec, self._raw_key_check, self._write_key_check)
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore(url={self.url!r}, schema={self.schema!r}, encrypted={self._codec.encrypted})"

    def describe(self) -> dict[str, Any]:
        """What the store is, for ``status``: backend name, whether tokens are encrypted, where."""
        return {"backend": "postgresql", "encrypted": self._codec.encrypted, "location": self.url}

    # -- records -------------------------------------------------------------------------

    def get(self, install: str) -> InstallRecord | None:
        """The install's record, or None."""
        row = self._one("SELECT version, data FROM oob_records WHERE install = %s", (install,))
        return None if row is None else self._codec.load_record(row[1], int(row[0]))

    def put(self, record: InstallRecord, *, expected_version: int | None) -> InstallRecord:
        """Compare-and-set write in one statement; raises VersionConflict on a lost race."""
        new_version = 1 if expected_version is None else expected_version + 1
        new = with_version(record, new_version)
        text = self._codec.dump_record(new)
        with self._errors(), self._pool.connection() as conn:
            if expected_version is None:
                cur = conn.execute(
                    "INSERT INTO oob_records (install, version, data) VALUES (%s, %s, %s) "
                    "ON CONFLICT (install) DO NOTHING",
                    (record.install, new_version, text),
                )
            else:
                cur = conn.execute(
                    "UPDATE oob_records SET version = %s, data = %s WHERE install = %s AND version = %s",
                    (new_version, text, record.install, expected_version),
                )
            if cur.rowcount != 1:
                row = conn.execute(
                    "SELECT version FROM oob_records WHERE install = %s", (record.install,)
                ).fetchone()
                raise conflict(record.install, expected_version, None if row is None else int(row[0]))
        return new

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any (migrate-store)."""
        self.import_records([record])

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many records, a few hundred per transaction; returns how many."""
        count = 0
        for batch in batched(records, _PAGE):
            rows = [(r.install, r.version, self._codec.dump_record(r)) for r in batch]
            with self._errors(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO oob_records (install, version, data) VALUES (%s, %s, %s)"
                    " ON CONFLICT (install) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data",
                    rows,
                )
            count += len(rows)
        return count

    def delete(self, install: str) -> bool:
        """Forget the install and its attempts in one transaction; True if it had a record."""
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            existed: bool = (
                conn.execute("DELETE FROM oob_records WHERE install = %s", (install,)).rowcount > 0
            )
            conn.execute("DELETE FROM oob_attempts WHERE install = %s", (install,))
        return existed

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted (byte order, as the other backends)."""
        rows = self._all('SELECT install FROM oob_records ORDER BY install COLLATE "C"', ())
        return [row[0] for row in rows]

    def iter_records(self) -> Iterator[InstallRecord]:
        """Every record, ordered by install, read in pages."""
        after = ""
        while True:
            rows = self._all(
                'SELECT install, version, data FROM oob_records WHERE install COLLATE "C" > %s'
                ' ORDER BY install COLLATE "C" LIMIT %s',
                (after, _PAGE),
            )
            for _install, version, data in rows:
                yield self._codec.load_record(data, int(version))
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    # -- attempts ------------------------------------------------------------------------

    def save_attempt(self, attempt: PendingAttempt) -> None:
        """Keep a pending attempt until it expires or is taken."""
        self._one(
            "INSERT INTO oob_attempts (attempt_key, install, expires_at, data) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (attempt_key) DO UPDATE SET install = EXCLUDED.install,"
            " expires_at = EXCLUDED.expires_at, data = EXCLUDED.data RETURNING 1",
            (
                attempt_key(attempt.attempt_id),
                attempt.install,
                attempt.expires_at,
                self._codec.dump_attempt(attempt),
            ),
        )

    def take_attempt(self, attempt_id: str) -> PendingAttempt | None:
        """Remove and return the attempt in one statement (single use); None if unknown or taken."""
        row = self._one(
            "DELETE FROM oob_attempts WHERE attempt_key = %s RETURNING data", (attempt_key(attempt_id),)
        )
        return None if row is None else self._codec.load_attempt(row[0])

    def purge_attempts(self, now: float) -> int:
        """Drop attempts that expired before ``now``; returns how many."""
        with self._errors(), self._pool.connection() as conn:
            count: int = conn.execute("DELETE FROM oob_attempts WHERE expires_at <= %s", (now,)).rowcount
        return count

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting, or None."""
        row = self._one("SELECT value FROM oob_settings WHERE name = %s", (name,))
        return None if row is None else self._codec.load_setting(row[0])

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""
        with self._errors(), self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO oob_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, self._codec.dump_setting(value)),
            )
            row = conn.execute("SELECT value FROM oob_settings WHERE name = %s", (name,)).fetchone()
        if row is None:  # deleted between the statements by hand: say so rather than guess
            raise StoreError(f"setting {name!r} vanished while it was being set; try again")
        return self._codec.load_setting(row[0])

    def set_setting(self, name: str, value: str) -> None:
        """Store ``value``, replacing any."""
        self._one(
            "INSERT INTO oob_settings (name, value) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value RETURNING 1",
            (name, self._codec.dump_setting(value)),
        )

    def rewrap_settings(self) -> int:
        """Re-encrypt every setting with the current key; returns how many changed."""
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            rows = conn.execute("SELECT name, value FROM oob_settings FOR UPDATE").fetchall()
            updates = [(text, name) for name, value in rows if (text := self._codec.rewrap_setting(value))]
            if updates:
                with conn.cursor() as cur:
                    cur.executemany("UPDATE oob_settings SET value = %s WHERE name = %s", updates)
        return len(updates)

    def _raw_key_check(self) -> str | None:
        row = self._one("SELECT value FROM oob_settings WHERE name = %s", (KEY_CHECK_SETTING,))
        return None if row is None else str(row[0])

    def _write_key_check(self, text: str, only_if_absent: bool) -> None:
        if only_if_absent:
            query = "INSERT INTO oob_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
        else:
            query = "UPDATE oob_settings SET value = %s WHERE name = %s"
        params = (KEY_CHECK_SETTING, text) if only_if_absent else (text, KEY_CHECK_SETTING)
        with self._errors(), self._pool.connection() as conn:
            conn.execute(query, params)

    # -- lock ----------------------------------------------------------------------------

    def lock(
        self, install: str, *, timeout: float = 30.0, lease: float = 60.0
    ) -> AbstractContextManager[Lease]:
        """The install's refresh lock across hosts: a lease row, renewed while held, released
        only by its holder."""
        holder = uuid.uuid4().hex

        def try_acquire() -> bool:
            row = self._one(
                "INSERT INTO oob_locks (install, holder, expires_at)"
                " VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s))"
                " ON CONFLICT (install) DO UPDATE SET holder = EXCLUDED.holder,"
                " expires_at = EXCLUDED.expires_at"
                # "or mine": a retried call whose first reply was lost must not wait out its lease
                " WHERE oob_locks.expires_at < clock_timestamp() OR oob_locks.holder = EXCLUDED.holder"
                " RETURNING holder",
                (install, holder, float(lease)),
            )
            return row is not None

        def renew() -> bool:
            row = self._one(
                "UPDATE oob_locks SET expires_at = clock_timestamp() + make_interval(secs => %s)"
                " WHERE install = %s AND holder = %s RETURNING 1",
                (float(lease), install, holder),
            )
            return row is not None

        def release() -> None:
            # If the server is unreachable now, the lease frees the lock when it runs out.
            with suppress(StoreError):
                self._one(
                    "DELETE FROM oob_locks WHERE install = %s AND holder = %s RETURNING 1", (install, holder)
                )

        return leased_lock(
            install, timeout=timeout, duration=lease, try_acquire=try_acquire, renew=renew, release=release
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    # -- internals -----------------------------------------------------------------------

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._errors(), self._pool.connection() as conn:
            row: tuple[Any, ...] | None = conn.execute(query, params).fetchone()
        return row

    def _all(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._errors(), self._pool.connection() as conn:
            rows: list[tuple[Any, ...]] = conn.execute(query, params).fetchall()
        return rows

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except PoolTimeout:
            raise StoreError(
                f"PostgreSQL store {self.url} is unreachable ({self._diagnose()}); "
                "check that the server is running and reachable and the URL's user and database"
            ) from None
        except psycopg.Error as exc:
            raise StoreError(
                f"PostgreSQL store {self.url} failed ({type(exc).__name__}): {_first_line(exc)}"
            ) from None

    def _diagnose(self) -> str:
        """Why no pooled connection came: one direct attempt says (refused, auth, no database)."""
        try:
            psycopg.connect(self._conninfo, **self._kwargs).close()
        except psycopg.Error as exc:
            return _first_line(exc)
        return "no connection within the pool timeout"

    def _migrate(self) -> None:
        # Read the version first: a store already migrated (e.g. by an administrator) opens with
        # a role that may only read and write rows, without CREATE on the database or schema.
        if self._schema_version() == SCHEMA_VERSION:
            return
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
            if exists is None:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')  # name checked by _SCHEMA_NAME
            conn.execute("CREATE TABLE IF NOT EXISTS oob_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)")
            row = conn.execute("SELECT value FROM oob_meta WHERE name = 'schema_version'").fetchone()
            current = 0 if row is None else int(row[0])
            self._check_not_newer(current)
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO oob_meta (name, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (max(current, SCHEMA_VERSION),),
            )

    def _schema_version(self) -> int:
        """The stored schema version; 0 when the store has no schema yet."""
        with self._errors(), self._pool.connection() as conn:
            table = conn.execute("SELECT to_regclass('oob_meta')").fetchone()
            if table is None or table[0] is None:
                return 0
            row = conn.execute("SELECT value FROM oob_meta WHERE name = 'schema_version'").fetchone()
        current = 0 if row is None else int(row[0])
        self._check_not_newer(current)
        return current

    def _check_not_newer(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"PostgreSQL store {self.url} has schema version {current}, newer than this "
                f"oob-helper knows ({SCHEMA_VERSION}): upgrade oob-helper"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _split_options(url: str, shown: str) -> tuple[str, str, int, float]:
    """libpq's URL without our parameters, then schema, pool size and pool timeout."""
    parts = urlsplit(url)
    if parts.scheme == "postgres":
        parts = parts._replace(scheme="postgresql")
    schema, pool_max, pool_timeout = "public", 10, 5.0
    rest = []
    try:
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "schema":
                schema = value
            elif name == "pool_max":
                pool_max = int(value)
            elif name == "pool_timeout":
                pool_timeout = float(value)
            else:
                rest.append((name, value))
    except ValueError:
        raise ConfigurationError(
            f"OOB_HELPER_STORE={shown!r}: pool_max must be a whole number and pool_timeout seconds"
        ) from None
    if not _SCHEMA_NAME.match(schema):
        raise ConfigurationError(
            f"OOB_HELPER_STORE={shown!r}: schema must be lower-case letters, digits and underscores"
        )
    return urlunsplit(parts._replace(query=urlencode(rest))), schema, max(pool_max, 1), pool_timeout
