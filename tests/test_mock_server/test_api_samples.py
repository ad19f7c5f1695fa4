"""The steps of AWeber's Python samples (manage-subscriber, find-subscribers-across-lists), run
with an unmodified requests_oauthlib OAuth2Session against the mock, following its links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from requests_oauthlib import OAuth2Session

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["account.read", "list.read", "subscriber.read", "subscriber.write"]


@pytest.fixture(autouse=True)
def plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// unless told otherwise; the mock serves loopback HTTP.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def session_for(mock: MockServer) -> OAuth2Session:
    """Authorize headlessly, then let requests_oauthlib exchange the code as the sample does."""
    oauth = OAuth2Session("demo-confidential", redirect_uri=OOB, scope=SCOPES)
    url, state = oauth.authorization_url(mock.authorize_url)
    code = mock.approve(dict(parse_qsl(urlsplit(url).query)), username="demo")["code"]
    oauth.fetch_token(mock.token_url, client_secret="demo-secret", code=code)
    assert state
    return oauth


def test_manage_subscriber_steps(mock_aweber: MockServer) -> None:
    session = session_for(mock_aweber)
    accounts: dict[str, Any] = session.get(f"{mock_aweber.api_base}/accounts").json()
    account = accounts["entries"][0]
    lists = session.get(account["lists_collection_link"]).json()["entries"]
    first, second = lists[0], lists[1]

    created = session.post(
        first["subscribers_collection_link"],
        json={"email": "sample@example.com", "name": "Sample", "tags": ["prospect"], "custom_fields": {}},
    )
    assert created.status_code == 201
    subscriber = session.get(created.headers["Location"]).json()

    found = session.get(
        first["subscribers_collection_link"], params={"ws.op": "find", "email": "sample@example.com"}
    ).json()
    assert [entry["self_link"] for entry in found["entries"]] == [subscriber["self_link"]]

    updated = session.patch(
        subscriber["self_link"], json={"tags": {"add": ["customer"], "remove": ["prospect"]}}
    )
    assert updated.status_code == 209
    assert updated.json()["tags"] == ["customer"]

    moved = session.post(subscriber["self_link"], data={"ws.op": "move", "list_link": second["self_link"]})
    assert moved.status_code == 201
    assert session.get(subscriber["self_link"]).status_code == 404

    deleted = session.delete(moved.headers["Location"])
    assert deleted.status_code == 200
    assert session.get(moved.headers["Location"]).status_code == 404


def test_find_subscribers_across_lists_steps(mock_aweber: MockServer) -> None:
    session = session_for(mock_aweber)
    account = session.get(f"{mock_aweber.api_base}/accounts").json()["entries"][0]
    url: str | None = account["self_link"]
    params: dict[str, str] | None = {"ws.op": "findSubscribers", "tags": '["vip"]', "ws.size": "10"}
    seen: list[str] = []
    while url:
        page = session.get(url, params=params).json()
        seen += [entry["email"] for entry in page["entries"]]
        url, params = page.get("next_collection_link"), None
    assert len(seen) == 25
    assert seen[0] == "subscriber010@example.com"
    total = session.get(account["self_link"], params={"ws.op": "findSubscribers", "ws.show": "total_size"})
    assert total.json() == 253
