"""Every pair of a broadcast's transitions, raced over real HTTP: the outcome is always one that
the two requests would have had one after the other, whichever went first. The same for the
25th custom field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mock_server import MockConfig, MockServer
from tests.test_mock_server.test_api_operations import client

L = "/accounts/1/lists/1001"
ROUNDS = 12


@pytest.fixture(scope="module")
def mock() -> Any:
    # Many rounds of requests: AWeber's 120 a minute would lock the account out.
    with MockServer(MockConfig(rate_limit_enabled=False)) as server:
        server.set_clock(frozen=True)
        yield server
        server.check_errors()


@pytest.fixture(scope="module")
def api(mock: MockServer) -> Any:
    with client(mock) as http:
        yield http


def race(first: Callable[[], int], second: Callable[[], int]) -> tuple[int, int]:
    """Run both at once (as near as two threads get), returning their statuses."""
    barrier = threading.Barrier(2)

    def run(action: Callable[[], int]) -> int:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(run, first), pool.submit(run, second)
        return a.result(), b.result()


def when(mock: MockServer, seconds: float) -> str:
    return datetime.fromtimestamp(mock.now() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def draft(api: httpx.Client) -> str:
    response = api.post(f"{L}/broadcasts", data={"subject": "Race", "body_text": "x"})
    assert response.status_code == 200, response.text
    return str(response.json()["self_link"])


def state(api: httpx.Client, url: str) -> dict[str, Any] | None:
    response = api.get(url)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_schedule_against_cancel(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        statuses = race(
            lambda url=url: api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 3600)}).status_code,
            lambda url=url: api.post(f"{url}/cancel").status_code,
        )
        assert statuses == (200, 200)
        final = state(api, url)
        assert final is not None
        assert (final["status"], final["scheduled_for"] is None) in {("draft", True), ("scheduled", False)}


def test_schedule_against_delete(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        statuses = race(
            lambda url=url: api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 3600)}).status_code,
            lambda url=url: api.delete(url).status_code,
        )
        final = state(api, url)
        if statuses == (200, 409):  # scheduled first: a scheduled broadcast cannot be deleted
            assert final is not None
            assert final["status"] == "scheduled"
        else:  # deleted first: there is nothing left to schedule
            assert statuses == (404, 204)
            assert final is None


def test_schedule_against_put(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        statuses = race(
            lambda url=url: api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 3600)}).status_code,
            lambda url=url: api.put(url, data={"subject": "Edited"}).status_code,
        )
        final = state(api, url)
        assert final is not None
        assert final["status"] == "scheduled"
        assert statuses in {(200, 409), (200, 200)}
        assert final["subject"] == ("Edited" if statuses == (200, 200) else "Race")


def test_schedule_against_schedule(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        statuses = race(
            lambda url=url: api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 3600)}).status_code,
            lambda url=url: api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 7200)}).status_code,
        )
        assert sorted(statuses) == [200, 409]


def test_put_against_delete(api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        statuses = race(
            lambda url=url: api.put(url, data={"subject": "Edited"}).status_code,
            lambda url=url: api.delete(url).status_code,
        )
        assert statuses in {(200, 204), (404, 204)}
        assert state(api, url) is None


def test_cancel_against_delete_of_a_scheduled_broadcast(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        assert api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 3600)}).status_code == 200
        statuses = race(
            lambda url=url: api.post(f"{url}/cancel").status_code, lambda url=url: api.delete(url).status_code
        )
        final = state(api, url)
        if statuses == (200, 204):  # cancelled, then the draft deleted
            assert final is None
        else:  # the delete saw a scheduled broadcast
            assert statuses == (200, 409)
            assert final is not None
            assert final["status"] == "draft"


def test_cancel_against_the_clock_sending(mock: MockServer, api: httpx.Client) -> None:
    for _ in range(ROUNDS):
        url = draft(api)
        assert api.post(f"{url}/schedule", data={"scheduled_for": when(mock, 60)}).status_code == 200

        def send() -> int:
            mock.advance_clock(61)
            return 200

        assert race(lambda url=url: api.post(f"{url}/cancel").status_code, send) == (200, 200)
        final = state(api, url)
        assert final is not None
        if final["status"] == "sent":  # the clock won: AWeber's cancel of a sent broadcast changes nothing
            assert final["stats"]["num_emailed"] > 0
        else:
            assert (final["status"], final["sent_at"], final["stats"]["num_emailed"]) == ("draft", None, 0)


def test_two_creates_for_the_last_custom_field() -> None:
    with MockServer(MockConfig(rate_limit_enabled=False)) as mock:
        for round_number in range(ROUNDS):
            mock.reset()
            last_field(mock, round_number)
        mock.check_errors()


def last_field(mock: MockServer, round_number: int) -> None:
    """Two creates race for the 25th field of a list that has 24."""
    with client(mock) as fresh:
        for number in range(22):  # the demo list has two: 24
            assert (
                fresh.post(f"{L}/custom_fields", data={"ws.op": "create", "name": f"F{number}"}).status_code
                == 201
            )
        statuses = race(
            lambda: fresh.post(f"{L}/custom_fields", data={"ws.op": "create", "name": "A"}).status_code,
            lambda: fresh.post(f"{L}/custom_fields", data={"ws.op": "create", "name": "B"}).status_code,
        )
        assert sorted(statuses) == [201, 405], round_number
        assert fresh.get(f"{L}/custom_fields").json()["total_size"] == 25
