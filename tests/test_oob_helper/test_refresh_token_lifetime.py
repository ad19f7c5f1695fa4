"""Refresh-token lifetime awareness against the live Constant Contact-profile mock (issue 13).

The mock's constantcontact profile ends a refresh token 180 days after it was issued (and it
rotates on every refresh), as providers.md B5/B6 say of the real service. The helper's clock
is moved in step with the mock's (no sleeps). ``refresh_overdue`` and
``refresh_token_expiring`` fire once per refresh token however often and by however many
helpers the install is looked at; a refresh starts them over; past the lapse the mock refuses
the token, as the helper predicted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from secret_sweep import SecretSweep
from workers.common import MutableClock, Target, connect

from mock_server import MockConfig, MockServer
from oob_helper.health import DAY
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.stores import open_store

INSTALL = "cc.example"


@pytest.fixture(scope="module")
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as server:
        yield server


@dataclass
class World:
    mock: MockServer
    store_url: str
    sweep: SecretSweep
    clock: MutableClock
    events: list[LifecycleEvent] = field(default_factory=list)
    helpers: list[OAuthHelper] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    def helper(self) -> OAuthHelper:
        """One more helper over the same store (as another worker or host would be)."""
        target = Target(self.mock.url, "demo-confidential", "demo-secret", profile="constantcontact")
        store = open_store(self.store_url, encryption_keys=())
        http = self.sweep.http_client()
        self.clients.append(http)
        helper = OAuthHelper(target.settings(self.store_url), store, clock=self.clock, http=http)
        helper.subscribe(self.events.append)
        self.helpers.append(helper)
        return helper

    def advance(self, seconds: float) -> None:
        self.mock.advance_clock(seconds)
        self.clock.now += seconds

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
def world(cc_mock: MockServer, tmp_path: Path, secret_sweep: SecretSweep) -> Iterator[World]:
    cc_mock.reset()
    secret_sweep.watch_mock(cc_mock)
    secret_sweep.add("demo-secret")
    w = World(cc_mock, f"sqlite:///{tmp_path / 'tokens.db'}", secret_sweep, MutableClock(cc_mock.now()))
    yield w
    secret_sweep.scan("events", json.dumps([e.to_dict() for e in w.events]), repr(w.events))
    for h in w.helpers:
        h.close()
    for client in w.clients:
        client.close()  # the sweep's clients are not the helpers' own
    cc_mock.check_errors()


def test_the_record_keeps_when_its_refresh_token_was_issued_and_used(world: World) -> None:
    helper = world.helper()
    connected = connect(world.mock, helper, INSTALL)
    assert connected.refresh_token_issued_at == world.clock.now
    assert connected.refresh_token_used_at is None
    world.advance(3 * DAY)
    helper.refresh(INSTALL)
    refreshed = helper.status(INSTALL)
    assert refreshed.refresh_token_used_at == world.clock.now
    assert refreshed.refresh_token_issued_at == world.clock.now  # the mock rotated it
    assert helper.health(refreshed).lapses_at == world.clock.now + 180 * DAY


def test_expiring_and_overdue_fire_once_per_refresh_token(world: World) -> None:
    helper = world.helper()
    connect(world.mock, helper, INSTALL)
    connected_at = world.clock.now
    world.advance(150 * DAY)
    helper.observe(INSTALL)
    assert world.kinds() == ["connected"]  # the keepalive point: nothing late yet

    world.advance(1 * DAY + 1)
    for _ in range(3):
        helper.observe(INSTALL)
    assert world.kinds() == ["connected", "refresh_overdue"]
    overdue = world.events[-1]
    assert overdue.lapses_at == connected_at + 180 * DAY
    assert "refresh --all --keepalive" in (overdue.reason or "")

    world.advance(15 * DAY)  # day 166: 14 days before the lapse
    for _ in range(3):
        helper.observe(INSTALL)
    world.helper().observe(INSTALL)  # another worker: the record remembers it was told
    assert world.kinds() == ["connected", "refresh_overdue", "refresh_token_expiring"]
    assert world.events[-1].lapses_at == connected_at + 180 * DAY
    assert helper.health(helper.status(INSTALL)).problem == "refresh_token_expiring"

    # A refresh (the mock still takes the token on day 166) starts a new refresh token's life.
    assert helper.refresh(INSTALL).result == "refreshed"
    assert helper.health(helper.status(INSTALL)).problem is None
    helper.observe(INSTALL)
    assert world.kinds()[-1] == "refreshed"
    world.advance(167 * DAY)
    helper.observe(INSTALL)
    helper.observe(INSTALL)
    assert world.kinds()[-3:] == ["refreshed", "refresh_overdue", "refresh_token_expiring"]


def test_past_the_lapse_the_mock_refuses_as_predicted(world: World) -> None:
    helper = world.helper()
    connect(world.mock, helper, INSTALL)
    world.advance(180 * DAY + 60)
    health = helper.health(helper.status(INSTALL))
    assert (health.problem, health.needs_person) == ("refresh_token_lapsed", True)
    helper.observe(INSTALL)
    assert world.kinds() == ["connected"]  # no warning once it is too late: the refusal says it
    assert helper.refresh(INSTALL).result == "reauthorization_required"
    assert world.kinds() == ["connected", "reauthorization_required"]
    assert helper.health(helper.status(INSTALL)).problem == "reauthorization_required"


def test_racing_observers_tell_the_warning_once(world: World) -> None:
    connect(world.mock, world.helper(), INSTALL)
    world.advance(167 * DAY)
    helpers = [world.helper() for _ in range(8)]
    start = threading.Barrier(len(helpers))

    def look(helper: OAuthHelper) -> None:
        start.wait()
        for _ in range(5):
            helper.observe(INSTALL)

    threads = [threading.Thread(target=look, args=(h,)) for h in helpers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(world.kinds()) == ["connected", "refresh_overdue", "refresh_token_expiring"]


@pytest.mark.parametrize("other", ["refresh", "reconnect", "disconnect", "revoked"])
def test_an_observer_racing_each_transition_never_warns_over_the_new_state(world: World, other: str) -> None:
    # Either the warning is told for the old refresh token first and the other transition then
    # clears or replaces the record, or the transition wins and nothing is due: never a warning
    # marked over the new state, never one naming the new grant.
    first = world.helper()
    old_grant = connect(world.mock, first, INSTALL).grant_id
    world.advance(167 * DAY)
    if other == "revoked":
        world.mock.revoke_tokens(client_id="demo-confidential")
    observer, actor = world.helper(), world.helper()
    start = threading.Barrier(2)

    def observe() -> None:
        start.wait()
        observer.observe(INSTALL)

    def act() -> None:
        start.wait()
        if other == "refresh":
            assert actor.refresh(INSTALL).result == "refreshed"
        elif other == "reconnect":
            connect(world.mock, actor, INSTALL)
        elif other == "disconnect":
            actor.disconnect(INSTALL)
        else:
            assert actor.refresh(INSTALL).result == "reauthorization_required"

    threads = [threading.Thread(target=observe), threading.Thread(target=act)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    last = {"refresh": "refreshed", "reconnect": "connected", "disconnect": "disconnected"}
    last["revoked"] = "reauthorization_required"
    kinds = world.kinds()
    assert kinds in (
        ["connected", last[other]],
        ["connected", "refresh_overdue", "refresh_token_expiring", last[other]],
    )
    assert all(e.grant_id == old_grant for e in world.events if e.kind.startswith("refresh_"))
    record = first.status(INSTALL)
    if other in ("refresh", "reconnect"):
        assert (record.overdue_warned_at, record.expiring_warned_at) == (None, None)
        assert first.health(record).problem is None
    elif other == "disconnect":
        assert record.state == "not_connected"
    else:
        assert first.health(record).problem == "reauthorization_required"
