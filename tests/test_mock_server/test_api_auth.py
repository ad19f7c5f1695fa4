"""Who may call the API slice: bad tokens, other accounts, scopes, the rate limit, the CC profile."""

from __future__ import annotations

import httpx
import pytest

from mock_server import MockConfig, MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
ALL = "account.read list.read subscriber.read subscriber.write"


def get_token(mock: MockServer, scope: str = ALL, username: str = "demo") -> str:
    """A real access token: headless approval, then the code exchange at /oauth2/token."""
    params = {"response_type": "code", "client_id": "demo-confidential", "redirect_uri": OOB, "scope": scope}
    code = mock.approve(params, username=username)["code"]
    response = httpx.post(
        mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: httpx.Response) -> None:
    # The RFC 6750 body AWeber's own WordPress client tests for before it refreshes.
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = response.json()
    assert body["error"] == "invalid_token"
    assert body["error_description"]


def test_missing_or_unknown_token_is_401_invalid_token(mock_aweber: MockServer) -> None:
    assert_invalid_token(httpx.get(f"{mock_aweber.api_base}/accounts"))
    assert_invalid_token(httpx.get(f"{mock_aweber.api_base}/accounts", headers=bearer("nope")))
    assert_invalid_token(
        httpx.get(f"{mock_aweber.api_base}/accounts", headers={"Authorization": "Basic eDp5"})
    )
    assert_invalid_token(httpx.get(f"{mock_aweber.api_base}/accounts/1/lists/1001/subscribers"))


def test_expired_and_revoked_tokens_are_401_invalid_token(mock_aweber: MockServer) -> None:
    token = get_token(mock_aweber)
    url = f"{mock_aweber.api_base}/accounts"
    assert httpx.get(url, headers=bearer(token)).status_code == 200
    mock_aweber.advance_clock(7201)
    assert_invalid_token(httpx.get(url, headers=bearer(token)))
    fresh = get_token(mock_aweber)
    assert httpx.get(url, headers=bearer(fresh)).status_code == 200
    mock_aweber.revoke_tokens()
    assert_invalid_token(httpx.get(url, headers=bearer(fresh)))


def test_envelope_style_401_is_a_documented_option() -> None:
    with MockServer(MockConfig(extra={"api_auth_error_style": "envelope"})) as mock:
        response = httpx.get(f"{mock.api_base}/accounts", headers=bearer("nope"))
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "UnauthorizedError"
        assert response.json()["error"]["message"] == "Invalid Token"
        mock.check_errors()


def test_another_accounts_resources_are_401_invalid_account(mock_aweber: MockServer) -> None:
    alice = mock_aweber.add_user("alice", "alice-password")
    demo_account = httpx.get(f"{mock_aweber.api_base}/accounts", headers=bearer(get_token(mock_aweber)))
    demo_id = demo_account.json()["entries"][0]["id"]
    token = get_token(mock_aweber, username="alice")
    own = httpx.get(f"{mock_aweber.api_base}/accounts", headers=bearer(token)).json()
    assert [entry["id"] for entry in own["entries"]] == [alice["account_id"]]
    assert (
        httpx.get(
            f"{mock_aweber.api_base}/accounts/{alice['account_id']}/lists", headers=bearer(token)
        ).json()["entries"]
        == []
    )
    for path in (f"/accounts/{demo_id}", f"/accounts/{demo_id}/lists/1001/subscribers", "/accounts/424242"):
        response = httpx.get(f"{mock_aweber.api_base}{path}", headers=bearer(token))
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["type"], error["message"]) == ("UnauthorizedError", "Invalid Account")


