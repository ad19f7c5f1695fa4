"""Adding, reading, updating and deleting subscribers over real HTTP, with AWeber's statuses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"


def get_token(mock: MockServer, scope: str) -> str:
    """A real access token: headless approval, then the code exchange at /oauth2/token."""
    params = {"response_type": "code", "client_id": "demo-confidential", "redirect_uri": OOB, "scope": scope}
    code = mock.approve(params, username="demo")["code"]
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def api(mock_aweber: MockServer) -> Iterator[httpx.Client]:
    token = get_token(mock_aweber, "account.read list.read subscriber.read subscriber.write")
    with httpx.Client(base_url=mock_aweber.api_base, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def lists(api: httpx.Client) -> list[str]:
    """The demo lists' subscriber collection URLs."""
    account = api.get("/accounts").json()["entries"][0]
    entries = api.get(account["lists_collection_link"]).json()["entries"]
    return [entry["subscribers_collection_link"] for entry in entries]


def test_add_get_patch_delete_round_trip(api: httpx.Client, lists: list[str]) -> None:
    added = api.post(
        lists[0],
        json={
            "email": "round@example.com",
            "name": "Round Trip",
            "tags": ["Alpha", "beta"],
            "custom_fields": {"colour": "blue"},
            "ad_tracking": "test",
            "ip_address": "8.8.8.8",
        },
    )
    assert added.status_code == 201
    assert added.content == b""
    location = added.headers["location"]
    assert location.startswith(f"{lists[0]}/")

    subscriber = api.get(location).json()
    assert subscriber["self_link"] == location
    assert (subscriber["email"], subscriber["name"], subscriber["status"]) == (
        "round@example.com",
        "Round Trip",
        "subscribed",
    )
    assert subscriber["tags"] == ["alpha", "beta"]
    assert subscriber["custom_fields"] == {"colour": "blue"}
    assert subscriber["subscription_method"] == "api"
    assert subscriber["uuid"]

    patched = api.patch(
        location,
        json={"name": "Renamed", "tags": {"add": ["gamma"], "remove": ["alpha"]}, "status": "unsubscribed"},
    )
    assert patched.status_code == 209
    body = patched.json()
    assert (body["name"], body["tags"], body["status"]) == ("Renamed", ["beta", "gamma"], "unsubscribed")
    assert body["unsubscribed_at"] is not None
    assert api.get(location).json() == body

    # AWeber only deletes subscribed subscribers.
    refused = api.delete(location)
    assert refused.status_code == 405
    assert refused.json()["error"]["type"] == "MethodNotAllowedError"
    assert api.patch(location, json={"status": "subscribed"}).status_code == 209
    deleted = api.delete(location)
    assert deleted.status_code == 200
    assert api.get(location).status_code == 404
    assert api.get(location, params={"ws.op": "getActivity"}).status_code == 404


def test_add_by_form_body(api: httpx.Client, lists: list[str]) -> None:
    response = api.post(
        lists[1], data={"ws.op": "create", "email": "form@example.com", "name": "Form", "tags": '["a","b"]'}
    )
    assert response.status_code == 201
    subscriber = api.get(response.headers["location"]).json()
    assert (subscriber["name"], subscriber["tags"]) == ("Form", ["a", "b"])


def test_duplicate_email_is_400_unless_update_existing(api: httpx.Client, lists: list[str]) -> None:
    duplicate = api.post(lists[0], json={"email": "subscriber005@example.com"})
    assert duplicate.status_code == 400
    error = duplicate.json()["error"]
    assert (error["type"], error["message"]) == ("WebServiceError", "email: Subscriber already subscribed.")
    updated = api.post(
        lists[0],
        json={"email": "subscriber005@example.com", "update_existing": "true", "name": "Five", "tags": ["x"]},
    )
    assert updated.status_code == 201
    subscriber = api.get(updated.headers["location"]).json()
    assert (subscriber["name"], subscriber["tags"]) == ("Five", ["demo", "x"])
    assert api.get(lists[0], params={"ws.show": "total_size"}).json() == 250


@pytest.mark.parametrize("parameter", ["subscriber_email", "email"])
def test_patch_and_delete_by_email_accept_both_parameter_names(
    api: httpx.Client, lists: list[str], parameter: str
) -> None:
    patched = api.patch(lists[0], params={parameter: "subscriber007@example.com"}, json={"misc_notes": "hi"})
    assert patched.status_code == 209
    assert patched.json()["misc_notes"] == "hi"
    deleted = api.delete(lists[0], params={parameter: "subscriber007@example.com"})
    assert deleted.status_code == 200
    assert api.delete(lists[0], params={parameter: "subscriber007@example.com"}).status_code == 404
    assert api.get(lists[0], params={"ws.show": "total_size"}).json() == 249


