"""mock_server.snapshot alone: a world as bytes and back, the clock relation, refusals."""

from __future__ import annotations

import dataclasses
import json
import pickle
import time

import pytest

from mock_server import snapshot
from mock_server.clock import Clock
from mock_server.config import MockConfig
from mock_server.errors import TokenError
from mock_server.grants import ClientCredentials
from mock_server.snapshot import SnapshotError
from mock_server.state import MockState

OOB = "urn:ietf:wg:oauth:2.0:oob"
CONF = ClientCredentials("demo-confidential", "demo-secret")


def connect(state: MockState) -> dict[str, object]:
    params = {
        "client_id": "demo-confidential",
        "redirect_uri": OOB,
        "response_type": "code",
        "scope": "account.read",
    }
    code, _ = state.approve(params, "demo")
    return state.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}, CONF)


def refresh(state: MockState, token: object) -> dict[str, object]:
    return state.token_request({"grant_type": "refresh_token", "refresh_token": str(token)}, CONF)


def test_a_restored_world_keeps_tokens_refresh_chain_and_api_data() -> None:
    state = MockState(clock=Clock(1_800_000_000.0, frozen=True))
    first = connect(state)
    second = refresh(state, first["refresh_token"])
    account = state.users["demo"].account_id
    list_id = state.directory.lists(account)[0].id
    state.directory.add_subscriber(account, list_id, {"email": "kept@example.com"})
    state.add_client("extra", None, [OOB], "Extra app")
    state.faults.add({"path": "/oauth2/token", "status": 503})

    restored = snapshot.load(state.config, snapshot.dump(state))

    assert restored.authenticate(str(second["access_token"])).username == "demo"
    with pytest.raises(TokenError) as refused:  # the rotated token stays refused, with its verdict
        refresh(restored, first["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert refresh(restored, second["refresh_token"])["access_token"]
    emails = [s.email for s in restored.directory.subscribers(account, list_id)]
    assert "kept@example.com" in emails
    assert "extra" in restored.clients
    assert restored.faults.armed()
    # Request numbers go on from where they were (verdicts name requests by number).
    assert restored.next_request_number() == state.next_request_number()


def test_a_frozen_clock_comes_back_at_the_same_instant() -> None:
    state = MockState(clock=Clock(1_800_000_000.0, frozen=True))
    state.clock.advance(600)
    restored = snapshot.load(state.config, snapshot.dump(state))
    assert restored.clock.frozen
    assert restored.clock.now() == state.clock.now()


def test_a_running_clock_keeps_its_offset_from_wall_time() -> None:
    # Mock time runs on while the mock is down: the offset from wall time is what is kept.
    state = MockState()
    state.clock.advance(10_000)
    data = snapshot.dump(state)
    before = time.time()
    restored = snapshot.load(state.config, data)
    now = restored.clock.now()
    assert before + 10_000 - 1e-3 <= now <= time.time() + 10_000 + 1e-3
    assert not restored.clock.frozen


def test_the_config_is_the_restarted_server_s() -> None:
    state = MockState()
    later = dataclasses.replace(MockConfig(), access_token_ttl=60)
    restored = snapshot.load(later, snapshot.dump(state))
    assert restored.config is later
    assert restored.rate_limiter.config is later
    token = connect(restored)
    assert token["expires_in"] == 60


def test_the_shared_parts_stay_shared() -> None:
    restored = snapshot.load(MockConfig(), snapshot.dump(MockState()))
    assert restored.directory.clock is restored.clock
    assert restored.webhooks.clock is restored.clock
    assert restored.directory.webhooks is restored.webhooks
    assert restored.rate_limiter.clock is restored.clock


def test_damage_is_a_snapshot_error_not_a_traceback() -> None:
    data = snapshot.dump(MockState())
    for broken in (b"", b"junk", data[: len(data) // 2], data[:-50] + b"\x00" * 50):
        with pytest.raises(SnapshotError):
            snapshot.load(MockConfig(), broken)


def test_another_format_shape_or_profile_is_refused() -> None:
    data = snapshot.dump(MockState())
    magic, _, rest = data.partition(b" ")
    line, _, body = rest.partition(b"\n")
    header = json.loads(line)
    for change, message in (({"format": 99}, "format 99"), ({"shape": "0" * 16}, "different data model")):
        other = magic + b" " + json.dumps({**header, **change}).encode() + b"\n" + body
        with pytest.raises(SnapshotError, match=message):
            snapshot.load(MockConfig(), other)
    cc = dataclasses.replace(MockConfig(), profile="constantcontact")
    with pytest.raises(SnapshotError, match="--profile aweber"):
        snapshot.load(cc, data)


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_a_snapshot_cannot_name_anything_outside_the_model() -> None:
    data = snapshot.dump(MockState())
    head = data[: data.index(b"\n") + 1]
    for payload in (pickle.dumps(_Boom()), pickle.dumps(time.time), pickle.dumps(ValueError("x"))):
        with pytest.raises(SnapshotError, match="may not name"):
            snapshot.load(MockConfig(), head + payload)
