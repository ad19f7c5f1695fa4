"""Acceptance 3: a broadcast's life over real HTTP, driven by the mock's clock.

Create, PUT, schedule, cancel, reschedule; the clock passes ``scheduled_for`` and the broadcast
is sent to the list (a subscriber added through the API included), with opens, clicks and
statistics that appear as the clock moves on and that depend only on the data seed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from mock_server import MockConfig, MockServer
from tests.test_mock_server.test_api_operations import client, walk

L = "/accounts/1/lists/1001"
HOUR = 3600.0
# The clock moves hours ahead here; access tokens that outlive that keep the tests about broadcasts.
LONG_TOKENS = MockConfig(access_token_ttl=30 * 86400)


def at(timestamp: float) -> str:
    """A ``scheduled_for`` value as AWeber's samples write it."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_create_edit_schedule_cancel_reschedule_send() -> None:
    with MockServer(LONG_TOKENS) as mock:
        lifecycle(mock)
        mock.check_errors()


def lifecycle(mock_aweber: MockServer) -> None:
    """The whole life of one broadcast, checked at each step."""
    # Whole seconds: scheduled_for has no fractions (AWeber strips microseconds).
    start = mock_aweber.set_clock(float(int(mock_aweber.now())), frozen=True)
    with client(mock_aweber) as api:
        added = api.post(f"{L}/subscribers", json={"email": "late.joiner@example.com"})
        assert added.status_code == 201
        created = api.post(f"{L}/broadcasts", data={"subject": "Launch", "body_html": "<p>Hi</p>"})
        assert created.status_code == 200, created.text
        broadcast: dict[str, Any] = created.json()
        url = broadcast["self_link"]
        assert (broadcast["status"], broadcast["sent_at"], broadcast["stats"]["num_emailed"]) == (
            "draft",
            None,
            0,
        )
        assert broadcast["include_lists"] == [f"{mock_aweber.api_base}{L}"]

        edited = api.put(url, data={"subject": "Launch day", "body_text": "Hi"}).json()
        assert (edited["subject"], edited["body_text"], edited["body_html"]) == (
            "Launch day",
            "Hi",
            "<p>Hi</p>",
        )

        assert api.post(f"{url}/schedule", data={"scheduled_for": at(start + HOUR)}).json() == {
            "self_link": url
        }
        assert api.get(url).json()["status"] == "scheduled"
        assert api.put(url, data={"subject": "Too late"}).status_code == 409
        assert api.post(f"{url}/cancel").json() == {"self_link": url}
        assert (api.get(url).json()["status"], api.get(url).json()["scheduled_for"]) == ("draft", None)

        when = start + 2 * HOUR
        assert api.post(f"{url}/schedule", data={"scheduled_for": at(when)}).status_code == 200
        mock_aweber.advance_clock(2 * HOUR - 1)
        assert api.get(url).json()["status"] == "scheduled"  # one second early

        mock_aweber.advance_clock(1)  # the clock reaches scheduled_for: sent, nobody has opened yet
        sent = api.get(url).json()
        assert (sent["status"], stamp(sent["sent_at"])) == ("sent", when)
        assert sent["stats"]["num_emailed"] == 251  # the demo list's 250 and the one added above
        assert sent["stats"]["unique_opens"] == 0
        assert api.post(f"{url}/cancel").status_code == 200  # AWeber: 200, and nothing changes
        assert api.get(url).json()["status"] == "sent"
        assert api.post(f"{url}/schedule", data={"scheduled_for": at(when + HOUR)}).status_code == 409

        mock_aweber.advance_clock(HOUR / 2)
        half = api.get(url).json()["stats"]
        mock_aweber.advance_clock(HOUR)  # every event happens within the hour after sending
        full = api.get(url).json()["stats"]
        assert 0 < half["unique_opens"] < full["unique_opens"]
        assert half["unique_clicks"] <= full["unique_clicks"]

        opens, last = walk(api, f"{url}/opens?page_size=25")
        assert len(opens) == full["unique_opens"]
        assert all(when <= stamp(entry["event_time"]) <= when + HOUR for entry in opens)
        earlier, _ = walk(api, last["prev_collection_link"], "prev_collection_link")
        assert earlier + last["entries"] == opens
        clicks, _ = walk(api, f"{url}/clicks?page_size=10")
        assert len(clicks) == full["unique_clicks"] > 0

        broadcast_id = sent["broadcast_id"]
        campaign = api.get(f"{L}/campaigns/b{broadcast_id}").json()
        assert (campaign["total_sent"], campaign["total_opens"]) == (251, full["unique_opens"])
        stats = {s["id"]: s["value"] for s in api.get(campaign["stats_collection_link"]).json()["entries"]}
        assert stats["unique_opens"] == full["unique_opens"]
        assert sum(stats["hourly_opens"]) == stats["total_opens"]
        assert sum(stats["hourly_opens"][1:]) == 0  # all within the first hour
        sent_list = api.get(f"{L}/broadcasts", params={"status": "sent"}).json()["entries"]
        assert broadcast_id in [entry["broadcast_id"] for entry in sent_list]


