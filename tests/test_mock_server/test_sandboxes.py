"""The sandbox registry (issue 11, item 1): isolation, idle expiry, the cap and racing transitions."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from mock_server.sandboxes import (
    DEFAULT_ID,
    SandboxError,
    Sandboxes,
    SandboxExists,
    SandboxLimitReached,
    SandboxNotFound,
)
from mock_server.state import MockState


class FakeMonotonic:
    """A wall monotonic clock the test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(idle: float = 60.0, cap: int = 3) -> tuple[Sandboxes, FakeMonotonic]:
    mono = FakeMonotonic()
    return Sandboxes(MockState(), MockState, idle_timeout=idle, max_sandboxes=cap, monotonic=mono), mono


def test_each_sandbox_has_its_own_world() -> None:
    reg, _ = make()
    a, b = reg.create(), reg.create("b-1")
    assert a.id != b.id
    assert b.id == "b-1"
    assert a.state is not b.state
    assert a.state.clock is not b.state.clock
    before = b.state.clock.now()
    a.state.clock.advance(5000)
    assert b.state.clock.now() - before < 5000
    assert reg.default.state.clock.now() - before < 5000
    assert reg.get(a.id) is a
    assert reg.get(DEFAULT_ID) is reg.default


def test_idle_sandboxes_expire_on_wall_time_not_their_mock_clock() -> None:
    reg, mono = make(idle=60)
    sb = reg.create()
    sb.state.clock.advance(10**6)  # the mock clock does not make it idle
    assert reg.get(sb.id) is sb
    mono.now += 59
    assert reg.get(sb.id) is sb  # a use touches it
    mono.now += 59
    assert reg.get(sb.id) is sb
    mono.now += 61
    with pytest.raises(SandboxNotFound, match="expired after 60s idle"):
        reg.get(sb.id)
    assert [s.id for s in reg.list()] == [DEFAULT_ID]


def test_default_world_never_expires_nor_is_deleted() -> None:
    reg, mono = make(idle=1)
    mono.now += 10**6
    assert reg.get(DEFAULT_ID) is reg.default
    with pytest.raises(SandboxError, match="cannot be deleted"):
        reg.delete(DEFAULT_ID)
    with pytest.raises(SandboxExists):
        reg.create(DEFAULT_ID)


def test_cap_counts_live_sandboxes_after_sweeping_idle_ones() -> None:
    reg, mono = make(idle=60, cap=2)
    old = reg.create()
    mono.now += 30
    second = reg.create()
    with pytest.raises(SandboxLimitReached, match="max_sandboxes") as err:
        reg.create()
    assert err.value.status == 429
    mono.now += 31  # the first is idle now, the second not
    fresh = reg.create()
    assert [s.id for s in reg.list()] == [DEFAULT_ID, second.id, fresh.id]
    with pytest.raises(SandboxNotFound):
        reg.get(old.id)


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 65, "é"])
def test_bad_names_are_refused_with_the_rule(name: str) -> None:
    reg, _ = make()
    with pytest.raises(SandboxError, match="letters, digits"):
        reg.create(name)


def test_duplicate_name_and_unknown_delete() -> None:
    reg, _ = make()
    reg.create("same")
    with pytest.raises(SandboxExists):
        reg.create("same")
    reg.delete("same")
    with pytest.raises(SandboxNotFound):
        reg.delete("same")
    assert reg.create("same").id == "same"  # the name is free again


def _race(*actions: object) -> list[object]:
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(i: int, fn: object) -> None:
        barrier.wait()
        try:
            results[i] = fn()  # type: ignore[operator]
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_race_create_same_name_one_wins() -> None:
    for _ in range(50):
        reg, _ = make(cap=10)
        results = _race(partial(reg.create, "n"), partial(reg.create, "n"))
        assert sum(isinstance(r, SandboxExists) for r in results) == 1
        assert [s.id for s in reg.list()] == [DEFAULT_ID, "n"]


def test_race_create_at_the_cap_one_wins() -> None:
    for _ in range(50):
        reg, _ = make(cap=1)
        results = _race(reg.create, reg.create)
        assert sum(isinstance(r, SandboxLimitReached) for r in results) == 1
        assert len(reg.list()) == 2


def test_race_delete_and_get_either_order_is_consistent() -> None:
    for _ in range(50):
        reg, _ = make()
        sb = reg.create()
        got, deleted = _race(partial(reg.get, sb.id), partial(reg.delete, sb.id))
        assert deleted is sb
        assert got is sb or isinstance(got, SandboxNotFound)
        with pytest.raises(SandboxNotFound):
            reg.get(sb.id)


def test_race_delete_twice_one_wins() -> None:
    for _ in range(50):
        reg, _ = make()
        sb = reg.create()
        results = _race(partial(reg.delete, sb.id), partial(reg.delete, sb.id))
        assert sum(r is sb for r in results) == 1
        assert sum(isinstance(r, SandboxNotFound) for r in results) == 1


def test_race_expire_and_get_never_resurrects() -> None:
    for _ in range(50):
        reg, mono = make(idle=60)
        sb = reg.create()
        mono.now += 61
        got, swept = _race(partial(reg.get, sb.id), reg.sweep)
        assert isinstance(got, SandboxNotFound)
        assert swept in ([sb], [])
        assert [s.id for s in reg.list()] == [DEFAULT_ID]


def test_reset_in_one_while_another_is_used() -> None:
    for _ in range(20):
        reg, _ = make()
        a, b = reg.create(), reg.create()
        a.state.events.record({"type": "mark"})
        b.state.events.record({"type": "mark"})
        b_now = b.state.clock.set(b.state.clock.now() + 100, frozen=True)
        _race(a.state.reset, partial(b.state.clock.advance, 1))
        assert b.state.clock.now() == b_now + 1  # a's reset left b's frozen clock alone
        assert len(b.state.events) == 1
        assert len(a.state.events) == 0


def test_every_way_a_sandbox_is_forgotten_is_reported_once() -> None:
    """The drop hook (webhook workers stop, the state file forgets) hears of each, once."""
    mono = FakeMonotonic()
    dropped: list[str] = []
    reg = Sandboxes(
        MockState(), MockState, idle_timeout=60, max_sandboxes=10, monotonic=mono,
        on_drop=lambda s: dropped.append(s.id),
    )  # fmt: skip
    for name in ("deleted", "got", "swept", "listed", "created"):
        reg.create(name)
    reg.delete("deleted")
    assert dropped == ["deleted"]
    mono.now += 61
    with pytest.raises(SandboxNotFound):
        reg.get("got")
    assert dropped == ["deleted", "got"]
    assert {s.id for s in reg.sweep()} == {"swept", "listed", "created"}
    assert sorted(dropped[2:]) == ["created", "listed", "swept"]
    assert [s.id for s in reg.list()] == [DEFAULT_ID]
    reg.create("fresh")
    assert len(dropped) == 5  # nothing reported twice


def test_an_adopted_world_is_served_under_its_id() -> None:
    reg, _ = make()
    state = MockState()
    assert reg.adopt("restored-1", state).state is state
    assert reg.get("restored-1").state is state
    with pytest.raises(SandboxError):
        reg.adopt(DEFAULT_ID, state)
