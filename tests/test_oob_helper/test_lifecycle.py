"""The whole token lifecycle against the live mock, for the AWeber and Constant Contact profiles.

Connect (public and confidential clients, code or pasted redirect URL), use the API, move both
clocks past expiry, refresh (proactive, on demand, after a 401), lose the grant (refresh-token
reuse, revocation) and disconnect with revoke. The helper keeps its own clock; tests move it
together with the mock's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from secret_sweep import SecretSweep

from mock_server import MockConfig, MockServer
from oob_helper import (
    AWEBER,
    CONSTANT_CONTACT,
    InstallRecord,
    InvalidRequest,
    OAuthHelper,
    ReauthorizationRequired,
    ServerError,
    Settings,
    StateMismatch,
    Token,
    open_store,
)
from oob_helper.transport import Transport

INSTALL = "blog.example"
CLIENTS = {"public": ("demo-public", None), "confidential": ("demo-confidential", "demo-secret")}


class FakeClock:
    """The helper's clock, moved by the tests in step with the mock's."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Env:
    mock: MockServer
    profile: str
    clock: FakeClock
    helpers: list[OAuthHelper] = dataclasses.field(default_factory=list)
    sweep: SecretSweep | None = None  # when set, every helper's HTTP goes through its recorder
    clients: list[httpx.Client] = dataclasses.field(default_factory=list)

    @property
    def provider(self) -> Any:
        if self.profile == "constantcontact":
            return CONSTANT_CONTACT.with_bases(self.mock.url, f"{self.mock.url}/v3")
        return AWEBER.with_bases(self.mock.url, self.mock.api_base)

    def helper(self, kind: str = "public", http: httpx.Client | None = None, **settings: Any) -> OAuthHelper:
        client_id, secret = CLIENTS[kind]
        merged: dict[str, Any] = {"client_id": client_id, "client_secret": secret, **settings}
        if http is None and self.sweep is not None:
            http = self.sweep.http_client()
            self.clients.append(http)
        transport = Transport(http, sleep=lambda _s: None)
        h = OAuthHelper(
            Settings(provider=self.provider, **merged),
            open_store("memory://"),
            clock=self.clock,
            transport=transport,
        )
        self.helpers.append(h)
        return h

    def advance(self, seconds: float) -> None:
        self.mock.advance_clock(seconds)
        self.clock.now += seconds

    def token_events(self, grant_type: str | None = None) -> list[dict[str, Any]]:
        events = [e for e in self.mock.events() if str(e.get("path", "")).endswith("/token")]
        return [e for e in events if grant_type is None or e.get("grant_type") == grant_type]

    def api_status(self, token: Token) -> int:
        path = self.provider.api_base + (self.provider.account_path or "")
        with _Plain() as plain:
            return plain.status(path, token.access_token)


class _Plain:
    """A bare HTTP client for checking a token at the mock, outside the helper."""

    def __enter__(self) -> _Plain:
        self.transport = Transport()
        return self

    def __exit__(self, *exc: object) -> None:
        self.transport.close()

    def status(self, url: str, access_token: str) -> int:
        return self.transport.api_get(url, access_token).status_code


@pytest.fixture(scope="module")
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as server:
        yield server


@pytest.fixture(params=["aweber", "constantcontact"])
def env(request: pytest.FixtureRequest, secret_sweep: SecretSweep) -> Iterator[Env]:
    if request.param == "aweber":
        mock: MockServer = request.getfixturevalue("mock_aweber")
    else:
        mock = request.getfixturevalue("cc_mock")
        mock.reset()
    secret_sweep.watch_mock(mock)
    secret_sweep.add("demo-secret")
    e = Env(mock=mock, profile=request.param, clock=FakeClock(mock.now()), sweep=secret_sweep)
    yield e
    for h in e.helpers:
        h.close()
        h.transport.close()
    for client in e.clients:
        client.close()
    mock.check_errors()


def authorize_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def connect(env: Env, helper: OAuthHelper, install: str = INSTALL) -> InstallRecord:
    start = helper.start_authorization(install)
    answer = env.mock.approve(authorize_params(start.authorize_url), "demo")
    pasted = answer["redirect"] or f"  {answer['code']}\n"
    return helper.complete_authorization(install, start.attempt.attempt_id, pasted)


# -- connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_connect_and_use_the_api(env: Env, kind: str) -> None:
    helper = env.helper(kind)
    start = helper.start_authorization(INSTALL)
    params = authorize_params(start.authorize_url)
    # PKCE for public clients only: both providers' confidential flows go without it.
    assert ("code_challenge" in params) is (kind == "public")
    answer = env.mock.approve(params, "demo")
    assert answer["redirect"] is None  # out of band: the user copies the code
    record = helper.complete_authorization(INSTALL, start.attempt.attempt_id, f'"{answer["code"]}"')

    assert record.state == "connected"
    assert record.account_id
    assert record.account_name
    assert record.token is not None
    assert record.token.refresh_token
    assert record.token.expires_at is not None
    assert record.token.expires_at > env.clock.now + 3600
    assert helper.status(INSTALL) == record
    assert [r.install for r in helper.installs()] == [INSTALL]

    exchanges = env.token_events("authorization_code")
    assert [(e.get("client_id"), e.get("result")) for e in exchanges] == [(CLIENTS[kind][0], "ok")]

    with helper.client(INSTALL) as api:
        response = api.get(env.provider.account_path or "/")
    assert response.status_code == 200
    assert record.account_id in response.text
    assert helper.get_token(INSTALL) == record.token
    assert helper.get_token(INSTALL, check=True) == record.token
    assert env.token_events("refresh_token") == []


