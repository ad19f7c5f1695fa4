"""The worker pool of ``refresh --all``: it grows to ``--concurrency`` while refreshes wait.

The pool starts with one worker and adds more only while its workers sit in slow refreshes
(oob_helper/cli_refresh.py, ``_Pool``). These tests drive it with a helper whose refreshes block
until enough of them run at once: a pool that never grew would leave the barrier short (the
barrier's timeout only stops a hang; nothing here measures time). The refreshes themselves,
over the live mock and a real store, are tested in test_cli_live.py.
"""

from __future__ import annotations

import threading
from collections import Counter
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


def _run(helper: _WaitingHelper, installs: list[str], limit: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    progress = Progress(len(installs), StringIO(), enabled=False)
    _Pool(cast("OAuthHelper", helper), installs, Plan(None), counts, progress).run(limit)
    return counts


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
