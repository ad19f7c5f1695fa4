"""The clone guard's transitions (adopt-store, move-install) raced against refresh, reconnect
and disconnect, black-box against the live mock (issue 13, item 6).

The mock's delay fault holds one transition's request in flight (a refresh, a code exchange,
a revoke) while the other runs. Afterwards every install names one grant, its token works at
the provider, and nothing was lost or left alive without a record holding it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from test_record_races import Held
from workers.common import aweber_helper, connect

from mock_server.runner import MockServer
from oob_helper.errors import NotConnected
from oob_helper.helper import OAuthHelper

OLD, NEW = "old.example", "new.example"


@pytest.fixture
def helper(mock_aweber: MockServer, tmp_path: Path) -> Iterator[OAuthHelper]:
    with aweber_helper(mock_aweber, tmp_path / "tokens.db") as h:
        yield h


def works(mock: MockServer, helper: OAuthHelper, install: str) -> bool:
    record = helper.store.get(install)
    assert record is not None
    assert record.token is not None
    response = httpx.get(
        f"{mock.api_base}/accounts", headers={"Authorization": f"Bearer {record.token.access_token}"}
    )
    return response.status_code == 200


def live_grants(mock: MockServer) -> set[str]:
    """The grants with a live token at the provider."""
    return {str(t["grant"]) for t in mock.state()["tokens"] if t["username"] == "demo"}


def test_a_move_during_a_held_refresh_keeps_the_refreshed_pair(
    mock_aweber: MockServer, helper: OAuthHelper
) -> None:
    connected = connect(mock_aweber, helper, OLD)
    refreshing = Held(mock_aweber, lambda: helper.refresh(OLD))
    moved = helper.move_install(OLD, NEW)  # waits for the refresh's lock
    assert getattr(refreshing.join(), "result", None) == "refreshed"
    assert helper.store.list_installs() == [NEW]
    assert moved.grant_id == connected.grant_id
    assert moved.token is not None
    assert connected.token is not None
    assert moved.token.refresh_token != connected.token.refresh_token  # the refreshed pair moved
    assert works(mock_aweber, helper, NEW)
    assert helper.refresh(NEW).result == "refreshed"


def test_adopt_during_a_held_refresh_loses_nothing(mock_aweber: MockServer, helper: OAuthHelper) -> None:
    record = connect(mock_aweber, helper, OLD)
    helper.store.import_record(dataclasses.replace(record, store_location=None))  # type: ignore[attr-defined]
    refreshing = Held(mock_aweber, lambda: helper.refresh(OLD))
    adopted = helper.adopt_store()  # waits for the lock; the refresh stamped the record first
    assert getattr(refreshing.join(), "result", None) == "refreshed"
    assert adopted == 0
    stored = helper.store.get(OLD)
    assert stored is not None
    assert stored.store_location == helper.records.location
    assert works(mock_aweber, helper, OLD)


def test_a_move_during_a_held_disconnect_finds_nothing_to_move(
    mock_aweber: MockServer, helper: OAuthHelper
) -> None:
    connect(mock_aweber, helper, OLD)
    disconnecting = Held(mock_aweber, lambda: helper.disconnect(OLD), path="/oauth2/revoke")
    with pytest.raises(NotConnected):
        helper.move_install(OLD, NEW)
    disconnecting.join()
    assert helper.store.list_installs() == []
    assert live_grants(mock_aweber) == set()


def test_adopt_racing_a_disconnect_of_a_copied_record(mock_aweber: MockServer, helper: OAuthHelper) -> None:
    record = connect(mock_aweber, helper, OLD)
    helper.store.import_record(dataclasses.replace(record, store_location="sqlite:/elsewhere@host"))  # type: ignore[attr-defined]
    # Either order is right: adopted first, the record is this store's and the disconnect
    # revokes it; disconnected first, the copy is forgotten without a revoke and adopt finds nothing.
    adopted: list[int] = []
    threads = [
        threading.Thread(target=helper.disconnect, args=(OLD,)),
        threading.Thread(target=lambda: adopted.append(helper.adopt_store())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert helper.store.list_installs() == []
    assert len(live_grants(mock_aweber)) == (0 if adopted == [1] else 1)
    assert adopted in ([0], [1])


def test_a_reconnect_whose_exchange_is_held_during_a_move_gets_its_own_record(
    mock_aweber: MockServer, helper: OAuthHelper
) -> None:
    first = connect(mock_aweber, helper, OLD)
    start = helper.start_authorization(OLD)
    code = mock_aweber.approve(dict(parse_qsl(urlsplit(start.authorize_url).query)))["code"]
    reconnecting = Held(
        mock_aweber, lambda: helper.complete_authorization(OLD, start.attempt.attempt_id, code)
    )
    moved = helper.move_install(OLD, NEW)
    fresh: Any = reconnecting.join()
    # The move took the first grant to NEW; the reconnect made OLD a fresh grant of its own.
    assert moved.grant_id == first.grant_id
    assert fresh.grant_id != first.grant_id
    assert helper.store.list_installs() == [NEW, OLD]
    assert works(mock_aweber, helper, NEW)
    assert works(mock_aweber, helper, OLD)
    assert len(live_grants(mock_aweber)) == 2  # each alive pair is held by one record


def test_a_move_after_a_reconnect_moves_the_new_grant(mock_aweber: MockServer, helper: OAuthHelper) -> None:
    connect(mock_aweber, helper, OLD)
    again = connect(mock_aweber, helper, OLD)  # replaces (and revokes) the first grant
    moved = helper.move_install(OLD, NEW)
    assert moved.grant_id == again.grant_id
    assert works(mock_aweber, helper, NEW)
    assert len(live_grants(mock_aweber)) == 1