def opens_after_sending(seed: int) -> list[tuple[str, float]]:
    """Schedule a broadcast on a fresh mock with ``seed``; the opens as (e-mail, seconds after)."""
    with MockServer(MockConfig(data_seed=seed, access_token_ttl=30 * 86400)) as mock:
        now = mock.set_clock(frozen=True)
        with client(mock) as api:
            url = api.post(f"{L}/broadcasts", data={"subject": "Seeded", "body_text": "x"}).json()[
                "self_link"
            ]
            api.post(f"{url}/schedule", data={"scheduled_for": at(now + HOUR)})
            mock.advance_clock(3 * HOUR)
            sent_at = stamp(api.get(url).json()["sent_at"])
            opens, _ = walk(api, f"{url}/opens")
        mock.check_errors()
    return sorted((entry["email"], round(stamp(entry["event_time"]) - sent_at, 3)) for entry in opens)


def test_opens_and_clicks_depend_only_on_the_seed() -> None:
    first, again, other = opens_after_sending(7), opens_after_sending(7), opens_after_sending(8)
    assert first == again
    assert first != other


def test_a_broadcast_to_another_list_reaches_its_subscribed_subscribers_only(mock_aweber: MockServer) -> None:
    now = mock_aweber.set_clock(frozen=True)
    with client(mock_aweber) as api:
        other = f"{mock_aweber.api_base}/accounts/1/lists/1002"
        body = {"subject": "Customers", "body_text": "x", "include_lists": f'["{other}"]'}
        url = api.post(f"{L}/broadcasts", data=body).json()["self_link"]
        api.post(f"{url}/schedule", data={"scheduled_for": at(now + 60)})
        mock_aweber.advance_clock(120)
        # list 1002: one subscribed, one unconfirmed, one unsubscribed
        assert api.get(url).json()["stats"]["num_emailed"] == 1
        body = {"subject": "Minus", "body_text": "x", "exclude_lists": f'["{other}"]'}
        url = api.post(f"{L}/broadcasts", data=body).json()["self_link"]
        api.post(f"{url}/schedule", data={"scheduled_for": at(now + 600)})
        mock_aweber.advance_clock(600)
        assert api.get(url).json()["stats"]["num_emailed"] == 249  # subscriber001 is on both lists


def test_subscribers_added_through_the_api_show_in_counts_finds_and_activity(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        before = api.get(L).json()
        assert (
            api.post(
                f"{L}/subscribers", data={"email": "new.one@example.com", "tags": '["fresh"]'}
            ).status_code
            == 201
        )
        after = api.get(L).json()
        found = api.get(f"{L}/subscribers", params={"ws.op": "find", "tags": '["fresh"]'}).json()["entries"]
        account_wide = api.get(
            "/accounts/1", params={"ws.op": "findSubscribers", "email": "new.one@example.com"}
        )
        activity = api.get(found[0]["self_link"], params={"ws.op": "getActivity"}).json()["entries"]
    assert after["total_subscribers"] == before["total_subscribers"] + 1
    assert after["total_subscribers_subscribed_today"] == before["total_subscribers_subscribed_today"] + 1
    assert [entry["email"] for entry in found] == ["new.one@example.com"]
    assert account_wide.json()["entries"][0]["list_name"] == "Demo Newsletter"
    assert [entry["type"] for entry in activity] == ["subscribed"]
    assert httpx.get(f"{mock_aweber.api_base}{L}").status_code == 401