def test_connect_with_pasted_redirect_url(env: Env) -> None:
    redirect = "http://127.0.0.1:8765/oauth/callback"
    env.mock.add_client("redirect-app", None, [redirect], name="Redirect app")
    helper = env.helper(client_id="redirect-app", client_secret=None, redirect_uri=redirect)
    start = helper.start_authorization(INSTALL)
    answer = env.mock.approve(authorize_params(start.authorize_url), "demo")
    assert answer["redirect"].startswith(redirect)

    other = helper.start_authorization(INSTALL)
    with pytest.raises(StateMismatch):
        helper.complete_authorization(INSTALL, other.attempt.attempt_id, answer["redirect"])

    record = helper.complete_authorization(INSTALL, start.attempt.attempt_id, f"  {answer['redirect']}\n")
    assert record.state == "connected"
    assert record.account_id


def test_used_code_is_refused_clearly(env: Env) -> None:
    helper = env.helper()
    start = helper.start_authorization(INSTALL)
    code = env.mock.approve(authorize_params(start.authorize_url), "demo")["code"]
    helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)
    again = helper.start_authorization("second.example")
    with pytest.raises(InvalidRequest) as info:
        helper.complete_authorization("second.example", again.attempt.attempt_id, code)
    assert info.value.status_code == 400
    assert code not in str(info.value)
    assert helper.status("second.example").state == "not_connected"
    # RFC 6749 4.1.2: a replayed code revokes what it issued, and the helper notices.
    with pytest.raises(ReauthorizationRequired):
        helper.get_token(INSTALL, check=True)


# -- refreshing ------------------------------------------------------------------------------


def test_clock_past_expiry_refreshes(env: Env) -> None:
    helper = env.helper("confidential")
    first = connect(env, helper).token
    assert first is not None
    assert first.expires_at is not None
    env.advance(first.expires_at - env.clock.now + 1)
    assert env.api_status(first) == 401  # the mock agrees it expired

    token = helper.get_token(INSTALL)
    assert token.access_token != first.access_token
    assert token.refresh_token != first.refresh_token  # rotated, and the new one was kept
    assert env.api_status(token) == 200
    stored = helper.status(INSTALL)
    assert stored.token == token
    assert stored.last_refresh_at == env.clock.now
    assert len(env.token_events("refresh_token")) == 1
    with helper.client(INSTALL) as api:
        assert api.get(env.provider.account_path or "/").status_code == 200
    assert len(env.token_events("refresh_token")) == 1


def test_proactive_refresh_before_expiry(env: Env) -> None:
    helper = env.helper()
    first = connect(env, helper).token
    assert first is not None
    assert first.expires_at is not None
    env.advance(first.expires_at - env.clock.now - 60)  # inside the 5-minute leeway, not expired
    token = helper.get_token(INSTALL)
    assert token.access_token != first.access_token
    assert len(env.token_events("refresh_token")) == 1
    assert helper.get_token(INSTALL) == token  # fresh now: no second refresh
    assert len(env.token_events("refresh_token")) == 1


def test_token_expired_early_found_by_check(env: Env) -> None:
    helper = env.helper()
    first = connect(env, helper).token
    assert first is not None
    assert env.mock.expire_tokens() >= 1  # the provider's side only; the helper's clock says fresh
    assert helper.get_token(INSTALL) == first
    token = helper.get_token(INSTALL, check=True)
    assert token.access_token != first.access_token
    assert env.api_status(token) == 200
    assert len(env.token_events("refresh_token")) == 1


def test_401_during_api_call_refreshes_once_and_retries(env: Env) -> None:
    helper = env.helper()
    connect(env, helper)
    env.mock.expire_tokens()
    with helper.client(INSTALL) as api:
        response = api.get(env.provider.account_path or "/")
    assert response.status_code == 200
    assert len(env.token_events("refresh_token")) == 1


def test_explicit_refresh_outcomes(env: Env) -> None:
    helper = env.helper()
    connect(env, helper)
    assert helper.refresh(INSTALL, force=False, within=60).result == "skipped"
    assert helper.refresh(INSTALL).result == "refreshed"
    assert len(env.token_events("refresh_token")) == 1


# -- losing the grant ------------------------------------------------------------------------


