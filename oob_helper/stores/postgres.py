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
- Works behind PgBouncer in transaction pooling mode: no server-side prepared statements
  (``prepare_threshold=None``), no session state (tables are named with their schema rather
  than through ``search_path``; the migration sets it with ``SET LOCAL`` inside its
  transaction, and its advisory lock is transaction-scoped too).
- Connections are not checked before each use (that doubled the round trips of a read): a
  statement that finds its connection broken (the server or PgBouncer restarted) has the pool
  drop the broken idle connections and runs once more on a fresh one, so work resumes by itself;
  while the server is down every call raises ``StoreError`` after the pool's timeout (5 s).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, suppress
from typing import Any, TypeVar

from oob_helper.crypto import TokenCipher
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, batched, conflict, leased_lock, redact_url, with_version
from oob_helper.stores._postgres_schema import SCHEMA_VERSION, migrate, split_options
from oob_helper.tokens import InstallRecord, PendingAttempt

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

# The pool logs each failed reconnection; callers get a StoreError saying the same, so keep
# those lines out of stderr unless the application configures logging itself.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

_PAGE = 500
__all__ = ["SCHEMA_VERSION", "PostgresStore"]
_T = TypeVar("_T")
_TABLES = re.compile(r"\b(oob_(?:records|attempts|settings|locks|once|meta))\b")


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
        conninfo, self.schema, pool_max, pool_timeout = split_options(url, self.url)
        # No prepared statements: PgBouncer (transaction pooling) may run the next statement on
        # another server connection, where a statement prepared on the first one does not exist.
        kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
        if "connect_timeout" not in conninfo:
            kwargs["connect_timeout"] = 5
        self._conninfo, self._kwargs = conninfo, kwargs
        self._queries: dict[str, str] = {}
        self._location: str | None = None
        self._pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=1,
            max_size=pool_max,
            timeout=pool_timeout,
            open=False,
            name="oob-helper",
        )
        self._pool.open(wait=False)
        try:
            self._migrate()
            verify_keys(self._codec, self._raw_key_check, self._write_key_check)
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore(url={self.url!r}, schema={self.schema!r}, encrypted={self._codec.encrypted})"

    def location(self) -> str:
        """Where this store lives: the server cluster's system identifier (kept across restarts,
        failovers and pooler changes; a different server has its own), database and schema.
        Where the role may not read it, the server's address and port stand in."""
        if self._location is None:
            try:
                row = self._one("SELECT system_identifier::text FROM pg_control_system()", ())
                server = f"system:{row[0]}" if row else ""
            except StoreError:
                server = ""
            if not server:
                row = self._one("SELECT host(inet_server_addr()) || ':' || inet_server_port()", ())
                server = f"server:{row[0] if row else 'local'}"
            (database,) = self._one("SELECT current_database()", ()) or ("?",)
            self._location = f"postgresql:{server}/{database}/{self.schema}"
        return self._location

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

        def work(conn: Any) -> None:
            if expected_version is None:
                cur = conn.execute(
                    self._q(
                        "INSERT INTO oob_records (install, version, data) VALUES (%s, %s, %s) "
                        "ON CONFLICT (install) DO NOTHING"
                    ),
                    (record.install, new_version, text),
                )
            else:
                cur = conn.execute(
                    self._q(
                        "UPDATE oob_records SET version = %s, data = %s WHERE install = %s AND version = %s"
                    ),
                    (new_version, text, record.install, expected_version),
                )
            if cur.rowcount == 1:
                return
            row = conn.execute(
                self._q("SELECT version, data FROM oob_records WHERE install = %s"), (record.install,)
            ).fetchone()
            if row is not None and (int(row[0]), row[1]) == (new_version, text):
                return  # sent again after a broken connection: the first one had landed
            raise conflict(record.install, expected_version, None if row is None else int(row[0]))

        self._run(work)
        return new

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any (migrate-store)."""
        self.import_records([record])

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many records, a few hundred per transaction; returns how many."""
        count = 0
        for batch in batched(records, _PAGE):
            rows = [(r.install, r.version, self._codec.dump_record(r)) for r in batch]

            def work(conn: Any, rows: list[tuple[str, int, str]] = rows) -> None:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        self._q(
                            "INSERT INTO oob_records (install, version, data) VALUES (%s, %s, %s)"
                            " ON CONFLICT (install) DO UPDATE SET version = EXCLUDED.version,"
                            " data = EXCLUDED.data"
                        ),
                        rows,
                    )

            self._run(work)
            count += len(rows)
        return count

    def delete(self, install: str, *, expected_version: int | None = None) -> bool:
        """Forget the install and its attempts in one transaction; True if it had a record
        (see ``TokenStore``)."""

        def work(conn: Any) -> bool:
            with conn.transaction():
                row = conn.execute(
                    self._q("SELECT version FROM oob_records WHERE install = %s FOR UPDATE"), (install,)
                ).fetchone()
                if row is not None and expected_version is not None and row[0] != expected_version:
                    raise conflict(install, expected_version, row[0])
                conn.execute(self._q("DELETE FROM oob_records WHERE install = %s"), (install,))
                conn.execute(self._q("DELETE FROM oob_attempts WHERE install = %s"), (install,))
            return row is not None

        return self._run(work)

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted (byte order, as the other backends)."""
        rows = self._all('SELECT install FROM oob_records ORDER BY install COLLATE "C"', ())
        return [row[0] for row in rows]

    def iter_records(self, after: str = "") -> Iterator[InstallRecord]:
        """Every record (of an install sorting after ``after``), ordered by install, read in pages."""
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
        return self._run(
            lambda conn: int(
                conn.execute(self._q("DELETE FROM oob_attempts WHERE expires_at <= %s"), (now,)).rowcount
            )
        )

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting, or None."""
        row = self._one("SELECT value FROM oob_settings WHERE name = %s", (name,))
        return None if row is None else self._codec.load_setting(row[0])

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""

        def work(conn: Any) -> Any:
            conn.execute(
                self._q(
                    "INSERT INTO oob_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
                ),
                (name, self._codec.dump_setting(value)),
            )
            # A second statement, so a second snapshot: it sees a value a racing writer has
            # just committed (one statement's snapshot would predate it).
            return conn.execute(self._q("SELECT value FROM oob_settings WHERE name = %s"), (name,)).fetchone()

        row = self._run(work)
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

        def work(conn: Any) -> int:
            with conn.transaction():
                rows = conn.execute(self._q("SELECT name, value FROM oob_settings FOR UPDATE")).fetchall()
                updates = [(t, name) for name, value in rows if (t := self._codec.rewrap_setting(value))]
                if updates:
                    with conn.cursor() as cur:
                        cur.executemany(
                            self._q("UPDATE oob_settings SET value = %s WHERE name = %s"), updates
                        )
            return len(updates)

        return self._run(work)

    def _raw_key_check(self) -> str | None:
        row = self._one("SELECT value FROM oob_settings WHERE name = %s", (KEY_CHECK_SETTING,))
        return None if row is None else str(row[0])

    def _write_key_check(self, text: str, only_if_absent: bool) -> None:
        if only_if_absent:
            query = "INSERT INTO oob_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
        else:
            query = "UPDATE oob_settings SET value = %s WHERE name = %s"
        params = (KEY_CHECK_SETTING, text) if only_if_absent else (text, KEY_CHECK_SETTING)
        self._run(lambda conn: conn.execute(self._q(query), params))

    # -- lock ----------------------------------------------------------------------------

    def lock(
        self, install: str, *, timeout: float = 30.0, lease: float = 60.0
    ) -> AbstractContextManager[Lease]:
        """The install's refresh lock across hosts: a lease row, renewed while held, released
        only by its holder."""
        holder = uuid.uuid4().hex

        def try_acquire() -> bool:
            row = self._one(
                "INSERT INTO oob_locks AS l (install, holder, expires_at)"
                " VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s))"
                " ON CONFLICT (install) DO UPDATE SET holder = EXCLUDED.holder,"
                " expires_at = EXCLUDED.expires_at"
                # "or mine": a retried call whose first reply was lost must not wait out its lease
                " WHERE l.expires_at < clock_timestamp() OR l.holder = EXCLUDED.holder"
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
                    "DELETE FROM oob_locks WHERE install = %s AND holder = %s RETURNING 1",
                    (install, holder),
                )

        return leased_lock(
            install, timeout=timeout, duration=lease, try_acquire=try_acquire, renew=renew, release=release
        )

    def claim_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at`` unless it is recorded and live at ``now``."""

        def work(conn: Any) -> bool:
            with conn.transaction():
                conn.execute(self._q("DELETE FROM oob_once WHERE expires_at <= %s"), (now,))
                row = conn.execute(
                    self._q(
                        "INSERT INTO oob_once (once_key, expires_at) VALUES (%s, %s)"
                        " ON CONFLICT (once_key) DO NOTHING RETURNING once_key"
                    ),
                    (key, expires_at),
                ).fetchone()
            return row is not None

        return self._run(work)

    def release_claim(self, key: str) -> None:
        """Forget ``key``."""
        self._run(lambda conn: conn.execute(self._q("DELETE FROM oob_once WHERE once_key = %s"), (key,)))

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    # -- internals -----------------------------------------------------------------------

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._run(lambda conn: conn.execute(self._q(query), params).fetchone())
        return row

    def _all(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._run(lambda conn: conn.execute(self._q(query), params).fetchall())
        return rows

    def _q(self, query: str) -> str:
        """``query`` with its tables named in the store's schema: a session's ``search_path``
        would not follow the statement to whichever server connection PgBouncer picks."""
        qualified = self._queries.get(query)
        if qualified is None:
            qualified = self._queries[query] = _TABLES.sub(f'"{self.schema}".\\1', query)
        return qualified

    def _run(self, work: Callable[[Any], _T]) -> _T:
        """``work(conn)`` on a pooled connection; once more on a fresh one if that was broken.

        A broken connection is one the server or PgBouncer closed while it sat in the pool (a
        restart): the statement never ran. The pool then drops its other broken idle
        connections, so one retry is enough.
        """
        for attempt in (1, 2):
            conn: Any = None
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except PoolTimeout:
                raise StoreError(
                    f"PostgreSQL store {self.url} is unreachable ({self._diagnose()}); "
                    "check that the server is running and reachable and the URL's user and database"
                ) from None
            except psycopg.Error as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    self._pool.check()
                    continue
                raise StoreError(
                    f"PostgreSQL store {self.url} failed ({type(exc).__name__}): {_first_line(exc)}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _diagnose(self) -> str:
        """Why no pooled connection came: one direct attempt says (refused, auth, no database)."""
        try:
            psycopg.connect(self._conninfo, **self._kwargs).close()
        except psycopg.Error as exc:
            return _first_line(exc)
        return "no connection within the pool timeout"

    def _migrate(self) -> None:
        migrate(self._run, self._q, self.schema, self.url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
