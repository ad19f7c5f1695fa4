"""``oob-helper refresh``: one install, or every install on a bounded number of threads.

The progress bar is drawn on stderr only when stderr is a terminal; each install that was not
refreshed is named on stderr; the summary line goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from oob_helper.cli_signals import critical
from oob_helper.config import Settings
from oob_helper.errors import (
    ConfigurationError,
    NotConnected,
    OobHelperError,
    ReauthorizationRequired,
    SiteMismatch,
)
from oob_helper.health import KEEPALIVE_MARGIN
from oob_helper.progress import Progress
from oob_helper.tokens import RefreshResult
from oob_helper.transport import DEFAULT_KEEP_ALIVE

if TYPE_CHECKING:
    from oob_helper.helper import OAuthHelper, RefreshOutcome

RESULT_ORDER = ("refreshed", "skipped", "reauthorization_required", "failed")
NOT_DUE = "not_due"
# Installs whose shared back-off held the refresh (nothing sent; oob_helper/backoff.py).
BACKED_OFF = "backed_off"
# A refresh in flight this long is waiting on something (the provider, the disk, another
# process's lock), so one more thread would overlap that wait instead of competing for the GIL.
SLOW_REFRESH = 0.005
# The pool grows after this many ticks of SLOW_REFRESH in a row with its workers waiting.
WAIT_TICKS = 3
# A process using this much of one core (all threads' CPU time over wall time) is bound by the
# GIL, not by a wait: more threads would only take it from one another, so the pool does not
# grow, and after SHRINK_TICKS of it in a row half its workers pause (park).
SATURATED = 0.85
SHRINK_TICKS = 20
# The longest the steering waits between checks while nothing needs watching (see _steer).
IDLE_TICK = 0.08
# A change of size that may not pay is tried, then kept only if the throughput says so: a
# doubling expected to bring the process near a core, and every halving. The verdict compares
# the refreshes finished per second over a span as long as a typical refresh (at least
# TRIAL_SPAN_MIN, for enough of them to count; at most TRIAL_SPAN_MAX), just before the change
# and one span after it (the new workers' first refreshes have finished by then).
TRIAL_SPAN_MIN = 0.1
TRIAL_SPAN_MAX = 1.0
TRIAL_GAIN = 1.25  # a doubling stays if it brought at least this much more throughput
TRIAL_KEEP = 0.8  # a halving stays if it kept at least this much of the throughput
# After a change did not pay, the same kind is not tried again for RETRY_AFTER seconds, twice
# that after the next one that does not pay, and so on up to RETRY_MAX.
RETRY_AFTER = 1.0
RETRY_MAX = 16.0


@dataclass(frozen=True)
class Plan:
    """What to refresh: ``within`` (None = force), and with ``keepalive`` (seconds of margin)
    only installs whose refresh token lapses within it, or whose access token expires within
    ``within`` when that is given too."""

    within: float | None
    keepalive: float | None = None


def summary_line(counts: Mapping[str, int], total: int, elapsed: float, *, keepalive: bool = False) -> str:
    """``refreshed 3, skipped 1, reauthorization required 0, failed 0, backed off 0 (4 installs
    in 0.2s)``; with ``keepalive`` also ``not due N`` (before ``backed off``): installs whose
    refresh token is not near its lapse."""
    names = (*RESULT_ORDER, NOT_DUE, BACKED_OFF) if keepalive else (*RESULT_ORDER, BACKED_OFF)
    parts = [f"{name.replace('_', ' ')} {counts.get(name, 0)}" for name in names]
    return f"{', '.join(parts)} ({total} install{'s' if total != 1 else ''} in {elapsed:.1f}s)"


def _refresh_one(
    helper: OAuthHelper, install: str, plan: Plan, *, override_backoff: bool = False
) -> RefreshOutcome | None:
    """One install's outcome; None when ``--keepalive`` found it not due (nothing sent).
    ``override_backoff``: a person named this install, so its back-off does not hold it."""
    from oob_helper.helper import RefreshOutcome  # noqa: PLC0415

    within = plan.within
    try:
        if plan.keepalive is not None:
            record = helper.status(install)
            if record.state == "connected" and not helper.keepalive_due(record, plan.keepalive):
                token = record.token
                if within is None or token is None or not token.is_expiring(helper.clock(), within):
                    helper.observe(install, record)  # tell a warning that came due anyway
                    return None
            within = None  # due: refresh now
        return helper.refresh(install, force=within is None, within=within, override_backoff=override_backoff)
    except ConfigurationError:
        raise  # the same for every install (e.g. no client id): stop and say it once, exit 2
    except OobHelperError as exc:
        # The facade reports most failures in the outcome; anything raised still counts.
        needs_person = isinstance(exc, ReauthorizationRequired | NotConnected | SiteMismatch)
        result: RefreshResult = "reauthorization_required" if needs_person else "failed"
        return RefreshOutcome(install=install, result=result, error=" ".join(str(exc).split()))


def _outcome_text(outcome: RefreshOutcome) -> str:
    what = f"install {outcome.install!r}: {outcome.result.replace('_', ' ')}"
    if not outcome.error:
        return what
    # The facade's messages for reauthorization already name the install.
    return outcome.error if repr(outcome.install) in outcome.error else f"{what}: {outcome.error}"


def refresh_command(args: argparse.Namespace, helper: OAuthHelper, settings: Settings) -> int:
    """``refresh --install NAME`` or ``refresh --all``; returns the exit code."""
    started = time.monotonic()
    counts: Counter[str] = Counter()
    margin = args.keepalive_margin
    if margin is not None and not args.keepalive:
        raise ConfigurationError(
            "--keepalive-margin applies only with --keepalive: add --keepalive, or drop it"
        )
    plan = Plan(args.within, (KEEPALIVE_MARGIN if margin is None else margin) if args.keepalive else None)
    if args.all:
        installs: list[str] = helper.store.list_installs()
        _refresh_all(helper, installs, plan, args.concurrency, counts)
    else:
        # An unknown install is an error of its own (exit 3, "connect it first"), so no catch.
        installs = [args.install]
        with critical():
            if plan.keepalive is None:
                # A person named this install: its back-off does not hold the refresh.
                outcome: RefreshOutcome | None = helper.refresh(
                    args.install, force=args.within is None, within=args.within, override_backoff=True
                )
            elif helper.status(args.install).state == "not_connected":
                raise NotConnected(args.install)
            else:
                outcome = _refresh_one(helper, args.install, plan, override_backoff=True)
        counts[outcome.result if outcome is not None else NOT_DUE] += 1
        if outcome is not None and outcome.result not in ("refreshed", "skipped"):
            print(_outcome_text(outcome), file=sys.stderr)
    elapsed = time.monotonic() - started
    print(summary_line(counts, len(installs), elapsed, keepalive=plan.keepalive is not None))
    return _refresh_exit_code(counts)


def _refresh_all(
    helper: OAuthHelper, installs: list[str], plan: Plan, concurrency: int, counts: Counter[str]
) -> None:
    progress = Progress(len(installs), sys.stderr, enabled=sys.stderr.isatty())
    pool = _Pool(helper, installs, plan, counts, progress)
    limit = min(concurrency, max(len(installs), 1))
    if limit > DEFAULT_KEEP_ALIVE and helper.transport.owns_http:
        helper.transport.keep_alive(limit)  # one kept connection per worker
    if installs and plan.within is None and plan.keepalive is None:
        # Every install will be sent: build the HTTP client (httpx imported, TLS context) now,
        # so the first refresh is not slow for the process's start and the pool may grow
        # while it is still in flight (one provider round trip sooner).
        _ = helper.transport.http
        pool.first_done.set()
    try:
        pool.run(limit)
    finally:
        progress.close()


class _Pool:
    """The worker threads of one ``refresh --all``.

    Workers take installs from one shared iterator and count their own outcomes under one lock;
    the main thread only waits for them. Handing each outcome to the main thread through a
    queue woke one more thread per refresh: a GIL hand-off and a futex round trip that cost
    more CPU than the store's statements (bench/bench_refresh_all.py).

    The concurrency is a ceiling, reached only while refreshes wait: the pool starts with one
    worker and, once a first refresh has finished (or the client was made up front), doubles
    when at WAIT_TICKS checks in a row SLOW_REFRESH apart three in four workers were inside a
    refresh begun SLOW_REFRESH earlier or more (then at each further check while that lasts).
    Against a provider that answers in a millisecond, 16 threads mostly take the GIL from one
    another (2.5 ms of CPU per refresh against 1.7 with one thread, same store, same run);
    against one that takes 100 ms, 32 workers run about 0.1 s after the start.

    Slow refreshes alone do not tell a wait from a lack of CPU: once the threads compete for
    the GIL, every refresh is slow. So the pool grows only while the process uses less than
    SATURATED of a core, and halves (parking the workers of the upper slots) after SHRINK_TICKS
    checks in a row at or above it. Without that, one stall (an fsync of a SQLite checkpoint)
    grew the pool to two workers, whose contention looked like a wait, and within 30 ms it ran
    16 threads against a provider one thread could keep up with.

    The CPU alone still misjudges two cases, so a change that may not pay is put on trial and
    undone unless the refreshes finished per second say it paid (TRIAL_GAIN, TRIAL_KEEP):
    - a doubling that would bring the process near a core: against a fast provider at its own
      limit (the mock on the other core of two) the process used 0.5-0.8 of a core, so the pool
      grew to 16, whose threads finished no more refreshes than two, at 1.3-1.7 times the CPU
      per refresh (bench/bench_refresh_all.py);
    - every halving: 32 workers against a 100 ms provider on a slow core are saturated and still
      waiting; halving them halved the throughput (10,000 installs took 1.96 times the ideal).
    A kind of change that did not pay is not tried again for a while (RETRY_AFTER, doubling).
    """

    def __init__(
        self,
        helper: OAuthHelper,
        installs: list[str],
        plan: Plan,
        counts: Counter[str],
        progress: Progress,
        *,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.helper = helper
        self.cpu_clock = cpu_clock  # this process's CPU time, all threads (a test fakes it)
        self.plan = plan
        self.counts = counts
        self.progress = progress
        self.feed = iter(installs)
        self.mutex = threading.Lock()
        # Workers of slots at or above ``active`` wait on ``gate`` (parked) until it rises again,
        # the feed runs out or the pool stops.
        self.active = 0
        self.gate = threading.Condition(self.mutex)
        self.stop = threading.Event()
        self.exhausted = threading.Event()  # set by the first worker that finds the feed empty
        # Set when the first refresh has finished (or the caller made the client beforehand):
        # until then a slow refresh may be paying for the process's start, not waiting.
        self.first_done = threading.Event()
        # Workers still in _work(), plus one share the main thread holds while it may start
        # more; whoever gives up the last share sets ``all_done``. Counting the main thread
        # means ``all_done`` cannot be set while a worker may still be added.
        self.running = 1
        self.all_done = threading.Event()
        self.errors: list[BaseException] = []
        self.workers: list[threading.Thread] = []
        # Per worker: time.monotonic() when its current refresh began, None between refreshes.
        self.busy_since: list[float | None] = []
        self.finished = 0  # refreshes finished (under ``mutex``)
        self.durations: deque[float] = deque(maxlen=DURATIONS)  # the latest ones' (under ``mutex``)

    def run(self, limit: int) -> None:
        """Refresh every install on at most ``limit`` threads; raise a worker's bug, if any."""
        try:
            # Ctrl-C and SIGTERM land in the Event waits below (all_done.wait says why not join()).
            self._grow(1, limit)
            if limit > 1:
                self._steer(limit)
            self._leave()  # nothing more to hand out: the last worker out sets all_done
            # Wait on an Event, never in Thread.join(): on CPython 3.11 a signal that raises
            # while join() waits marks the still-running thread as stopped (bpo-45274's fix
            # releases its state lock), so a later join returns at once and the process could
            # exit with a refresh in flight, losing its new refresh token.
            self.all_done.wait()
        except BaseException:
            # Ctrl-C or SIGTERM: start nothing new; refreshes in flight finish and are stored
            # (a second signal meanwhile is held, not allowed to cut them short).
            self.stop.set()
            self._wake()
            with critical():
                for worker in self.workers:
                    worker.join()
            raise
        for worker in self.workers:  # every one has left its loop: nothing is in flight any more
            worker.join()
        if self.errors:
            raise self.errors[0]

    def _steer(self, limit: int) -> None:
        """Every SLOW_REFRESH (up to IDLE_TICK apart while nothing needs watching) until the
        feed runs out: grow while workers wait and the CPU is not saturated; halve while it
        stays saturated; undo a trial that did not pay (see the class docstring)."""
        streak = 0  # checks in a row with the workers waiting
        hot = 0  # checks in a row with the CPU saturated
        judged = 1  # the workers the next check looks at: those active at the last one
        # (monotonic time, process CPU time, refreshes finished) at each check.
        history: deque[tuple[float, float, int]] = deque(maxlen=HISTORY)
        history.append((time.monotonic(), self.cpu_clock(), 0))
        trial: _Trial | None = None
        retry = {"grow": _Retry(), "shrink": _Retry()}
        tick = SLOW_REFRESH
        while not self.stop.is_set():
            if self.exhausted.wait(tick):
                return  # nothing left to hand out: more workers would find nothing
            now, used = time.monotonic(), self.cpu_clock()
            wall, cpu, _ = history[-1]
            saturated = used - cpu >= SATURATED * (now - wall)
            history.append((now, used, self.finished))
            if trial is not None:
                if now < trial.ends:
                    continue
                kept = trial.pays(_rate(history, trial.settled))
                if not kept:
                    self._set_active(trial.before)
                retry[trial.kind].judged(kept, now)
                trial = None
                hot = streak = 0
                judged = self.active
                continue
            hot = hot + 1 if saturated else 0
            if hot >= SHRINK_TICKS and self.active > 1:
                if retry["shrink"].allows(now):
                    trial = self._try(self.active // 2, "shrink", history, now)
                hot = streak = 0
                judged = self.active
                continue
            # A provider's latency lasts; a stall (an fsync behind another process's writes,
            # a moment without a core) passes: grow only when the wait has held for a while.
            # And not before a first refresh has finished: the first ones also pay for the
            # process's start (httpx imported, the client built, the first connection).
            waiting = (
                self.active < limit and not saturated and self.first_done.is_set() and self._waiting(judged)
            )
            judged = self.active
            streak = streak + 1 if waiting else 0
            # Each check wakes this thread, which then takes the GIL from a worker: while
            # there is nothing to watch (no wait, no saturation, no trial) the checks thin out,
            # up to IDLE_TICK apart; 200 a second cost a single worker 10% more CPU per refresh.
            tick = SLOW_REFRESH if streak or hot or trial is not None else min(IDLE_TICK, 2 * tick)
            if streak < WAIT_TICKS:
                continue
            # While the wait goes on unbroken, each further check doubles again; a check
            # without it starts the count over.
            streak = WAIT_TICKS - 1
            target = min(limit, 2 * self.active)
            then, cpu_then, _ = _sample_at(history, now - self._span())
            load = (used - cpu_then) / (now - then) if now > then else 1.0  # of one core, lately
            if load * target / self.active <= SATURATED:
                self._grow(target - self.active, limit)  # the CPU has room: no doubt it pays
            elif retry["grow"].allows(now):
                trial = self._try(target, "grow", history, now)
                judged = self.active

    def _try(
        self, size: int, kind: Literal["grow", "shrink"], history: deque[tuple[float, float, int]], now: float
    ) -> _Trial:
        """Change to ``size`` workers now; the returned trial says when and how to judge it."""
        span = self._span()
        trial = _Trial(kind, self.active, now + span, now + 2 * span, _rate(history, now - span))
        if size > self.active:
            self._grow(size - self.active, size)
        else:
            self._set_active(size)
        return trial

    def _span(self) -> float:
        """A typical refresh's duration lately, within the trial bounds."""
        with self.mutex:
            recent = sorted(self.durations)
        typical = recent[len(recent) // 2] if recent else 0.0  # the median, near enough
        return min(TRIAL_SPAN_MAX, max(TRIAL_SPAN_MIN, typical))

    def _grow(self, count: int, limit: int) -> None:
        """Let ``count`` more workers take installs: parked ones first, then new threads."""
        active = min(limit, self.active + count)
        if active > len(self.workers):
            self._add(active - len(self.workers))
        self._set_active(active)

    def _set_active(self, active: int) -> None:
        with self.gate:
            self.active = active
            self.gate.notify_all()

    def _wake(self) -> None:
        with self.gate:
            self.gate.notify_all()

    def _add(self, count: int) -> None:
        # Signals are held while threads start, so none lands between a thread's start and its
        # place in self.workers, which a signal's unwinding joins.
        with critical():
            for _ in range(count):
                slot = len(self.workers)
                self.busy_since.append(None)
                worker = threading.Thread(target=self._work, args=(slot,), name=f"refresh-{slot}")
                with self.mutex:
                    self.running += 1
                worker.start()
                self.workers.append(worker)

    def _leave(self) -> None:
        """Give up one share of ``running``; the last one sets ``all_done``."""
        with self.mutex:
            self.running -= 1
            if not self.running:
                self.all_done.set()

    def _waiting(self, count: int) -> bool:
        """Whether three in four of the first ``count`` workers (those active a check ago or
        more) are inside a refresh that began SLOW_REFRESH ago or more; not all of them: with
        many workers one has nearly always just begun its next refresh."""
        now = time.monotonic()
        judged = self.busy_since[:count]
        slow = sum(since is not None and now - since >= SLOW_REFRESH for since in judged)
        return 4 * slow >= 3 * len(judged)

    def _work(self, slot: int) -> None:
        try:
            while not self.stop.is_set():
                with self.gate:
                    while slot >= self.active and not self.stop.is_set() and not self.exhausted.is_set():
                        self.gate.wait()  # parked: the pool is smaller than its threads
                    if self.stop.is_set():
                        return  # woken by a stop (a bug, Ctrl-C, SIGTERM): start nothing new
                    install = next(self.feed, None)
                if install is None:
                    self.exhausted.set()
                    self._wake()  # parked workers leave too
                    return
                began = self.busy_since[slot] = time.monotonic()
                try:
                    outcome = _refresh_one(self.helper, install, self.plan)
                except BaseException as exc:  # a bug, not a refresh failure: the main thread raises it
                    with self.mutex:
                        self.errors.append(exc)
                    self.stop.set()
                    self._wake()
                    return
                finally:
                    self.busy_since[slot] = None
                if not self.first_done.is_set():
                    self.first_done.set()
                self._record(outcome, time.monotonic() - began)
        finally:
            self._leave()

    def _record(self, outcome: RefreshOutcome | None, duration: float) -> None:
        with self.mutex:
            self.finished += 1
            self.durations.append(duration)
            if outcome is None:
                self.counts[NOT_DUE] += 1
                self.progress.advance(NOT_DUE)
                return
            self.counts[outcome.result] += 1
            if outcome.result not in ("refreshed", "skipped"):
                self.progress.message(_outcome_text(outcome))
            self.progress.advance(outcome.result)


# Checks the steering remembers (10 s at SLOW_REFRESH), and refresh durations it takes the
# typical one from.
HISTORY = 2000
DURATIONS = 32


@dataclass(frozen=True)
class _Trial:
    """A change of the pool's size on trial: judged on the throughput from ``settled`` to
    ``ends`` against ``rate_before`` (refreshes per second before it); undone to ``before``
    workers if it did not pay."""

    kind: Literal["grow", "shrink"]
    before: int
    settled: float
    ends: float
    rate_before: float

    def pays(self, rate_after: float) -> bool:
        """Whether the change is kept, given the throughput since it settled."""
        if self.kind == "grow":
            return rate_after >= TRIAL_GAIN * self.rate_before
        return rate_after >= TRIAL_KEEP * self.rate_before


class _Retry:
    """When a kind of trial may run again: at once after one that paid, else after a wait
    that doubles with each one in a row that did not (RETRY_AFTER to RETRY_MAX)."""

    def __init__(self) -> None:
        self.wait = RETRY_AFTER
        self.not_before = 0.0

    def allows(self, now: float) -> bool:
        """Whether a trial may start at ``now``."""
        return now >= self.not_before

    def judged(self, kept: bool, now: float) -> None:
        """Note a trial's verdict, given at ``now``."""
        if kept:
            self.wait = RETRY_AFTER
            return
        self.not_before = now + self.wait
        self.wait = min(RETRY_MAX, 2 * self.wait)


def _sample_at(history: deque[tuple[float, float, int]], when: float) -> tuple[float, float, int]:
    """The newest check at or before ``when`` (the oldest remembered if none is)."""
    for sample in reversed(history):
        if sample[0] <= when:
            return sample
    return history[0]


def _rate(history: deque[tuple[float, float, int]], since: float) -> float:
    """Refreshes finished per second from ``since`` to the newest check."""
    then, (now, _, done) = _sample_at(history, since), history[-1]
    return (done - then[2]) / (now - then[0]) if now > then[0] else 0.0


def _refresh_exit_code(counts: Mapping[str, int]) -> int:
    # A person is needed (3) matters more than a retry later (4).
    if counts.get("reauthorization_required"):
        return 3
    if counts.get("failed") or counts.get(BACKED_OFF):
        return 4
    return 0
