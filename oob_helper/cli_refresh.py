"""``oob-helper refresh``: one install, or every install on a bounded number of threads.

The progress bar is drawn on stderr only when stderr is a terminal; each install that was not
refreshed is named on stderr; the summary line goes to stdout.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from oob_helper.cli_signals import critical
from oob_helper.config import Settings
from oob_helper.errors import (
    ConfigurationError,
    NotConnected,
    OobHelperError,
    ReauthorizationRequired,
    SiteMismatch,
)
from oob_helper.progress import Progress
from oob_helper.tokens import RefreshResult

if TYPE_CHECKING:
    from oob_helper.helper import OAuthHelper, RefreshOutcome

RESULT_ORDER = ("refreshed", "skipped", "reauthorization_required", "failed")


def summary_line(counts: Mapping[str, int], total: int, elapsed: float) -> str:
    """``refreshed 3, skipped 1, reauthorization required 0, failed 0 (4 installs in 0.2s)``."""
    parts = [f"{name.replace('_', ' ')} {counts.get(name, 0)}" for name in RESULT_ORDER]
    return f"{', '.join(parts)} ({total} install{'s' if total != 1 else ''} in {elapsed:.1f}s)"


def _refresh_one(helper: OAuthHelper, install: str, within: float | None) -> RefreshOutcome:
    from oob_helper.helper import RefreshOutcome  # noqa: PLC0415

    try:
        return helper.refresh(install, force=within is None, within=within)
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
    if args.all:
        installs: list[str] = helper.store.list_installs()
        _refresh_all(helper, installs, args.within, args.concurrency, counts)
    else:
        # An unknown install is an error of its own (exit 3, "connect it first"), so no catch.
        installs = [args.install]
        with critical():
            outcome = helper.refresh(args.install, force=args.within is None, within=args.within)
        counts[outcome.result] += 1
        if outcome.result not in ("refreshed", "skipped"):
            print(_outcome_text(outcome), file=sys.stderr)
    print(summary_line(counts, len(installs), time.monotonic() - started))
    return _refresh_exit_code(counts)


def _refresh_all(
    helper: OAuthHelper, installs: list[str], within: float | None, concurrency: int, counts: Counter[str]
) -> None:
    progress = Progress(len(installs), sys.stderr, enabled=sys.stderr.isatty())
    # Worker threads take installs from one shared iterator and hand outcomes back through a
    # queue: a lock and a queue hand-off per install, where a pool fed through
    # ``wait(FIRST_COMPLETED)`` re-armed a waiter on every pending future per completion.
    feed = iter(installs)
    feed_lock = threading.Lock()
    stop = threading.Event()
    results: queue.SimpleQueue[RefreshOutcome | BaseException] = queue.SimpleQueue()

    def work() -> None:
        while not stop.is_set():
            with feed_lock:
                install = next(feed, None)
            if install is None:
                return
            try:
                outcome = _refresh_one(helper, install, within)
            except BaseException as exc:  # a bug, not a refresh failure: the main thread raises it
                results.put(exc)
                return
            results.put(outcome)

    workers = [
        threading.Thread(target=work, name=f"refresh-{n}")
        for n in range(min(concurrency, max(len(installs), 1)))
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in installs:
            item = _take(results)
            counts[item.result] += 1
            if item.result not in ("refreshed", "skipped"):
                progress.message(_outcome_text(item))
            progress.advance(item.result)
    except BaseException:
        # Ctrl-C or SIGTERM: start nothing new; refreshes in flight finish and are stored (a
        # second signal meanwhile is held, not allowed to cut them short).
        stop.set()
        with critical():
            for worker in workers:
                worker.join()
        raise
    finally:
        progress.close()
    for worker in workers:
        worker.join()


def _take(results: queue.SimpleQueue[RefreshOutcome | BaseException]) -> RefreshOutcome:
    item = results.get()
    if isinstance(item, BaseException):
        raise item
    return item


def _refresh_exit_code(counts: Mapping[str, int]) -> int:
    # A person is needed (3) matters more than a retry later (4).
    if counts.get("reauthorization_required"):
        return 3
    if counts.get("failed"):
        return 4
    return 0