def test_missing_scope_is_403_forbidden(mock_aweber: MockServer) -> None:
    token = get_token(mock_aweber, scope="account.read subscriber.read")
    base = f"{mock_aweber.api_base}/accounts/1"
    assert httpx.get(base, headers=bearer(token)).status_code == 200
    for response in (
        httpx.get(f"{base}/lists", headers=bearer(token)),
        httpx.post(f"{base}/lists/1001/subscribers", json={"email": "x@example.com"}, headers=bearer(token)),
        httpx.delete(f"{base}/lists/1001/subscribers/100001", headers=bearer(token)),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "ForbiddenError"
        assert "insufficient_scope" in response.headers["www-authenticate"]
    assert httpx.get(f"{base}/lists/1001/subscribers", headers=bearer(token)).status_code == 200
    legacy = get_token(mock_aweber, scope="account.read subscriber.read-extended")
    assert httpx.get(f"{base}?ws.op=findSubscribers", headers=bearer(legacy)).status_code == 200
    no_subscribers = get_token(mock_aweber, scope="account.read")
    assert httpx.get(f"{base}?ws.op=findSubscribers", headers=bearer(no_subscribers)).status_code == 403


def test_121st_request_in_a_minute_is_rate_limited_until_60_seconds_pass(mock_aweber: MockServer) -> None:
    token = get_token(mock_aweber)
    url = f"{mock_aweber.api_base}/accounts"
    with httpx.Client(headers=bearer(token)) as client:
        statuses = [client.get(url).status_code for _ in range(120)]
        assert set(statuses) == {200}
        limited = client.get(url)
        assert limited.status_code == 403
        assert limited.json() == {
            "error": {
                "status": 403,
                "type": "ForbiddenError",
                "message": "Rate Limit Error",
                "documentation_url": "https://api.aweber.com/#forbidden",
            }
        }
        mock_aweber.advance_clock(30)
        assert client.get(url).status_code == 403  # still locked out
        alice = mock_aweber.add_user("alice", "pw")
        assert client.get(url, headers=bearer(get_token(mock_aweber, username="alice"))).status_code == 200
        assert alice["account_id"] != 1
        mock_aweber.advance_clock(30)
        assert client.get(url).status_code == 200


def test_rate_limit_can_be_switched_off() -> None:
    with MockServer(MockConfig(rate_limit_enabled=False)) as mock:
        token = get_token(mock)
        with httpx.Client(headers=bearer(token)) as client:
            statuses = {client.get(f"{mock.api_base}/accounts").status_code for _ in range(130)}
        assert statuses == {200}
        mock.check_errors()


@pytest.fixture(scope="module")
def cc_mock() -> MockServer:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        yield mock  # type: ignore[misc]
        mock.check_errors()


def cc_token(mock: MockServer, scope: str) -> str:
    params = {"response_type": "code", "client_id": "demo-confidential", "redirect_uri": OOB, "scope": scope}
    code = mock.approve(params, username="demo")["code"]
    response = httpx.post(
        f"{mock.url}/oauth2/default/v1/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_constant_contact_account_summary(cc_mock: MockServer) -> None:
    token = cc_token(cc_mock, "account_read contact_data offline_access")
    response = httpx.get(f"{cc_mock.url}/v3/account/summary", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["organization_name"] == "Demo Company"
    assert body["encoded_account_id"]


def test_constant_contact_errors_are_arrays(cc_mock: MockServer) -> None:
    unauthorized = httpx.get(f"{cc_mock.url}/v3/account/summary", headers=bearer("nope"))
    assert unauthorized.status_code == 401
    assert unauthorized.json() == [
        {"error_key": "unauthorized", "error_message": "The access token used is invalid."}
    ]
    forbidden = httpx.get(
        f"{cc_mock.url}/v3/account/summary", headers=bearer(cc_token(cc_mock, "contact_data"))
    )
    assert forbidden.status_code == 403
    assert forbidden.json()[0]["error_key"] == "forbidden"
    missing = httpx.get(f"{cc_mock.url}/v3/contacts")
    assert missing.status_code == 404
    assert isinstance(missing.json(), list)
    assert httpx.post(f"{cc_mock.url}/v3/account/summary").status_code == 405


def test_aweber_profile_has_no_v3_paths(mock_aweber: MockServer) -> None:
    assert httpx.get(f"{mock_aweber.url}/v3/account/summary").status_code == 404
