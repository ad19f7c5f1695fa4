"""The API slice over real HTTP: collections and paging, finds, activity, tokens, link bases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mock_server import MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
READ_WRITE = "account.read list.read subscriber.read subscriber.write"


def get_token(mock: MockServer, scope: str = READ_WRITE, username: str = "demo") -> str:
    """A real access token: headless approval, then the code exchange at /oauth2/token."""
    params = {
        "response_type": "code",
        "client_id": "demo-confidential",
        "redirect_uri": OOB,
        "scope": scope,
        "state": "test",
    }
    code = mock.approve(params, username=username)["code"]
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def api(mock_aweber: MockServer) -> httpx.Client:
    """An HTTP client carrying a demo token for every scope of the slice."""
    token = get_token(mock_aweber)
    with httpx.Client(base_url=mock_aweber.api_base, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def first_list(api: httpx.Client) -> dict[str, Any]:
    account = api.get("/accounts").json()["entries"][0]
    lists: dict[str, Any] = api.get(account["lists_collection_link"]).json()
    return lists["entries"][0]  # type: ignore[no-any-return]


def test_accounts_collection_holds_the_tokens_account(api: httpx.Client, mock_aweber: MockServer) -> None:
    response = api.get("/accounts")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["start"], body["total_size"]) == (0, 1)
    assert "next_collection_link" not in body
    assert "prev_collection_link" not in body
    assert body["resource_type_link"] == f"{mock_aweber.url}/1.0/#account"
    account = body["entries"][0]
    assert account["self_link"] == f"{mock_aweber.url}/1.0/accounts/{account['id']}"
    assert account["lists_collection_link"] == f"{account['self_link']}/lists"
    assert account["resource_type_link"] == f"{mock_aweber.url}/1.0/#account"
    assert {"uuid", "company", "analytics_src", "http_etag", "integrations_collection_link"} <= set(account)
    assert api.get(account["self_link"]).json() == account


def test_paging_through_250_subscribers_by_following_next_links(api: httpx.Client) -> None:
    url: str | None = first_list(api)["subscribers_collection_link"]
    pages: list[dict[str, Any]] = []
    while url is not None:
        response = api.get(url)
        assert response.status_code == 200
        pages.append(response.json())
        url = pages[-1].get("next_collection_link")
    assert [page["start"] for page in pages] == [0, 100, 200]
    assert [len(page["entries"]) for page in pages] == [100, 100, 50]
    assert {page["total_size"] for page in pages} == {250}
    emails = [entry["email"] for page in pages for entry in page["entries"]]
    assert emails == [f"subscriber{n:03d}@example.com" for n in range(1, 251)]  # oldest first
    assert "prev_collection_link" not in pages[0]
    assert "next_collection_link" not in pages[-1]
    assert pages[2]["prev_collection_link"].endswith("/subscribers?ws.start=100&ws.size=100")
    entry = pages[0]["entries"][0]
    assert entry["resource_type_link"].endswith("/1.0/#subscriber")
    assert "http_etag" not in entry
    assert "uuid" not in entry  # only on a single GET


def test_small_pages_and_descending_order(api: httpx.Client) -> None:
    url = first_list(api)["subscribers_collection_link"]
    body = api.get(url, params={"ws.start": "10", "ws.size": "5", "sort_order": "desc"}).json()
    assert [e["email"] for e in body["entries"]] == [
        f"subscriber{n:03d}@example.com" for n in range(240, 235, -1)
    ]
    assert body["next_collection_link"] == f"{url}?sort_order=desc&ws.start=15&ws.size=5"
    assert body["prev_collection_link"] == f"{url}?sort_order=desc&ws.start=5&ws.size=5"
    assert api.get(url, params={"ws.show": "total_size"}).json() == 250


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ws.size": "101"}, 'Maximum for "ws.size" parameter is 100.'),
        ({"ws.size": "0"}, 'Minimum for "ws.size" parameter is 1.'),
        ({"ws.start": "-1"}, 'Minimum for "ws.start" parameter is 0.'),
        ({"ws.start": "x"}, 'Invalid value for "ws.start" parameter'),
        ({"ws.op": "explode"}, "No such operation"),
        ({"ws.show": "everything"}, 'Invalid value for "ws.show" parameter'),
        ({"sort_order": "sideways"}, "sort_order"),
    ],
)
def test_invalid_collection_parameters_get_a_400_envelope(
    api: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = api.get(first_list(api)["subscribers_collection_link"], params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["type"] == "WebServiceError"
    assert error["message"].startswith(message)
    assert error["documentation_url"].startswith("https://api.aweber.com")


def test_find_on_a_lists_subscribers(api: httpx.Client) -> None:
    url = first_list(api)["subscribers_collection_link"]
    body = api.get(url, params={"ws.op": "find", "email": "subscriber042@example.com"}).json()
    assert [entry["email"] for entry in body["entries"]] == ["subscriber042@example.com"]
    assert "total_size" not in body
    total_link = body["total_size_link"]
    assert "ws.show=total_size" in total_link
    assert api.get(total_link).json() == 1
    vip = api.get(url, params={"ws.op": "find", "tags": '["vip"]', "ws.size": "10"}).json()
    assert len(vip["entries"]) == 10
    following = api.get(vip["next_collection_link"]).json()
    assert following["start"] == 10
    assert "ws.op=find" in vip["next_collection_link"]
    assert api.get(vip["total_size_link"]).json() == 25


def test_find_subscribers_across_the_account(api: httpx.Client) -> None:
    account = api.get("/accounts").json()["entries"][0]
    body = api.get(
        account["self_link"], params={"ws.op": "findSubscribers", "email": "subscriber001@example.com"}
    ).json()
    assert sorted(entry["list_name"] for entry in body["entries"]) == ["Demo Customers", "Demo Newsletter"]
    assert all(entry["list_link"].startswith(account["lists_collection_link"]) for entry in body["entries"])
    everyone = api.get(account["self_link"], params={"ws.op": "findSubscribers", "ws.show": "total_size"})
    assert everyone.json() == 253


def test_find_lists_by_name(api: httpx.Client) -> None:
    account = api.get("/accounts").json()["entries"][0]
    lists_url = account["lists_collection_link"]
    body = api.get(lists_url, params={"ws.op": "find", "name": "Demo Customers"}).json()
    assert [entry["name"] for entry in body["entries"]] == ["Demo Customers"]
    assert "total_size_link" in body
    by_unique = api.get(lists_url, params={"ws.op": "find", "name": body["entries"][0]["unique_list_id"]})
    assert by_unique.json()["entries"] == body["entries"]
    lists = api.get(lists_url).json()
    assert lists["total_size"] == 2
    newsletter = lists["entries"][0]
    assert newsletter["total_subscribers"] == 250
    assert newsletter["unique_list_id"] == f"awlist{newsletter['id']}"
    assert api.get(newsletter["self_link"]).json() == newsletter


def test_get_activity_of_a_subscriber(api: httpx.Client) -> None:
    url = first_list(api)["subscribers_collection_link"]
    subscriber = api.get(url, params={"ws.size": "1"}).json()["entries"][0]
    single = api.get(subscriber["self_link"]).json()
    assert single["uuid"]
    activity = api.get(subscriber["self_link"], params={"ws.op": "getActivity"}).json()
    assert [entry["type"] for entry in activity["entries"]] == ["subscribed"]
    assert activity["entries"][0]["event_time"] == subscriber["subscribed_at"]
    assert (
        api.get(subscriber["self_link"], params={"ws.op": "getActivity", "ws.show": "total_size"}).json() == 1
    )


@pytest.mark.parametrize("where", ["header", "query", "form"])
def test_the_token_is_accepted_in_header_query_or_form(mock_aweber: MockServer, where: str) -> None:
    token = get_token(mock_aweber)
    account_id = httpx.get(
        f"{mock_aweber.api_base}/accounts", headers={"Authorization": f"Bearer {token}"}
    ).json()["entries"][0]["id"]
    subscribers = f"{mock_aweber.api_base}/accounts/{account_id}/lists/1001/subscribers"
    if where == "header":
        response = httpx.post(
            subscribers, json={"email": "h@example.com"}, headers={"Authorization": f"Bearer {token}"}
        )
    elif where == "query":
        response = httpx.post(subscribers, params={"access_token": token}, json={"email": "q@example.com"})
    else:
        response = httpx.post(
            subscribers, data={"access_token": token, "email": "f@example.com", "tags": '["x"]'}
        )
    assert response.status_code == 201, response.text
    assert response.content == b""
    assert response.headers["location"].startswith(f"{subscribers}/")
    if where == "query":
        # Links never repeat a token given in the query string.
        page = httpx.get(subscribers, params={"access_token": token, "ws.size": "1"}).json()
        assert "access_token" not in page["next_collection_link"]


def test_links_follow_the_host_the_client_used(mock_aweber: MockServer) -> None:
    token = get_token(mock_aweber)
    port = mock_aweber.url.rsplit(":", 1)[1]
    response = httpx.get(
        f"http://localhost:{port}/1.0/accounts", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json()["entries"][0]["self_link"].startswith(f"http://localhost:{port}/1.0/accounts/")


def test_unknown_paths_and_methods_get_aweber_envelopes(api: httpx.Client) -> None:
    lst = first_list(api)
    missing = api.get(f"{lst['subscribers_collection_link']}/1")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFoundError"
    assert api.get(lst["self_link"].replace(str(lst["id"]), "999999")).status_code == 404
    assert api.get(f"{lst['subscribers_collection_link']}/abc").json()["error"]["type"] == "NotFoundError"
    assert api.get("/nothing/here").json()["error"]["type"] == "NotFoundError"
    slash = api.get(f"{lst['self_link']}/")
    assert slash.status_code == 307
    assert slash.headers["location"] == lst["self_link"]
    put = api.put(lst["self_link"], json={})
    assert put.status_code == 405
    assert put.json()["error"]["type"] == "MethodNotAllowedError"
    assert put.headers["allow"] == "GET, HEAD"
