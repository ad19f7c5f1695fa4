"""The stores' "seen once" keys (``OnceStore.claim_once``), against every backend.

Webhook receivers deduplicate delivery ids with it, so a claim must be won exactly once, by
threads and by processes, until it expires by the caller's clock or is released.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.backends import BACKENDS, CROSS_PROCESS, Backend, make_backend

from oob_helper.stores import OnceStore

NOW = 1_800_000_000.0


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = make_backend(request.param, tmp_path, request)
    yield b
    b.close_all()


def once(backend: Backend) -> Any:
    store = backend.open()
    assert isinstance(store, OnceStore)
    return store


def test_a_key_is_claimed_once_until_it_expires(backend: Backend) -> None:
    store = once(backend)
    assert store.claim_once("delivery-1", expires_at=NOW + 60, now=NOW) is True
    assert store.claim_once("delivery-1", expires_at=NOW + 60, now=NOW + 59) is False
    assert store.claim_once("delivery-2", expires_at=NOW + 60, now=NOW) is True
    # Expiry is decided by the caller's clock, not the backend's.
    assert store.claim_once("delivery-1", expires_at=NOW + 120, now=NOW + 60) is True
    assert store.claim_once("delivery-1", expires_at=NOW + 120, now=NOW + 61) is False


def test_a_released_key_can_be_claimed_again(backend: Backend) -> None:
    store = once(backend)
    assert store.claim_once("delivery-1", expires_at=NOW + 60, now=NOW)
    store.release_claim("delivery-1")
    store.release_claim("never-claimed")
    assert store.claim_once("delivery-1", expires_at=NOW + 60, now=NOW)
    assert not store.claim_once("delivery-1", expires_at=NOW + 60, now=NOW)


def test_concurrent_claims_by_threads_have_one_winner(backend: Backend) -> None:
    store = once(backend)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.claim_once("race", expires_at=NOW + 60, now=NOW), range(16)))
    assert results.count(True) == 1


@pytest.mark.parametrize("name", CROSS_PROCESS)
def test_claims_are_shared_between_handles_on_the_same_store(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = make_backend(name, tmp_path, request)
    try:
        first, second = once(backend), once(backend)
        assert first is not second
        assert first.claim_once("shared", expires_at=NOW + 60, now=NOW)
        assert not second.claim_once("shared", expires_at=NOW + 60, now=NOW)
        second.release_claim("shared")
        assert first.claim_once("shared", expires_at=NOW + 60, now=NOW)
    finally:
        backend.close_all()