def test_unsupported_content_type_is_415(api: httpx.Client, lists: list[str]) -> None:
    response = api.post(lists[0], content=b"<subscriber/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["type"] == "InvalidContentType"
    assert error["message"] == "Content Type must be application/json or application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"\xff\xfe{}", "application/json", "Invalid Character Encoding"),
        (b"{not json", "application/json", "The request body is not valid JSON."),
        (b"[1, 2]", "application/json", "The request body must be a JSON object."),
        (b'{"email": NaN}', "application/json", "The request body is not valid JSON."),
        (b"[" * 5000, "application/json", "The request body is not valid JSON."),
        (
            b'{"email": "x@example.com", "ip_address": "192.168.1.1"}',
            "application/json",
            "Invalid Subscriber IP",
        ),
        (b'{"email": "x@example.com", "name": 5}', "application/json", "name: Expected a string."),
        (b"email=", "application/x-www-form-urlencoded", "email: Missing required argument."),
    ],
)
def test_bad_bodies_get_a_400_envelope(
    api: httpx.Client, lists: list[str], content: bytes, content_type: str, message: str
) -> None:
    response = api.post(lists[0], content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_oversized_body_is_413(api: httpx.Client, lists: list[str]) -> None:
    response = api.post(lists[0], json={"email": "big@example.com", "misc_notes": "x" * 70_000})
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413


def test_patch_refusals(api: httpx.Client, lists: list[str]) -> None:
    first = api.get(lists[0], params={"ws.size": "2"}).json()["entries"]
    location = first[0]["self_link"]
    assert api.patch(location, json={"status": "unconfirmed"}).status_code == 400
    clash = api.patch(location, json={"email": first[1]["email"]})
    assert clash.status_code == 400
    assert clash.json()["error"]["message"] == "email: Subscriber already subscribed."
    assert api.patch(location, json={"tags": ["not", "a", "change", "set"]}).status_code == 400
    assert api.patch(f"{lists[0]}/999999999", json={"name": "x"}).status_code == 404
    assert api.patch(lists[0], json={"name": "x"}).status_code == 400  # no e-mail given


def test_move_a_subscriber_to_another_list(api: httpx.Client, lists: list[str]) -> None:
    target_link = lists[1].removesuffix("/subscribers")
    subscriber = api.get(lists[0], params={"ws.op": "find", "email": "subscriber020@example.com"}).json()
    location = subscriber["entries"][0]["self_link"]
    moved = api.post(location, data={"ws.op": "move", "list_link": target_link})
    assert moved.status_code == 201
    assert moved.headers["location"].startswith(f"{lists[1]}/")
    new = api.get(moved.headers["location"]).json()
    assert (new["email"], new["tags"]) == ("subscriber020@example.com", ["demo", "vip"])
    assert api.get(location).status_code == 404
    history = api.get(moved.headers["location"], params={"ws.op": "getActivity"}).json()["entries"]
    assert [entry["type"] for entry in history] == ["subscribed", "moved"]
    # subscriber001 is on both lists already, so it cannot move there.
    both = api.get(lists[0], params={"ws.op": "find", "email": "subscriber001@example.com"}).json()[
        "entries"
    ][0]
    again = api.post(both["self_link"], data={"ws.op": "move", "list_link": target_link})
    assert again.status_code == 405
    assert again.json()["error"] == {
        "status": 405,
        "type": "WebServiceError",
        "message": "Subscriber already belongs to this list.",
        "documentation_url": "https://api.aweber.com/#methodnotallowed",
    }
    pending = api.get(lists[1], params={"ws.op": "find", "status": "unconfirmed"}).json()["entries"][0]
    first_list = lists[0].removesuffix("/subscribers")
    refused = api.post(pending["self_link"], json={"ws.op": "move", "list_link": first_list})
    assert refused.status_code == 405
    assert refused.json()["error"]["type"] == "MethodNotAllowedError"
    assert api.post(location, data={"ws.op": "move", "list_link": target_link}).status_code == 404
    assert api.post(new["self_link"], data={"ws.op": "move", "list_link": "nonsense"}).status_code == 400
    assert api.post(new["self_link"], data={"list_link": target_link}).status_code == 405
    assert api.post(new["self_link"], data={"ws.op": "fly", "list_link": target_link}).status_code == 400
