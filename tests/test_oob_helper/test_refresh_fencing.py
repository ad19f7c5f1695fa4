"""Fencing through the real refresh path, on every backend (issue 15; the fix is issue 9's).

A refresh whose lock was lost (its lease ran out while it stalled) or whose grant was replaced
while its request was in flight must never overwrite the newer record: the real coordinator and
record owner over each real store, with a scripted token endpoint (test_refresh.Provider) that
lets the test act at the moment the provider answers.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import BACKENDS, Backend, make_backend
from test_refresh import T0, Clock, Provider, connect

from oob_helper.refresh import RefreshCoordinator
from oob_helper.stores.base import TokenStore
from oob_helper.tokens import Token

INSTALL = "site.example"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenStore]:
    backend: Backend = make_backend(request.param, tmp_path, request)
    yield backend.open()
    backend.close_all()


def test_a_stalled_refresh_never_overwrites_a_newer_pair_of_its_grant(store: TokenStore) -> None:
    clock = Clock()
    provider = Provider(clock)
    connect(store, T0 - 1)
    other = store  # another worker, whose refresh landed while ours stalled past its lease

    def refresh_elsewhere() -> None:
        provider.before_answer = None
        record = other.get(INSTALL)
        assert record is not None
        assert record.token is not None
        newer = dataclasses.replace(record.token, access_token="a-newer", refresh_token="r-newer")
        other.put(dataclasses.replace(record, token=newer), expected_version=record.version)

    provider.before_answer = refresh_elsewhere
    token = RefreshCoordinator(store, provider, clock=clock, jitter=0.0).valid_token(INSTALL)
    stored = store.get(INSTALL)
    assert stored is not None
    assert stored.token is not None
    assert (stored.token.access_token, stored.token.refresh_token) == ("a-newer", "r-newer")
    assert token.access_token == "a-newer"
    assert provider.revoked == []


def test_a_refresh_of_a_replaced_grant_is_revoked_and_never_stored(store: TokenStore) -> None:
    clock = Clock()
    provider = Provider(clock)
    connect(store, T0 - 1)

    def reconnect_elsewhere() -> None:
        provider.before_answer = None
        record = store.get(INSTALL)
        assert record is not None
        pair = Token(access_token="b0", expires_at=T0 + 7200, refresh_token="rb0", obtained_at=T0)
        store.put(
            dataclasses.replace(record, token=pair, grant_id="grant-b"), expected_version=record.version
        )

    provider.before_answer = reconnect_elsewhere
    RefreshCoordinator(store, provider, clock=clock, jitter=0.0).valid_token(INSTALL)
    stored = store.get(INSTALL)
    assert stored is not None
    assert stored.grant_id == "grant-b"
    assert stored.token is not None
    assert stored.token.refresh_token == "rb0"
    assert provider.revoked == ["r1"]
