"""The worker pool of ``refresh --all``: it grows to ``--concurrency`` while refreshes wait,
and not while the process is short of CPU rather than waiting.

The pool starts with one worker and adds more only while its workers sit in slow refreshes
(oob_helper/cli_refresh.py, ``_Pool``). These tests drive it with a helper whose refreshes block
until enough of them run at once: a pool that never grew would leave the barrier short (the
barrier's timeout only stops a hang; nothing here measures time). The refreshes themselves,
over the live mock and a real store, are tested in test_cli_live.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import TYPE_CHECKING, cast

import pytest

from oob_helper.cli_refresh import Plan, _Pool
from oob_helper.helper import RefreshOutcome
from oob_helper.progress import Progress

if TYPE_CHECKING:
    from oob_helper.helper import OAuthHelper

HANG_GUARD = 60.0  # seconds; only a pool that never grows waits this long


class _WaitingHelper:
    """Stands in for OAuthHelper.refresh: the first refresh answers at once (the pool grows only
    after one has finished), then each of the next ``parties`` waits until all of them are in
    flight together, as refreshes waiting on a slow provider would be."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=HANG_GUARD)
        self.seen: list[str] = []
        self.mutex = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def refresh(
        self, install: str, *, force: bool = True, within: float | None = None, override_backoff: bool = False
    ) -> RefreshOutcome:
        with self.mutex:
            self.seen.append(install)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            waits = 2 <= len(self.seen) <= self.barrier.parties + 1
        try:
            if waits:
                self.barrier.wait()
        finally:
            with self.mutex:
                self.in_flight -= 1
        return RefreshOutcome(install, "refreshed")


def _run(
    helper: object, installs: list[str], limit: int, cpu_clock: Callable[[], float] = time.process_time
) -> Counter[str]:
    counts: Counter[str] = Counter()
    progress = Progress(len(installs), StringIO(), enabled=False)
    pool = _Pool(cast("OAuthHelper", helper), installs, Plan(None), counts, progress, cpu_clock=cpu_clock)
    pool.run(limit)
    return counts


class _FakeCPU:
    """A process CPU clock for the pool: it runs as fast as the wall clock while ``saturated``
    (every thread competing for one core), and otherwise at ``idle_rate`` of it (0: every
    thread waiting)."""

    def __init__(self, *, saturated: bool, idle_rate: float = 0.0) -> None:
        self.saturated = saturated
        self.idle_rate = idle_rate
        self.mutex = threading.Lock()
        self.total = 0.0
        self.last = time.monotonic()

    def __call__(self) -> float:
        with self.mutex:
            now = time.monotonic()
            self.total += (now - self.last) * (1.0 if self.saturated else self.idle_rate)
            self.last = now
            return self.total


