"""Per-token time control for QA over real HTTP (issue 11, item 4): expire one token now or in N
seconds, give a refresh token its remaining lifetime, revoke one grant; by the control API, the
handle and the dashboard's forms (CSRF, same origin), each refusal after with its QA verdict."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from mock_server import MockServer
from tests.test_mock_server.test_verdicts import api, connect, last_verdict, refresh


def grant_of(mock: MockServer, client_id: str = "demo-confidential") -> str:
    grants = {t["grant"] for t in mock.state()["tokens"] if t["client_id"] == client_id}
    assert len(grants) == 1, grants
    return grants.pop()


def test_an_access_token_expired_in_30_s_works_at_29_s_and_is_refused_at_31_s(
    mock_aweber: MockServer,
) -> None:
    mock_aweber.set_clock(1_800_000_000.0, frozen=True)
    tokens = connect(mock_aweber)
    other = connect(mock_aweber)  # another grant of the same client: untouched
    assert mock_aweber.expire_tokens(access_token=tokens["access_token"], in_seconds=30) == 1

    mock_aweber.advance_clock(29)
    assert api(mock_aweber, tokens["access_token"]).status_code == 200
    mock_aweber.advance_clock(2)
    refused = api(mock_aweber, tokens["access_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"  # the wire answer is the usual one
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "expired"
    assert verdict["summary"].startswith("the access token expired by QA: set at 1800000000.000")
    assert verdict["cause"] == {"by": "qa", "at": 1_800_000_000.0, "expires_at": 1_800_000_030.0}
    assert api(mock_aweber, other["access_token"]).status_code == 200
    # The grant's refresh token still works.
    assert refresh(mock_aweber, tokens["refresh_token"]).status_code == 200


def test_expire_now_is_the_default_and_is_explained_once_purged(mock_aweber: MockServer) -> None:
    tokens = connect(mock_aweber)
    assert mock_aweber.expire_tokens(grant=grant_of(mock_aweber)) == 1
    connect(mock_aweber)  # a token request purges the expired token: its verdict is remembered
    assert api(mock_aweber, tokens["access_token"]).status_code == 401
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "expired"
    assert verdict["cause"]["by"] == "qa"
    assert "expired by QA" in verdict["summary"]


def test_a_refresh_token_given_30_s_refreshes_at_29_s_and_is_refused_at_31_s(mock_aweber: MockServer) -> None:
    mock_aweber.set_clock(1_800_000_000.0, frozen=True)
    early = connect(mock_aweber)
    late = connect(mock_aweber)
    assert mock_aweber.set_refresh_lifetime(30, refresh_token=early["refresh_token"]) == 1
    assert mock_aweber.set_refresh_lifetime(30, refresh_token=late["refresh_token"]) == 1
    lives = {t["expires_in"] for t in mock_aweber.state()["tokens"] if t["type"] == "refresh"}
    assert lives == {30}

    mock_aweber.advance_clock(29)
    assert refresh(mock_aweber, early["refresh_token"]).status_code == 200
    mock_aweber.advance_clock(2)
    answer = refresh(mock_aweber, late["refresh_token"])
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid or expired.",
    }
    verdict = last_verdict(mock_aweber)
    assert verdict["reason"] == "expired"
    assert verdict["summary"] == (
        "the refresh token expired by QA: set at 1800000000.000 to expire at 1800000030.000"
    )
    assert verdict["cause"] == {"by": "qa", "at": 1_800_000_000.0, "expires_at": 1_800_000_030.0}


def test_revoke_one_grant_leaves_the_others(mock_aweber: MockServer) -> None:
    first = connect(mock_aweber)
    grant = grant_of(mock_aweber)
    second = connect(mock_aweber)
    assert mock_aweber.revoke_grant(grant) == 2
    assert refresh(mock_aweber, second["refresh_token"]).status_code == 200
    refresh(mock_aweber, first["refresh_token"])
    assert last_verdict(mock_aweber)["cause"]["by"] == "qa"


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        ("tokens/expire", {"in_seconds": -1}, "'in_seconds' must be 0 or more seconds"),
        ("tokens/expire", {"in_seconds": "soon"}, "'in_seconds' must be a number of seconds"),
        ("tokens/expire", {"in": 5}, "unknown field 'in'"),
        ("tokens/lifetime", {"grant": "g"}, "'seconds' is required"),
        ("tokens/lifetime", {"seconds": 5}, "name the refresh token"),
        ("tokens/lifetime", {"grant": "g", "seconds": -5}, "'seconds' must be 0 or more seconds"),
        ("tokens/lifetime", {"grant": "g", "seconds": True}, "'seconds' must be a number of seconds"),
        ("tokens/revoke", {"refresh_token": 7}, "'refresh_token' must be a non-empty string"),
    ],
)
def test_bad_time_control_calls_get_a_400_naming_the_problem(
    mock_aweber: MockServer, path: str, body: dict[str, object], problem: str
) -> None:
    mock_aweber.set_clock(frozen=True)  # the state compared below holds times left
    connect(mock_aweber)
    before = mock_aweber.state()["tokens"]
    answer = httpx.post(f"{mock_aweber.url}/_mock/{path}", json=body)
    assert answer.status_code == 400
    assert problem in answer.json()["error_description"]
    assert mock_aweber.state()["tokens"] == before


def test_the_lifetime_call_obeys_the_control_plane_rules(mock_aweber: MockServer) -> None:
    connect(mock_aweber)
    grant = grant_of(mock_aweber)
    url = f"{mock_aweber.url}/_mock/tokens/lifetime"
    as_text = httpx.post(
        url, content=f'{{"grant": "{grant}", "seconds": 0}}', headers={"Content-Type": "text/plain"}
    )
    assert as_text.status_code == 415
    cross = httpx.post(url, json={"grant": grant, "seconds": 0}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert {t["expires_in"] for t in mock_aweber.state()["tokens"] if t["type"] == "refresh"} == {None}


@pytest.fixture
def browser_like(mock_aweber: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock_aweber.url) as client:
        yield client


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_dashboard_expires_access_tokens_in_n_seconds_and_sets_the_refresh_lifetime(
    mock_aweber: MockServer, browser_like: httpx.Client
) -> None:
    mock_aweber.set_clock(1_800_000_000.0, frozen=True)
    tokens = connect(mock_aweber)
    grant = grant_of(mock_aweber)
    csrf = _csrf(browser_like.get("/_mock/").text)

    done = browser_like.post(
        "/_mock/dashboard/tokens/expire", data={"grant": grant, "in_seconds": "30", "csrf_token": csrf}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/_mock/?done=expiring"
    done = browser_like.post(
        "/_mock/dashboard/tokens/lifetime", data={"grant": grant, "seconds": "60", "csrf_token": csrf}
    )
    assert done.headers["location"] == "/_mock/?done=lifetime"
    lives = {t["type"]: t["expires_in"] for t in mock_aweber.state()["tokens"]}
    assert lives == {"access": 30, "refresh": 60}

    mock_aweber.advance_clock(31)
    assert api(mock_aweber, tokens["access_token"]).status_code == 401
    page = browser_like.get("/_mock/").text
    assert "the access token expired by QA: set at 1800000000.000" in page  # the log's verdict column
    mock_aweber.advance_clock(30)
    refresh(mock_aweber, tokens["refresh_token"])
    assert "the refresh token expired by QA" in browser_like.get("/_mock/").text


@pytest.mark.parametrize(
    ("data", "problem"),
    [({"seconds": "soon"}, "must be a number"), ({"seconds": "-1"}, "between 0 and"), ({}, "is missing")],
)
def test_dashboard_lifetime_form_refuses_bad_seconds(
    mock_aweber: MockServer, browser_like: httpx.Client, data: dict[str, str], problem: str
) -> None:
    connect(mock_aweber)
    grant = grant_of(mock_aweber)
    csrf = _csrf(browser_like.get("/_mock/").text)
    answer = browser_like.post(
        "/_mock/dashboard/tokens/lifetime", data={"grant": grant, "csrf_token": csrf, **data}
    )
    assert answer.status_code == 400
    assert problem in answer.text
    assert {t["expires_in"] for t in mock_aweber.state()["tokens"] if t["type"] == "refresh"} == {None}


def test_dashboard_time_forms_need_their_csrf_token_and_own_origin(
    mock_aweber: MockServer, browser_like: httpx.Client
) -> None:
    connect(mock_aweber)
    grant = grant_of(mock_aweber)
    csrf = _csrf(browser_like.get("/_mock/").text)
    form = {"grant": grant, "seconds": "0"}
    assert browser_like.post("/_mock/dashboard/tokens/lifetime", data=form).status_code == 403
    cross = browser_like.post(
        "/_mock/dashboard/tokens/lifetime",
        data={**form, "csrf_token": csrf},
        headers={"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
    )
    assert cross.status_code == 403
    assert {t["expires_in"] for t in mock_aweber.state()["tokens"] if t["type"] == "refresh"} == {None}
