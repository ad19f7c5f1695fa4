"""Verdicts over real HTTP: every refusal kind's event names its reason and cause, the answer on
the wire stays the provider's, and no verdict holds a secret (issue 11, item 3)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mock_server import MockConfig, MockServer
from mock_server.authorize import s256

OOB = "urn:ietf:wg:oauth:2.0:oob"
CONFIDENTIAL = ("demo-confidential", "demo-secret")
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"


def approve(mock: MockServer, client_id: str = "demo-confidential", **extra: str) -> str:
    params = {"client_id": client_id, "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}
    return str(mock.approve({**params, **extra})["code"])


def exchange(
    mock: MockServer, code: str, auth: tuple[str, str] | None = CONFIDENTIAL, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB, **extra}
    return httpx.post(mock.token_url, auth=auth, data=data)


def connect(mock: MockServer, client: tuple[str, str] = CONFIDENTIAL) -> dict[str, Any]:
    answer = exchange(mock, approve(mock, client[0]), client)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def refresh(
    mock: MockServer, token: str, auth: tuple[str, str] = CONFIDENTIAL, **extra: str
) -> httpx.Response:
    return httpx.post(
        mock.token_url, auth=auth, data={"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


def api(mock: MockServer, access_token: str, path: str = "/accounts") -> httpx.Response:
    return httpx.get(f"{mock.api_base}{path}", headers={"Authorization": f"Bearer {access_token}"})


def last_verdict(mock: MockServer) -> dict[str, Any]:
    event = mock.events()[-1]
    assert event["status"] >= 400, event
    verdict: dict[str, Any] = event["verdict"]
    return verdict


def request_number(mock: MockServer, event_index: int = -1) -> int:
    return int(mock.events()[event_index]["request"])


def test_an_expired_access_token_and_code_say_when_they_expired(mock_aweber: MockServer) -> None:
    code = approve(mock_aweber)
    issued_at = mock_aweber.now()
    mock_aweber.advance_clock(601)
    answer = exchange(mock_aweber, code)
    assert (
        answer.json()["error_description"] == "The authorization code is invalid or expired; authorize again"
    )
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "expired"
    assert verdict["cause"]["by"] == "clock"
    assert verdict["cause"]["at"] == pytest.approx(issued_at + 600, abs=1)

    tokens = connect(mock_aweber)
    mock_aweber.advance_clock(7201)
    assert api(mock_aweber, tokens["access_token"]).status_code == 401
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "expired"
    assert "its lifetime ran out" in verdict["summary"]
    assert verdict["cause"]["by"] == "clock"


def test_a_token_revoked_by_qa_says_so(mock_aweber: MockServer) -> None:
    tokens = connect(mock_aweber)
    grant = mock_aweber.state()["tokens"][0]["grant"]
    revoked_at = mock_aweber.now()
    assert mock_aweber.revoke_grant(grant) == 2

    answer = refresh(mock_aweber, tokens["refresh_token"])
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid or expired.",
    }
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "revoked"
    assert verdict["summary"] == "the token was revoked by QA (a control call or the dashboard)"
    assert verdict["cause"]["by"] == "qa"
    assert verdict["cause"]["at"] == pytest.approx(revoked_at, abs=1)
    assert api(mock_aweber, tokens["access_token"]).status_code == 401
    assert last_verdict(mock_aweber)["cause"]["by"] == "qa"


def test_a_token_revoked_by_the_clients_revoke_request_names_that_request(mock_aweber: MockServer) -> None:
    tokens = connect(mock_aweber)
    revoked = httpx.post(mock_aweber.revoke_url, auth=CONFIDENTIAL, data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    revoke_number = request_number(mock_aweber)

    refresh(mock_aweber, tokens["refresh_token"])
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "revoked"
    assert verdict["cause"]["by"] == "client_revoke"
    assert verdict["cause"]["request"] == revoke_number
    assert "the client's revoke request" in verdict["summary"]


def test_reuse_detection_names_the_rotating_request_and_revokes_the_grant(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("strict", "strict-secret", [OOB], refresh_policy={"reuse_detection": True})
    strict = ("strict", "strict-secret")
    first = connect(mock_aweber, strict)
    rotated = refresh(mock_aweber, first["refresh_token"], strict)
    assert rotated.status_code == 200
    rotation_number = request_number(mock_aweber)
    rotated_at = mock_aweber.now()
    mock_aweber.advance_clock(5)

    reuse = refresh(mock_aweber, first["refresh_token"], strict)
    assert reuse.json()["error"] == "invalid_grant"
    assert "reuse detection" in reuse.json()["error_description"]
    reuse_number = request_number(mock_aweber)
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "refresh_token_reused"
    assert verdict["summary"] == "reuse of a rotated refresh token: the grant was revoked"
    assert verdict["effect"] == "the grant was revoked"
    assert verdict["cause"]["by"] == "token_request"
    assert verdict["cause"]["request"] == rotation_number
    assert verdict["cause"]["at"] == pytest.approx(rotated_at, abs=1)

    # The newest token died with the grant; its refusal names the reuse as the cause.
    refresh(mock_aweber, rotated.json()["refresh_token"], strict)
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "revoked"
    assert verdict["cause"] == {
        "by": "reuse_detection",
        "at": pytest.approx(rotated_at + 5, abs=1),
        "request": reuse_number,
    }


def test_a_rotated_token_reused_without_reuse_detection_revokes_nothing(mock_aweber: MockServer) -> None:
    first = connect(mock_aweber)
    rotated = refresh(mock_aweber, first["refresh_token"])
    rotation_number = request_number(mock_aweber)

    reuse = refresh(mock_aweber, first["refresh_token"])
    assert reuse.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token was rotated: use the newest refresh token",
    }
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "refresh_token_rotated"
    assert verdict["cause"]["request"] == rotation_number
    assert verdict["effect"].startswith("nothing was revoked")
    assert refresh(mock_aweber, rotated.json()["refresh_token"]).status_code == 200


def test_a_replayed_code_names_the_exchange_that_used_it(mock_aweber: MockServer) -> None:
    code = approve(mock_aweber)
    tokens = exchange(mock_aweber, code).json()
    exchange_number = request_number(mock_aweber)

    replay = exchange(mock_aweber, code)
    assert replay.json() == {
        "error": "invalid_request",
        "error_description": (
            "The authorization code was already used; the tokens issued from it are now revoked"
        ),
    }
    replay_number = request_number(mock_aweber)
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "code_reused"
    assert verdict["cause"]["request"] == exchange_number
    assert verdict["effect"] == "the grant issued from it was revoked"

    assert api(mock_aweber, tokens["access_token"]).status_code == 401
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "revoked"
    assert verdict["cause"]["by"] == "code_replay"
    assert verdict["cause"]["request"] == replay_number


def test_a_wrong_verifier_is_named(mock_aweber: MockServer) -> None:
    code = approve(mock_aweber, "demo-public", code_challenge=s256(VERIFIER), code_challenge_method="S256")
    answer = exchange(mock_aweber, code, None, client_id="demo-public", code_verifier="x" * 43)
    assert answer.json()["error_description"] == "code_verifier does not match the code_challenge"
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "verifier_mismatch"
    assert mock_aweber.events()[-1]["client_id"] == "demo-public"


def test_a_wrong_client_is_named_with_the_owner(mock_aweber: MockServer) -> None:
    mock_aweber.add_client("other", "other-secret", [OOB])
    code = approve(mock_aweber)
    exchange(mock_aweber, code, ("other", "other-secret"))
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "wrong_client"
    assert verdict["cause"] == {"issued_to": "demo-confidential"}

    tokens = connect(mock_aweber)
    refresh(mock_aweber, tokens["refresh_token"], ("other", "other-secret"))
    assert last_verdict(mock_aweber)["reason"] == "wrong_client"


def test_a_wrong_redirect_uri_is_named_with_the_expected_one(mock_aweber: MockServer) -> None:
    code = approve(mock_aweber)
    exchange(mock_aweber, code, redirect_uri="http://127.0.0.1:8000/callback")
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "redirect_uri_mismatch"
    assert verdict["cause"] == {"expected": OOB}


def test_a_scope_not_granted_is_named_at_refresh_and_at_the_api(mock_aweber: MockServer) -> None:
    tokens = connect(mock_aweber)  # account.read only
    answer = refresh(mock_aweber, tokens["refresh_token"], scope="account.read list.read")
    assert answer.json()["error"] == "invalid_scope"
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "scope_not_granted"
    assert verdict["cause"] == {"granted": ["account.read"], "not_granted": ["list.read"]}

    account = api(mock_aweber, tokens["access_token"]).json()["entries"][0]["id"]
    assert api(mock_aweber, tokens["access_token"], f"/accounts/{account}/lists").status_code == 403
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "scope_not_granted"
    assert verdict["cause"]["needed"] == "list.read"


def test_a_rate_limit_names_the_account_and_the_lock_out() -> None:
    with MockServer(MockConfig(rate_limit_per_minute=2, rate_limit_lockout=60)) as mock:
        tokens = connect(mock)
        assert [api(mock, tokens["access_token"]).status_code for _ in range(3)] == [200, 200, 403]
        event = mock.events()[-1]
        assert event["result"] == "rate_limited"
        assert event["client_id"] == "demo-confidential"
        verdict = event["verdict"]
        assert verdict["reason"] == "rate_limited"
        assert verdict["cause"]["limit_per_minute"] == 2
        assert verdict["cause"]["until"] == pytest.approx(mock.now() + 60, abs=1)


def test_plain_refusals_carry_their_error_as_the_reason(mock_aweber: MockServer) -> None:
    httpx.post(mock_aweber.token_url, auth=CONFIDENTIAL, data={"grant_type": "password"})
    assert last_verdict(mock_aweber)["reason"] == "unsupported_grant_type"
    httpx.post(
        mock_aweber.token_url, auth=("demo-confidential", "wrong"), data={"grant_type": "refresh_token"}
    )
    assert last_verdict(mock_aweber)["reason"] == "invalid_client"
    refresh(mock_aweber, "never-issued")
    assert last_verdict(mock_aweber)["reason"] == "unknown"


def test_no_verdict_or_event_holds_a_secret(mock_aweber: MockServer) -> None:
    code = approve(mock_aweber)
    tokens = exchange(mock_aweber, code).json()
    exchange(mock_aweber, code)  # replay: revokes
    refresh(mock_aweber, tokens["refresh_token"])
    api(mock_aweber, tokens["access_token"])
    text = json.dumps(mock_aweber.events())
    for secret in (code, tokens["access_token"], tokens["refresh_token"], "demo-secret"):
        assert secret not in text