class _SlowHelper:
    """Refreshes that each take ``seconds`` (slow enough for the pool to look at them), noting
    how many run at once when each starts; ``on_start`` may change the fake CPU meanwhile.

    While ``shared`` the refreshes share one resource (a core under the GIL, a provider at its
    limit): each holds it for ``seconds``, one at a time, so more workers bring no more
    throughput. A lock, not a sleep scaled by the refreshes in flight: on a loaded machine each
    sleep overshoots, and overshoots that overlap would make two workers look faster than one."""

    def __init__(
        self,
        seconds: float,
        on_start: Callable[[_SlowHelper], None] | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self.seconds = seconds
        self.on_start = on_start
        self.shared = shared
        self.mutex = threading.Lock()
        self.resource = threading.Lock()  # what ``shared`` refreshes take turns on
        self.in_flight = 0
        self.starts: list[int] = []  # in-flight count as each refresh began (itself included)

    def refresh(
        self, install: str, *, force: bool = True, within: float | None = None, override_backoff: bool = False
    ) -> RefreshOutcome:
        with self.mutex:
            self.in_flight += 1
            self.starts.append(self.in_flight)
        if self.on_start is not None:
            self.on_start(self)
        if self.shared:
            with self.resource:
                time.sleep(self.seconds)
        else:
            time.sleep(self.seconds)
        with self.mutex:
            self.in_flight -= 1
        return RefreshOutcome(install, "refreshed")


def test_the_pool_grows_to_the_concurrency_while_refreshes_wait() -> None:
    helper = _WaitingHelper(parties=8)
    installs = [f"site{i:03d}.example" for i in range(40)]
    counts = _run(helper, installs, limit=8)
    assert counts == Counter(refreshed=40)
    assert sorted(helper.seen) == installs  # each install once
    assert helper.most_in_flight == 8


def test_the_pool_never_runs_more_than_the_concurrency() -> None:
    # Six refreshes wait for each other; a ceiling of 6 must hold them all, never a seventh.
    helper = _WaitingHelper(parties=6)
    installs = [f"site{i:03d}.example" for i in range(30)]
    assert _run(helper, installs, limit=6) == Counter(refreshed=30)
    assert helper.most_in_flight == 6


def test_a_workers_bug_is_raised_after_the_others_stop() -> None:
    class Broken(_WaitingHelper):
        def refresh(
            self,
            install: str,
            *,
            force: bool = True,
            within: float | None = None,
            override_backoff: bool = False,
        ) -> RefreshOutcome:
            raise RuntimeError(f"bug at {install}")

    with pytest.raises(RuntimeError, match=r"bug at site000\.example"):
        _run(Broken(parties=1), [f"site{i:03d}.example" for i in range(5)], limit=4)


def test_slow_refreshes_on_a_saturated_cpu_do_not_grow_the_pool() -> None:
    # Every refresh takes 20 ms, which alone would double the pool every few checks; but the
    # process is using a whole core, so the time is spent waiting for the GIL, not for the
    # provider, and more threads would only take it from one another.
    helper = _SlowHelper(0.02)
    installs = [f"site{i:03d}.example" for i in range(40)]
    counts = _run(helper, installs, limit=8, cpu_clock=_FakeCPU(saturated=True))
    assert counts == Counter(refreshed=40)
    assert max(helper.starts) == 1


def test_the_pool_halves_while_the_cpu_stays_saturated() -> None:
    # The provider is slow at first (the CPU idles): the pool grows to its ceiling. Then the
    # CPU stays saturated: the pool must come back down to one worker. Once twenty refreshes
    # in a row have run alone the rest answer at once, so the test ends soon after.
    cpu = _FakeCPU(saturated=False)
    alone = 0

    def on_start(helper: _SlowHelper) -> None:
        nonlocal alone
        with helper.mutex:
            if not cpu.saturated and max(helper.starts) == 8:
                # Grown: from now on every thread wants the core, and fewer of them finish
                # as many refreshes (8 in flight take 50 ms each, one alone 6.25 ms).
                cpu.saturated = helper.shared = True
                helper.seconds = 0.05 / 8
                helper.starts.clear()
            elif cpu.saturated and helper.starts:
                alone = alone + 1 if helper.starts[-1] == 1 else 0
                if alone >= 20:
                    helper.seconds = 0.0

    helper = _SlowHelper(0.05, on_start)
    installs = [f"site{i:05d}.example" for i in range(20_000)]
    assert _run(helper, installs, limit=8, cpu_clock=cpu) == Counter(refreshed=20_000)
    assert cpu.saturated, "the pool never grew to its ceiling"
    assert alone >= 20, "the pool never came back down to one worker"


def test_a_halving_that_costs_throughput_is_undone() -> None:
    # The CPU is saturated, but each refresh still waits 50 ms for the provider whatever the
    # number in flight (32 workers against a 100 ms provider on a slow core): halving the pool
    # would halve the throughput. A halving is tried, finds that, and is undone; most
    # refreshes keep running eight at a time.
    cpu = _FakeCPU(saturated=False)

    def on_start(helper: _SlowHelper) -> None:
        with helper.mutex:
            if not cpu.saturated and max(helper.starts) == 8:
                cpu.saturated = True
                helper.starts.clear()

    helper = _SlowHelper(0.05, on_start)
    installs = [f"site{i:05d}.example" for i in range(1_000)]
    assert _run(helper, installs, limit=8, cpu_clock=cpu) == Counter(refreshed=1_000)
    assert cpu.saturated, "the pool never grew to its ceiling"
    crowded = sum(started >= 5 for started in helper.starts)
    assert crowded >= 0.7 * len(helper.starts), f"{crowded} of {len(helper.starts)} began with 5 or more"


def test_a_doubling_that_brings_no_throughput_is_undone() -> None:
    # Refreshes wait (10 ms each alone, the process at 0.6 of a core), but share one resource:
    # two at once take twice as long (a fast provider at its limit, on the other core). The
    # pool tries a second worker, finds no more throughput, and goes back to one.
    helper = _SlowHelper(0.01, shared=True)
    installs = [f"site{i:03d}.example" for i in range(600)]
    counts = _run(helper, installs, limit=8, cpu_clock=_FakeCPU(saturated=False, idle_rate=0.6))
    assert counts == Counter(refreshed=600)
    alone = sum(started == 1 for started in helper.starts)
    assert alone >= 0.7 * len(helper.starts), f"only {alone} of {len(helper.starts)} began alone"
    assert max(helper.starts) <= 2, "the pool doubled again after a doubling that did not pay"


def test_a_doubling_that_pays_is_kept_to_the_ceiling() -> None:
    # The same busy process (0.6 of a core), so every doubling is on trial; but each refresh
    # waits 30 ms for the provider however many run: every doubling doubles the throughput.
    helper = _SlowHelper(0.03)
    installs = [f"site{i:03d}.example" for i in range(600)]
    counts = _run(helper, installs, limit=8, cpu_clock=_FakeCPU(saturated=False, idle_rate=0.6))
    assert counts == Counter(refreshed=600)
    assert max(helper.starts) == 8


def test_a_bug_while_workers_are_parked_ends_the_run_and_is_raised() -> None:
    # Stop meeting park: once the pool has shrunk to one worker (seven parked), that worker's
    # next refresh raises. The parked workers must wake and leave, and the bug must surface.
    cpu = _FakeCPU(saturated=False)
    alone = 0

    def on_start(helper: _SlowHelper) -> None:
        nonlocal alone
        with helper.mutex:
            if not cpu.saturated and max(helper.starts) == 8:
                cpu.saturated = helper.shared = True  # as in the test above
                helper.seconds = 0.05 / 8
                helper.starts.clear()
                return
            if cpu.saturated and helper.starts:
                alone = alone + 1 if helper.starts[-1] == 1 else 0
            shrunk = alone >= 20
        if shrunk:
            raise RuntimeError("bug while others are parked")

    helper = _SlowHelper(0.05, on_start)
    installs = [f"site{i:05d}.example" for i in range(20_000)]
    with pytest.raises(RuntimeError, match="bug while others are parked"):
        _run(helper, installs, limit=8, cpu_clock=cpu)
    assert alone >= 20, "the pool never came back down to one worker"
