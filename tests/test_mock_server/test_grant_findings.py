"""The grant findings of issue 11, over real HTTP: a foreign client's code replay revokes nothing,
and PKCE values must match their pattern whole (a trailing newline is refused)."""

from __future__ import annotations

import httpx
import pytest

from mock_server import MockConfig, MockServer
from mock_server.authorize import s256

OOB = "urn:ietf:wg:oauth:2.0:oob"
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"


def _exchange(mock: MockServer, code: str, auth: tuple[str, str]) -> httpx.Response:
    return httpx.post(
        mock.token_url,
        auth=auth,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
    )


@pytest.mark.parametrize("bad_code_error", ["invalid_request", "invalid_grant"])
def test_a_foreign_client_replaying_a_used_code_revokes_nothing(bad_code_error: str) -> None:
    config = MockConfig(bad_code_error=bad_code_error)  # type: ignore[arg-type]
    with MockServer(config) as mock:
        mock.add_client("intruder", "intruder-secret", [OOB])
        params = {"client_id": "demo-confidential", "redirect_uri": OOB, "response_type": "code"}
        code = mock.approve({**params, "scope": "account.read"})["code"]
        victim = _exchange(mock, code, ("demo-confidential", "demo-secret"))
        assert victim.status_code == 200, victim.text
        tokens = victim.json()

        replay = _exchange(mock, code, ("intruder", "intruder-secret"))

        assert replay.status_code == 400
        # invalid_grant whatever bad_code_error is set to (RFC 6749 section 5.2).
        assert replay.json()["error"] == "invalid_grant"
        assert "another client" in replay.json()["error_description"]
        # The victim's grant is untouched: its access token works and its refresh token refreshes.
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{mock.api_base}/accounts", headers=bearer).status_code == 200
        refreshed = httpx.post(
            mock.token_url,
            auth=("demo-confidential", "demo-secret"),
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
        # The owner's own replay still revokes the grant (RFC 6749 section 4.1.2).
        assert _exchange(mock, code, ("demo-confidential", "demo-secret")).status_code == 400
        new_bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert httpx.get(f"{mock.api_base}/accounts", headers=new_bearer).status_code == 401


def _public_params(challenge: str) -> dict[str, str]:
    return {
        "client_id": "demo-public",
        "redirect_uri": OOB,
        "response_type": "code",
        "scope": "account.read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def test_a_code_challenge_with_a_trailing_newline_is_refused_at_authorize(mock_aweber: MockServer) -> None:
    challenge = s256(VERIFIER) + "\n"
    page = httpx.get(mock_aweber.authorize_url, params=_public_params(challenge))
    # A registered OOB redirect URI: the error is shown on the page, not redirected.
    assert page.status_code == 400
    assert "code_challenge must be" in page.text
    approved = httpx.post(
        f"{mock_aweber.url}/_mock/approve", json={**_public_params(challenge), "username": "demo"}
    )
    assert approved.status_code == 400
    assert approved.json()["error"] == "invalid_request"
    assert "code_challenge must be" in approved.json()["error_description"]


def test_a_code_verifier_with_a_trailing_newline_is_malformed(mock_aweber: MockServer) -> None:
    code = mock_aweber.approve(_public_params(s256(VERIFIER)))["code"]
    data = {"grant_type": "authorization_code", "code": code, "client_id": "demo-public"}
    answer = httpx.post(mock_aweber.token_url, data={**data, "code_verifier": VERIFIER + "\n"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "code_verifier must be 43 to 128 characters" in answer.json()["error_description"]
    # Refused as malformed, the code is not spent: the right verifier still redeems it.
    good = httpx.post(mock_aweber.token_url, data={**data, "code_verifier": VERIFIER})
    assert good.status_code == 200, good.text
