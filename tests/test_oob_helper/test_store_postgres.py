"""PostgreSQL-only: the schema is created once by concurrent openers, versioned, refused when
newer, and a migrated store opens with a role that may only read and write rows."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import unique, with_param
from stores.servers import postgres_url

from oob_helper.errors import StoreError
from oob_helper.stores import open_store
from oob_helper.stores.postgres import SCHEMA_VERSION, PostgresStore
from oob_helper.tokens import InstallRecord, Token


@pytest.fixture
def admin_url(request: pytest.FixtureRequest) -> str:
    return postgres_url(request.config)


def test_concurrent_openers_create_the_schema_once(admin_url: str) -> None:
    url = with_param(admin_url, "schema", unique("t_"))
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: open_store(url, encryption_keys=[]), range(6)))
    stores[0].put(InstallRecord(install="a.example"), expected_version=None)
    assert [s.list_installs() for s in stores] == [["a.example"]] * 6
    for store in stores:
        store.close()
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(admin_url) as conn:
        version = conn.execute(f'SELECT value FROM "{schema}".oob_meta').fetchone()
    assert version == (SCHEMA_VERSION,)


def test_a_newer_schema_is_refused_with_the_fix(admin_url: str) -> None:
    url = with_param(admin_url, "schema", unique("t_"))
    open_store(url, encryption_keys=[]).close()
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".oob_meta SET value = {SCHEMA_VERSION + 1}')
    with pytest.raises(StoreError, match="upgrade oob-helper"):
        open_store(url, encryption_keys=[])


def test_a_migrated_store_opens_with_a_row_only_role(admin_url: str) -> None:
    schema, role = unique("t_"), unique("app_")
    admin_store = open_store(with_param(admin_url, "schema", schema), encryption_keys=[])
    admin_store.close()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")  # no CREATE on the database (PostgreSQL's default)
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}")
    app_url = with_param(admin_url.replace("postgres@", f"{role}@", 1), "schema", schema)
    store = open_store(app_url, encryption_keys=[])
    assert isinstance(store, PostgresStore)
    token = Token(access_token="a", refresh_token="r")
    assert store.put(InstallRecord(install="a.example", token=token), expected_version=None).version == 1
    with store.lock("a.example", timeout=1):
        pass
    store.close()
    # The same role cannot create a new store: the error says so instead of a traceback.
    with pytest.raises(StoreError, match="permission denied"):
        open_store(
            with_param(admin_url.replace("postgres@", f"{role}@", 1), "schema", unique("t_")),
            encryption_keys=[],
        )
