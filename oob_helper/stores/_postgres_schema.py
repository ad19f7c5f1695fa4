"""The PostgreSQL store's schema and its migrations, and reading the store's URL options.

Migrations run in one transaction under a transaction-scoped advisory lock, so several workers
starting at once migrate exactly once, and nothing outlives the transaction on a server
connection (PgBouncer in transaction pooling mode hands it to someone else next).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oob_helper.errors import ConfigurationError, StoreError

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
    # claim_once: keys seen once (webhook delivery ids), purged by expiry.
    (
        "CREATE TABLE oob_once (once_key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX oob_once_by_expiry ON oob_once (expires_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
Runner: TypeAlias = Callable[[Callable[[Any], Any]], Any]  # runs work(connection) on a pooled connection
_MIGRATION_LOCK = 0x00B0_4E1F  # advisory lock key serialising migrations
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def migrate(
    run: Callable[[Callable[[Any], Any]], Any], qualify: Callable[[str], str], schema: str, shown: str
) -> None:
    """Create or bring the store's schema up to date (``run``: the store's statement runner)."""
    # Read the version first: a store already migrated (e.g. by an administrator) opens with
    # a role that may only read and write rows, without CREATE on the database or schema.
    if _version(run, qualify, shown) == SCHEMA_VERSION:
        return

    def work(conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE SCHEMA "{schema}"')  # name checked by _SCHEMA_NAME
            conn.execute(f'SET LOCAL search_path TO "{schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS oob_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)")
            row = conn.execute("SELECT value FROM oob_meta WHERE name = 'schema_version'").fetchone()
            current = 0 if row is None else int(row[0])
            _check_not_newer(current, shown)
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO oob_meta (name, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (max(current, SCHEMA_VERSION),),
            )

    run(work)


def _version(run: Runner, qualify: Callable[[str], str], shown: str) -> int:
    """The stored schema version; 0 when the store has no schema yet."""

    def work(conn: Any) -> Any:
        table = conn.execute("SELECT to_regclass(%s)", (qualify("oob_meta"),)).fetchone()
        if table is None or table[0] is None:
            return None
        return conn.execute(qualify("SELECT value FROM oob_meta WHERE name = 'schema_version'")).fetchone()

    row = run(work)
    current = 0 if row is None else int(row[0])
    _check_not_newer(current, shown)
    return current


def _check_not_newer(current: int, shown: str) -> None:
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"PostgreSQL store {shown} has schema version {current}, newer than this "
            f"oob-helper knows ({SCHEMA_VERSION}): upgrade oob-helper"
        )


def split_options(url: str, shown: str) -> tuple[str, str, int, float]:
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
