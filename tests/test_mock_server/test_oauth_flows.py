"""The authorization server over real HTTP in the forms AWeber's own clients and samples use."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mock_server import MockConfig, MockServer, MockServerError
from mock_server.authorize import s256

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"
CONF_AUTH = ("demo-confidential", "demo-secret")
PUBLIC_PARAMS = {
    "client_id": "demo-public",
    "redirect_uri": OOB,
    "response_type": "code",
    "scope": "account.read list.read subscriber.read subscriber.write landing-page.read",
    "state": "wp-state",
    "code_challenge": s256(VERIFIER),
    "code_challenge_method": "S256",
}


def confidential_code(mock: MockServer, redirect_uri: str = OOB, state: str = "st") -> str:
    params = {
        "client_id": "demo-confidential",
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "account.read",
        "state": state,
    }
    return str(mock.approve(params)["code"])


def test_token_answer_is_exactly_aweber_s(mock_aweber: MockServer) -> None:
    code = confidential_code(mock_aweber)
    answer = httpx.post(
        mock_aweber.token_url,
        auth=CONF_AUTH,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body = answer.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "state"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["state"] == "st"
    assert len(body["access_token"]) == 32


def test_php_pkce_sample_sends_everything_in_the_query_string(mock_aweber: MockServer) -> None:
    code = mock_aweber.approve(PUBLIC_PARAMS)["code"]
    query = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "demo-public",
        "code_verifier": VERIFIER,
    }
    answer = httpx.post(mock_aweber.token_url, params=query)
    assert answer.status_code == 200, answer.text
    logged = str(mock_aweber.events())
    assert code not in logged
    assert VERIFIER not in logged
    assert answer.json()["access_token"] not in logged
    # the WordPress plugin's refresh: form body with client_id, no Authorization header
    refresh = httpx.post(
        mock_aweber.token_url,
        data={
            "client_id": "demo-public",
            "grant_type": "refresh_token",
            "refresh_token": answer.json()["refresh_token"],
        },
    )
    assert refresh.status_code == 200
    # the WordPress plugin's revoke: client_id, token, token_type_hint in the body
    revoked = httpx.post(
        mock_aweber.revoke_url,
        data={
            "client_id": "demo-public",
            "token": refresh.json()["refresh_token"],
            "token_type_hint": "refresh_token",
        },
    )
    assert revoked.status_code == 200
    check = httpx.get(
        f"{mock_aweber.api_base}/accounts",
        headers={"Authorization": f"Bearer {refresh.json()['access_token']}"},
    )
    assert check.status_code == 401


def test_php_sample_refreshes_with_basic_and_a_json_body(mock_aweber: MockServer) -> None:
    code = confidential_code(mock_aweber)
    first = httpx.post(
        mock_aweber.token_url,
        json={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=CONF_AUTH,
    ).json()
    answer = httpx.post(
        mock_aweber.token_url,
        json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=CONF_AUTH,
    )
    assert answer.status_code == 200
    assert answer.json()["refresh_token"] != first["refresh_token"]


@pytest.mark.parametrize("where", ["body", "query"])
def test_client_credentials_in_body_or_query(mock_aweber: MockServer, where: str) -> None:
    code = confidential_code(mock_aweber)
    creds = {"client_id": "demo-confidential", "client_secret": "demo-secret"}
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
    if where == "body":
        answer = httpx.post(mock_aweber.token_url, data={**data, **creds})
    else:
        answer = httpx.post(mock_aweber.token_url, data=data, params=creds)
    assert answer.status_code == 200


def test_public_client_may_use_basic_with_a_blank_secret(mock_aweber: MockServer) -> None:
    code = mock_aweber.approve(PUBLIC_PARAMS)["code"]
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER}
    answer = httpx.post(mock_aweber.token_url, data=data, auth=("demo-public", ""))
    assert answer.status_code == 200
    revoked = httpx.post(
        mock_aweber.revoke_url, data={"token": answer.json()["access_token"]}, auth=("demo-public", "")
    )
    assert revoked.status_code == 200
    again = httpx.post(mock_aweber.revoke_url, data={"token": "never-issued"}, auth=("demo-public", ""))
    assert again.status_code == 200  # RFC 7009 2.2: unknown tokens are not an error


def test_redirect_puts_state_before_code_and_keeps_the_registered_query(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("q-app", "q-secret", ["https://app.example/cb?tenant=7"], "Query app")
    approved = mock_aweber.approve(
        {
            "client_id": "q-app",
            "redirect_uri": "https://app.example/cb?tenant=7",
            "response_type": "code",
            "scope": "account.read",
            "state": "abc",
        }
    )
    assert approved["redirect"] == f"https://app.example/cb?tenant=7&state=abc&code={approved['code']}"


def test_login_form_over_http_nonce_is_single_use(mock_aweber: MockServer) -> None:
    with httpx.Client(base_url=mock_aweber.url, follow_redirects=False) as browser:
        page = browser.get("/oauth2/authorize", params={**PUBLIC_PARAMS, "redirect_uri": CALLBACK})
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "form-action 'self' http://127.0.0.1:8000" in page.headers["content-security-policy"]
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token
        form = {"form_token": token.group(1), "username": "demo", "password": "demo", "decision": "allow"}
        allowed = browser.post("/oauth2/authorize", data=form)
        assert allowed.status_code == 302
        location = allowed.headers["location"]
        assert location.startswith(CALLBACK + "?state=wp-state&code=")
        again = browser.post("/oauth2/authorize", data=form)
        assert again.status_code == 400
        assert "expired or was already used" in again.text
        code = parse_qs(urlsplit(location).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "demo-public",
        "code_verifier": VERIFIER,
    }
    assert httpx.post(mock_aweber.token_url, data=data).status_code == 200


def test_posted_authorization_request_shows_the_login_page(mock_aweber: MockServer) -> None:
    answer = httpx.post(mock_aweber.authorize_url, data=PUBLIC_PARAMS)
    assert answer.status_code == 200
    assert "Allow access" in answer.text


def test_pages_escape_what_they_echo(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("xss", "s", [OOB], "<script>alert(1)</script>")
    page = httpx.get(
        mock_aweber.authorize_url,
        params={"client_id": "xss", "redirect_uri": OOB, "response_type": "code", "scope": "account.read"},
    )
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_security_headers_on_every_response(mock_aweber: MockServer) -> None:
    for response in (
        httpx.get(f"{mock_aweber.url}/no-such-page"),
        httpx.get(f"{mock_aweber.api_base}/accounts"),
        httpx.post(mock_aweber.token_url, data={}),
    ):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_token_events_are_annotated_without_secrets(mock_aweber: MockServer) -> None:
    code = confidential_code(mock_aweber)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
    ok = httpx.post(mock_aweber.token_url, data=data, auth=CONF_AUTH).json()
    httpx.post(mock_aweber.token_url, data=data, auth=CONF_AUTH)
    events = [e for e in mock_aweber.events() if e["path"] == "/oauth2/token"]
    assert [(e["grant_type"], e["client_id"], e["result"]) for e in events] == [
        ("authorization_code", "demo-confidential", "ok"),
        ("authorization_code", "demo-confidential", "invalid_request"),
    ]
    text = str(mock_aweber.events())
    for secret in (code, ok["access_token"], ok["refresh_token"], "demo-secret"):
        assert secret not in text


def test_config_switch_answers_invalid_grant_for_bad_codes() -> None:
    with MockServer(MockConfig(bad_code_error="invalid_grant", authorize_errors="page")) as mock:
        answer = httpx.post(
            mock.token_url,
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": OOB},
            auth=CONF_AUTH,
        )
        assert answer.json()["error"] == "invalid_grant"
        page = httpx.get(
            mock.authorize_url,
            params={
                "client_id": "demo-confidential",
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "scope": "bad",
            },
        )
        assert page.status_code == 400
        assert "<code>invalid_scope</code>" in page.text
        mock.check_errors()


def test_constantcontact_profile_paths_scopes_and_tokens() -> None:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        base = f"{mock.url}/oauth2/default/v1"
        params = {
            "client_id": "demo-confidential",
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "account_read contact_data offline_access",
            "state": "cc",
        }
        page = httpx.get(f"{base}/authorize", params=params)
        assert page.status_code == 200
        assert "Constant Contact" in page.text
        assert "Stay connected when you are not using the application" in page.text
        code = mock.approve(params)["code"]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        first = httpx.post(f"{base}/token", data=data, auth=CONF_AUTH).json()
        assert first["expires_in"] == 86400
        assert first["scope"] == "account_read contact_data offline_access"
        assert first["access_token"].count(".") == 2  # JWT-shaped, with an exp claim
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = httpx.post(f"{base}/token", data=refresh, auth=CONF_AUTH)
        assert second.status_code == 200
        reuse = httpx.post(f"{base}/token", data=refresh, auth=CONF_AUTH)
        assert reuse.json()["error"] == "invalid_grant"
        again = {"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]}
        assert httpx.post(f"{base}/token", data=again, auth=CONF_AUTH).json()["error"] == "invalid_grant"
        mock.check_errors()


def test_per_client_policy_from_the_control_api(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("strict", "s", [OOB], "Strict app", refresh_policy={"reuse_detection": True})
    mock_aweber.add_client("cc-like", "s", [OOB], "CC-like app", refresh_policy="constantcontact")
    code = mock_aweber.approve(
        {"client_id": "strict", "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}
    )
    data = {"grant_type": "authorization_code", "code": code["code"], "redirect_uri": OOB}
    first = httpx.post(mock_aweber.token_url, data=data, auth=("strict", "s")).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = httpx.post(mock_aweber.token_url, data=refresh, auth=("strict", "s")).json()
    reuse = httpx.post(mock_aweber.token_url, data=refresh, auth=("strict", "s"))
    assert reuse.status_code == 400
    assert "reuse detection" in reuse.json()["error_description"]
    check = httpx.get(
        f"{mock_aweber.api_base}/accounts", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert check.status_code == 401
    clients = {c["client_id"]: c for c in mock_aweber.state()["clients"]}
    assert clients["strict"]["refresh_policy"] == {"reuse_detection": True}
    assert clients["cc-like"]["refresh_policy"] == {"profile": "constantcontact"}
    assert mock_aweber.state()["tokens"] == []


def test_control_api_refuses_bad_registrations(mock_aweber: MockServer) -> None:
    with pytest.raises(MockServerError, match="must be an absolute http"):
        mock_aweber.add_client("bad", None, ["javascript:alert(1)"], "Bad")
    with pytest.raises(MockServerError, match="unknown option"):
        mock_aweber.add_client("bad2", None, [OOB], "Bad", refresh_policy={"grace": 1})
