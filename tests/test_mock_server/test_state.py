"""MockState alone, on a frozen clock: codes, rotation policies, reuse detection, grace, purge."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from mock_server import tokens as tokens_module
from mock_server.authorize import s256
from mock_server.clock import Clock
from mock_server.config import ClientSpec, MockConfig, UserSpec, load_config
from mock_server.errors import AuthorizeError, TokenError
from mock_server.grants import ClientCredentials
from mock_server.state import InvalidToken, MockState

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"
CONF = ClientCredentials("demo-confidential", "demo-secret")
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"  # AWeber's published test vector


def make_state(config: MockConfig | None = None) -> MockState:
    return MockState(config, clock=Clock(1_800_000_000.0, frozen=True))


def authorize_params(client_id: str = "demo-confidential", **extra: str) -> dict[str, str]:
    params = {
        "client_id": client_id,
        "redirect_uri": OOB,
        "response_type": "code",
        "scope": "account.read list.read",
        "state": "st",
    }
    params.update(extra)
    return params


def connect(
    state: MockState, creds: ClientCredentials = CONF, scope: str = "account.read list.read"
) -> dict[str, Any]:
    code, redirect = state.approve(authorize_params(creds.client_id or "", scope=scope), "demo")
    assert redirect is None
    return state.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}, creds)


def refresh(state: MockState, token: str, creds: ClientCredentials = CONF) -> dict[str, Any]:
    return state.token_request({"grant_type": "refresh_token", "refresh_token": token}, creds)


def test_start_state_is_the_demo_user_and_clients() -> None:
    state = make_state()
    snap = state.snapshot()
    assert [u["username"] for u in snap["users"]] == ["demo"]
    clients = {c["client_id"]: c for c in snap["clients"]}
    assert clients["demo-public"]["public"] is True
    assert clients["demo-confidential"]["public"] is False
    assert clients["demo-confidential"]["redirect_uris"] == [OOB, CALLBACK]
    assert "demo-secret" not in json.dumps(snap)


def test_code_exchange_issues_bearer_tokens_that_expire_on_the_clock() -> None:
    state = make_state()
    answer = connect(state)
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 7200
    assert answer["state"] == "st"
    assert "expires_at" not in answer
    grant = state.authenticate(answer["access_token"])
    assert grant.username == "demo"
    assert grant.scopes == {"account.read", "list.read"}
    state.clock.advance(7199)
    state.authenticate(answer["access_token"])
    state.clock.advance(1)
    with pytest.raises(InvalidToken, match="expired"):
        state.authenticate(answer["access_token"])


def test_aweber_rotation_kills_the_old_refresh_token_but_not_the_grant() -> None:
    state = make_state()
    first = connect(state)
    second = refresh(state, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert "state" not in second
    with pytest.raises(TokenError) as info:
        refresh(state, first["refresh_token"])
    assert info.value.error == "invalid_grant"
    # no reuse detection in the aweber profile: the newest token still works
    third = refresh(state, second["refresh_token"])
    state.authenticate(third["access_token"])


def test_keep_old_refresh_token_switch() -> None:
    state = make_state()
    state.add_client("keeper", "s", [OOB], "Keeper", refresh_policy={"keep_old_refresh_token": True})
    creds = ClientCredentials("keeper", "s")
    first = connect(state, creds)
    for _ in range(150):  # more than the kept-token cap: the one in use is never evicted
        answer = refresh(state, first["refresh_token"], creds)
        assert answer["refresh_token"] != first["refresh_token"]
    refresh(state, answer["refresh_token"], creds)


def test_long_lived_policy_returns_the_same_refresh_token() -> None:
    state = make_state()
    state.add_client("long", "s", [OOB], "Long", refresh_policy={"rotate": False})
    creds = ClientCredentials("long", "s")
    first = connect(state, creds)
    assert refresh(state, first["refresh_token"], creds)["refresh_token"] == first["refresh_token"]


def cc_state(**policy: object) -> MockState:
    clients = (ClientSpec("cc-app", "cc-secret", (OOB,), "CC app", refresh_policy=policy or None),)
    return make_state(
        MockConfig(profile="constantcontact", clients=clients, users=(UserSpec("demo", "demo"),))
    )


CC = ClientCredentials("cc-app", "cc-secret")
CC_SCOPE = "contact_data offline_access"


def test_constantcontact_reuse_revokes_the_whole_family() -> None:
    state = cc_state()
    first = connect(state, CC, CC_SCOPE)
    assert first["expires_in"] == 86400
    assert first["token_type"] == "Bearer"
    assert first["scope"] == "contact_data offline_access"
    second = refresh(state, first["refresh_token"], CC)
    state.authenticate(second["access_token"])
    with pytest.raises(TokenError, match="reuse detection") as info:
        refresh(state, first["refresh_token"], CC)
    assert info.value.error == "invalid_grant"
    with pytest.raises(InvalidToken):
        state.authenticate(second["access_token"])
    with pytest.raises(TokenError):
        refresh(state, second["refresh_token"], CC)


def test_constantcontact_needs_offline_access_for_a_refresh_token() -> None:
    state = cc_state()
    answer = connect(state, CC, "contact_data")
    assert "refresh_token" not in answer


def test_constantcontact_access_tokens_are_jwt_shaped_with_exp() -> None:
    state = cc_state()
    answer = connect(state, CC, CC_SCOPE)
    _header, payload, signature = answer["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] == int(state.clock.now()) + 86400
    assert claims["cid"] == "cc-app"
    assert signature


def test_grace_window_returns_the_same_pair_then_counts_as_reuse() -> None:
    state = cc_state(grace_seconds=30)
    first = connect(state, CC, CC_SCOPE)
    second = refresh(state, first["refresh_token"], CC)
    state.clock.advance(29)
    again = refresh(state, first["refresh_token"], CC)
    assert again["access_token"] == second["access_token"]
    assert again["refresh_token"] == second["refresh_token"]
    state.clock.advance(2)
    with pytest.raises(TokenError, match="reuse detection"):
        refresh(state, first["refresh_token"], CC)
    with pytest.raises(InvalidToken):
        state.authenticate(second["access_token"])


def test_constantcontact_refresh_tokens_expire_after_180_days() -> None:
    state = cc_state()
    first = connect(state, CC, CC_SCOPE)
    state.clock.advance(180 * 24 * 3600)
    with pytest.raises(TokenError) as info:
        refresh(state, first["refresh_token"], CC)
    assert info.value.error == "invalid_grant"


def test_code_is_single_use_and_replay_revokes_its_tokens() -> None:
    state = make_state()
    code, _ = state.approve(authorize_params(), "demo")
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
    answer = state.token_request(body, CONF)
    with pytest.raises(TokenError) as info:
        state.token_request(body, CONF)
    assert info.value.error == "invalid_request"  # AWeber's choice (providers.md A8)
    with pytest.raises(InvalidToken):
        state.authenticate(answer["access_token"])
    with pytest.raises(TokenError):
        refresh(state, answer["refresh_token"])


def test_expired_code_and_invalid_grant_switch() -> None:
    state = make_state(MockConfig(bad_code_error="invalid_grant", code_ttl=60))
    code, _ = state.approve(authorize_params(), "demo")
    state.clock.advance(60)
    with pytest.raises(TokenError) as info:
        state.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}, CONF)
    assert info.value.error == "invalid_grant"


def test_pkce_for_public_clients() -> None:
    state = make_state()
    public = ClientCredentials("demo-public", None)
    with pytest.raises(AuthorizeError, match="Public Client MUST Use PKCE"):
        state.approve(authorize_params("demo-public"), "demo")
    with pytest.raises(AuthorizeError, match="S256"):
        state.approve(authorize_params("demo-public", code_challenge=s256(VERIFIER)), "demo")
    challenge = s256(VERIFIER)
    assert challenge == "-oiamT7-EafhQ27P3V9cGEtu3crg731kec-GWhgrTV8"
    code, _ = state.approve(
        authorize_params("demo-public", code_challenge=challenge, code_challenge_method="S256"), "demo"
    )
    with pytest.raises(TokenError, match="does not match"):
        state.token_request(
            {"grant_type": "authorization_code", "code": code, "code_verifier": "x" * 43}, public
        )
    answer = state.token_request(
        {"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER}, public
    )
    refresh(state, answer["refresh_token"], public)
    with pytest.raises(AuthorizeError, match="Confidential Client MUST NOT Use PKCE"):
        state.approve(authorize_params(code_challenge=challenge, code_challenge_method="S256"), "demo")


def test_refresh_may_narrow_scopes_but_not_widen_them() -> None:
    state = make_state()
    first = connect(state)
    narrow = state.token_request(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "list.read"}, CONF
    )
    assert state.authenticate(narrow["access_token"]).scopes == {"list.read"}
    with pytest.raises(TokenError) as info:
        state.token_request(
            {"grant_type": "refresh_token", "refresh_token": narrow["refresh_token"], "scope": "email.write"},
            CONF,
        )
    assert info.value.error == "invalid_scope"


def test_expire_and_revoke_filters() -> None:
    state = make_state()
    state.add_user("alice", "wonderland")
    mine = connect(state)
    code, _ = state.approve(authorize_params(), "alice")
    theirs = state.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}, CONF
    )
    assert state.expire_tokens(username="alice") == 1
    with pytest.raises(InvalidToken, match="expired"):
        state.authenticate(theirs["access_token"])
    state.authenticate(mine["access_token"])
    assert state.expire_tokens(username="alice", client_id="demo-public") == 0
    assert state.revoke_tokens(access_token=mine["access_token"]) == 2  # its access and refresh token
    with pytest.raises(InvalidToken):
        state.authenticate(mine["access_token"])
    refresh(state, theirs["refresh_token"])
    assert state.expire_tokens() == 1


def test_snapshot_redacts_every_value() -> None:
    state = make_state()
    answer = connect(state)
    code, _ = state.approve(authorize_params(), "demo")
    snap = state.snapshot()
    text = json.dumps(snap)
    for secret in (answer["access_token"], answer["refresh_token"], code, "demo-secret"):
        assert secret not in text
    kinds = sorted(t["type"] for t in snap["tokens"])
    assert kinds == ["access", "refresh"]
    access = next(t for t in snap["tokens"] if t["type"] == "access")
    assert access["token"] == answer["access_token"][:4] + "…"
    assert access["expires_in"] == 7200
    assert snap["codes"][0]["expires_in"] == 600


def test_purge_keeps_memory_flat_over_100000_tokens() -> None:
    state = make_state(MockConfig(access_token_ttl=60))
    answer = connect(state)
    token = answer["refresh_token"]
    peak: dict[str, int] = {}
    for i in range(100_000):
        token = refresh(state, token)["refresh_token"]
        state.clock.advance(1)
        if i % 1000 == 0:
            for name, size in state.tokens.sizes().items():
                peak[name] = max(peak.get(name, 0), size)
    assert peak["access"] <= 62
    assert peak["refresh"] == 1
    assert peak["rotated"] <= 32
    assert peak["heaps"] <= 64


def test_concurrent_refreshes_of_one_token_let_exactly_one_win() -> None:
    state = make_state()
    first = connect(state)
    results: list[str] = []

    def worker() -> None:
        try:
            refresh(state, first["refresh_token"])
            results.append("ok")
        except TokenError as exc:
            results.append(exc.error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["invalid_grant"] * 7 + ["ok"]


def test_registration_errors_are_clear() -> None:
    state = make_state()
    with pytest.raises(ValueError, match="already exists"):
        state.add_client("demo-public", None, [OOB], "x")
    with pytest.raises(ValueError, match="http"):
        state.add_client("evil", None, ["javascript:alert(1)"], "x")
    with pytest.raises(ValueError, match="fragment"):
        state.add_client("frag", None, ["https://a.example/cb#x"], "x")
    with pytest.raises(ValueError, match="unknown option"):
        state.add_client("pol", None, [OOB], "x", refresh_policy={"rotat": True})
    with pytest.raises(ValueError, match="already exists"):
        state.add_user("demo", "x")
    with pytest.raises(ValueError, match="username"):
        state.add_user("", "x")
    user = state.add_user("bob", "pw")
    assert user["username"] == "bob"
    assert isinstance(user["account_id"], int)


def test_reset_returns_to_the_start_state() -> None:
    state = make_state()
    state.add_client("extra", "s", [OOB], "Extra")
    answer = connect(state)
    state.reset()
    assert "extra" not in state.clients
    assert not state.clock.frozen
    with pytest.raises(InvalidToken):
        state.authenticate(answer["access_token"])
    assert state.snapshot()["tokens"] == []


def test_load_config_json_and_toml(tmp_path: Path) -> None:
    toml = tmp_path / "mock.toml"
    toml.write_text(
        'profile = "constantcontact"\naccess_token_ttl = 60\n[refresh_policy]\ngrace_seconds = 5\n'
        '[[clients]]\nclient_id = "app"\nredirect_uris = ["urn:ietf:wg:oauth:2.0:oob"]\n'
        '[[users]]\nusername = "u"\npassword = "p"\n'
    )
    config = load_config(toml)
    assert config.profile == "constantcontact"
    assert config.clients is not None
    assert config.clients[0].client_secret is None
    state = make_state(config)
    assert state.clients["app"].policy.grace_seconds == 5
    assert state.clients["app"].policy.reuse_detection is True
    js = tmp_path / "mock.json"
    js.write_text(json.dumps({"users": [{"username": "u", "pasword": "p"}]}))
    with pytest.raises(ValueError, match="'pasword'"):
        load_config(js)
    js.write_text(json.dumps({"code_tll": 5}))
    with pytest.raises(ValueError, match="'code_tll'"):
        load_config(js)
    js.write_text(json.dumps({"refresh_policy": {"grace_seconds": -1}}))
    with pytest.raises(ValueError, match="grace_seconds"):
        load_config(js)
    js.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(js)


def test_remembered_verdicts_are_bounded_oldest_forgotten_first() -> None:
    state = make_state(MockConfig(access_token_ttl=60))
    first = connect(state, scope="account.read")
    state.revoke_tokens(access_token=first["access_token"])
    for _ in range(tokens_module.MAX_ENDED // 2 + 10):  # each revocation ends two tokens
        state.revoke_tokens(access_token=connect(state, scope="account.read")["access_token"])
    assert len(state.tokens.ended) == tokens_module.MAX_ENDED
    # The first grant's verdict was forgotten: its token is now simply unknown.
    with pytest.raises(TokenError) as refused:
        refresh(state, first["refresh_token"])
    assert refused.value.verdict.reason == "unknown"
    last = connect(state, scope="account.read")
    state.revoke_tokens(access_token=last["access_token"])
    with pytest.raises(TokenError) as refused:
        refresh(state, last["refresh_token"])
    assert refused.value.verdict.reason == "revoked"
