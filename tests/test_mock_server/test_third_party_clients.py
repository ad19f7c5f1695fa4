"""Unmodified third-party OAuth clients complete the whole flow against the live mock.

requests-oauthlib's ``OAuth2Session`` is used exactly as AWeber's Python samples use it
(providers.md A12), and Authlib's httpx ``OAuth2Client`` as a public client with PKCE S256.
Only base URLs change. Expiry is made by moving the mock's clock; the clients keep their own
clock, so their stored ``expires_at`` moves back by the same amount ("the app runs again two
hours later").
"""

from __future__ import annotations

import re
import warnings
from typing import Any
from urllib.parse import urljoin

import authlib.deprecate  # noqa: F401 - installs its warning filter before ours below
import httpx
import pytest
from authlib.common.security import generate_token
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from requests_oauthlib import OAuth2Session

from mock_server import MockServer

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns when it falls back to httpx at import.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"
SCOPES = ["account.read", "list.read", "subscriber.read"]


def log_in_and_allow(authorization_url: str) -> httpx.Response:
    """Drive the real login form over HTTP, as a browser would; returns the answer to Allow."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200
        assert "Allow access" in page.text
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert form_token
        assert action
        return browser.post(
            urljoin(authorization_url, action.group(1)),
            data={
                "form_token": form_token.group(1),
                "username": "demo",
                "password": "demo",
                "decision": "allow",
            },
        )


def oob_code(answer: httpx.Response) -> str:
    assert answer.status_code == 200
    match = re.search(r'id="code" name="code" value="([^"]+)"', answer.text)
    assert match
    return match.group(1)


def accounts(mock: MockServer, access_token: str) -> httpx.Response:
    return httpx.get(f"{mock.api_base}/accounts", headers={"Authorization": f"Bearer {access_token}"})


def test_requests_oauthlib_as_aweber_documents_it(
    mock_aweber: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the mock is plain http on loopback
    client_id, client_secret = "demo-confidential", "demo-secret"
    oauth = OAuth2Session(client_id, redirect_uri=CALLBACK, scope=SCOPES)
    authorization_url, state = oauth.authorization_url(mock_aweber.authorize_url)
    answer = log_in_and_allow(authorization_url)
    assert answer.status_code == 302
    redirected = answer.headers["location"]
    assert redirected.startswith(CALLBACK + "?state=" + state + "&code=")
    token = oauth.fetch_token(
        mock_aweber.token_url, client_secret=client_secret, authorization_response=redirected
    )
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 7200
    assert accounts(mock_aweber, token["access_token"]).status_code == 200

    refreshed = oauth.refresh_token(mock_aweber.token_url, client_id=client_id, client_secret=client_secret)
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert accounts(mock_aweber, refreshed["access_token"]).status_code == 200

    # Two hours later: the mock's clock moves, and so does the time the stored token was issued.
    mock_aweber.advance_clock(7201)
    assert accounts(mock_aweber, refreshed["access_token"]).status_code == 401
    stored: dict[str, Any] = dict(refreshed)
    stored["expires_at"] = float(stored["expires_at"]) - 7201
    saved: list[dict[str, Any]] = []
    session = OAuth2Session(
        client_id,
        token=stored,
        auto_refresh_url=mock_aweber.token_url,
        auto_refresh_kwargs={"client_id": client_id, "client_secret": client_secret},
        token_updater=saved.append,
    )
    response = session.get(f"{mock_aweber.api_base}/accounts")
    assert response.status_code == 200
    assert response.json()["entries"][0]["id"] == 1
    assert len(saved) == 1
    assert saved[0]["refresh_token"] not in (token["refresh_token"], refreshed["refresh_token"])
    # the rotated-away token is dead in the aweber profile
    with pytest.raises(InvalidGrantError, match="invalid_grant"):
        oauth.refresh_token(mock_aweber.token_url, client_id=client_id, client_secret=client_secret)


def test_requests_oauthlib_auto_refresh_after_the_mock_expires_tokens(
    mock_aweber: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth2Session("demo-confidential", redirect_uri=OOB, scope=SCOPES)
    authorization_url, _ = oauth.authorization_url(mock_aweber.authorize_url)
    code = oob_code(log_in_and_allow(authorization_url))
    token = oauth.fetch_token(mock_aweber.token_url, code=code, client_secret="demo-secret")
    assert mock_aweber.expire_tokens(access_token=token["access_token"]) == 1
    assert accounts(mock_aweber, token["access_token"]).status_code == 401
    stored = dict(token)
    stored["expires_at"] = 1.0  # what the client learns from the 401: the token is over
    saved: list[dict[str, Any]] = []
    session = OAuth2Session(
        "demo-confidential",
        token=stored,
        auto_refresh_url=mock_aweber.token_url,
        auto_refresh_kwargs={"client_id": "demo-confidential", "client_secret": "demo-secret"},
        token_updater=saved.append,
    )
    assert session.get(f"{mock_aweber.api_base}/accounts").status_code == 200
    assert len(saved) == 1
    assert saved[0]["access_token"] != token["access_token"]


def test_authlib_httpx_client_with_pkce_through_expiry_and_refresh(mock_aweber: MockServer) -> None:
    verifier = generate_token(64)
    with OAuth2Client(
        client_id="demo-public",
        token_endpoint_auth_method="none",
        redirect_uri=OOB,
        scope=" ".join(SCOPES),
        code_challenge_method="S256",
    ) as client:
        url, _state = client.create_authorization_url(mock_aweber.authorize_url, code_verifier=verifier)
        assert "code_challenge=" in url
        assert "code_challenge_method=S256" in url
        code = oob_code(log_in_and_allow(url))
        token = client.fetch_token(mock_aweber.token_url, code=code, code_verifier=verifier)
        assert token["token_type"] == "bearer"
        assert accounts(mock_aweber, token["access_token"]).status_code == 200
        refreshed = client.refresh_token(mock_aweber.token_url)
        assert refreshed["refresh_token"] != token["refresh_token"]

    mock_aweber.advance_clock(7201)
    assert accounts(mock_aweber, refreshed["access_token"]).status_code == 401
    stored = dict(refreshed)
    stored["expires_at"] = int(stored["expires_at"]) - 7201
    updates: list[dict[str, Any]] = []

    def update_token(new: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
        updates.append(new)

    with OAuth2Client(
        client_id="demo-public",
        token_endpoint_auth_method="none",
        token=stored,
        token_endpoint=mock_aweber.token_url,
        update_token=update_token,
    ) as client:
        response = client.get(f"{mock_aweber.api_base}/accounts")
        assert response.status_code == 200
    assert len(updates) == 1
    assert updates[0]["access_token"] != refreshed["access_token"]
    events = [e for e in mock_aweber.events() if e.get("grant_type") == "refresh_token"]
    assert [e["result"] for e in events] == ["ok", "ok"]
    assert all(e["client_id"] == "demo-public" for e in events)