def test_refresh_token_reuse_requires_reauthorization(env: Env) -> None:
    helper = env.helper()
    record = connect(env, helper)
    assert helper.refresh(INSTALL).result == "refreshed"
    # A stale copy (say, restored from a backup) still holds the superseded refresh token.
    current = helper.status(INSTALL)
    stale = dataclasses.replace(current, token=record.token)
    helper.store.put(stale, expected_version=current.version)

    outcome = helper.refresh(INSTALL)
    assert outcome.result == "reauthorization_required"
    assert outcome.error is not None
    assert INSTALL in outcome.error
    status = helper.status(INSTALL)
    assert status.state == "reauthorization_required"
    assert status.reason is not None
    assert "invalid_grant" in status.reason
    assert status.state_changed_at == env.clock.now
    assert status.token is not None  # the record is kept
    with pytest.raises(ReauthorizationRequired, match=INSTALL):
        helper.get_token(INSTALL)

    # Connecting again clears it.
    assert connect(env, helper).state == "connected"
    assert helper.get_token(INSTALL).access_token


def test_revoked_grant_requires_reauthorization(env: Env) -> None:
    helper = env.helper("confidential")
    record = connect(env, helper)
    assert record.token is not None
    assert record.token.expires_at is not None
    assert env.mock.revoke_tokens() >= 1
    env.advance(record.token.expires_at - env.clock.now + 1)
    with pytest.raises(ReauthorizationRequired) as info:
        helper.get_token(INSTALL)
    assert info.value.install == INSTALL
    assert helper.status(INSTALL).state == "reauthorization_required"


def test_revoked_grant_found_by_check(env: Env) -> None:
    helper = env.helper()
    connect(env, helper)
    env.mock.revoke_tokens()
    with pytest.raises(ReauthorizationRequired):
        helper.get_token(INSTALL, check=True)
    assert helper.status(INSTALL).state == "reauthorization_required"


# -- disconnecting ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_disconnect_revokes_then_forgets(env: Env, kind: str) -> None:
    helper = env.helper(kind)
    token = connect(env, helper).token
    assert token is not None
    assert env.mock.state()["tokens"] != []
    helper.disconnect(INSTALL)
    assert helper.status(INSTALL).state == "not_connected"
    assert helper.installs() == []
    revokes = [e for e in env.mock.events() if str(e.get("path", "")).endswith("/revoke")]
    if env.profile == "aweber":
        assert [(e.get("client_id"), e.get("result")) for e in revokes] == [(CLIENTS[kind][0], "ok")]
        assert env.api_status(token) == 401  # revoking the grant took the access token too
        assert env.mock.state()["tokens"] == []
    else:
        assert revokes == []  # Constant Contact's profile has no revocation endpoint


def test_failed_revoke_keeps_the_record_unless_forced(mock_aweber: MockServer) -> None:
    env = Env(mock=mock_aweber, profile="aweber", clock=FakeClock(mock_aweber.now()))
    try:
        helper = env.helper()
        connect(env, helper)
        mock_aweber.add_fault("/oauth2/revoke", status=500, count=10)
        with pytest.raises(ServerError):
            helper.disconnect(INSTALL)
        assert helper.status(INSTALL).state == "connected"
        helper.disconnect(INSTALL, force=True)
        assert helper.status(INSTALL).state == "not_connected"
    finally:
        mock_aweber.clear_faults()
        for h in env.helpers:
            h.close()
            h.transport.close()


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_in_logs_reprs_or_errors(env: Env, secret_sweep: SecretSweep) -> None:
    helper = env.helper("confidential")
    start = helper.start_authorization(INSTALL)
    code = env.mock.approve(authorize_params(start.authorize_url), "demo")["code"]
    record = helper.complete_authorization(INSTALL, start.attempt.attempt_id, code)
    env.mock.expire_tokens()
    with helper.client(INSTALL) as api:
        api.get(env.provider.account_path or "/")
    refreshed = helper.get_token(INSTALL, check=True)
    env.advance(7200)  # the last pair of the run comes from this refresh
    outcome = helper.refresh(INSTALL)
    assert outcome.result == "refreshed"
    last = helper.get_token(INSTALL)
    status = helper.status(INSTALL)
    if env.profile == "aweber":
        helper.disconnect(INSTALL)
    again = helper.start_authorization("other.example")
    with pytest.raises(InvalidRequest) as info:
        helper.complete_authorization("other.example", again.attempt.attempt_id, code)

    for attempt in (start.attempt, again.attempt):
        secret_sweep.add(attempt.state, attempt.code_verifier, attempt.attempt_id)
    secret_sweep.scan("exception message", info.value, repr(info.value))
    secret_sweep.scan("reprs", *map(repr, (helper, record, start, again, refreshed, outcome, last, status)))
    looked_for, _ = secret_sweep.check()
    # Three pairs on the wire, the last one included, the code, the verifiers and the client secret.
    for token in (record.token, refreshed, last):
        assert token is not None
        assert {token.access_token, token.refresh_token} <= secret_sweep.secrets
    assert last != refreshed
    assert {code, "demo-secret"} <= secret_sweep.secrets
    assert looked_for >= 10
