"""``oob-helper refresh``: one install, or every install in a bounded thread pool.

The progress bar is drawn on stderr only when stderr is a terminal; each install that was not
refreshed is named on stderr; the summary line goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from oob_helper.cli_signals import critical
from oob_helper.config import Settings
from oob_helper.errors import NotConnected, OobHelperError, ReauthorizationRequired
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
    except OobHelperError as exc:
        # The facade reports most failures in the outcome; anything raised still counts.
        needs_person = isinstance(exc, ReauthorizationRequired | NotConnected)
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
    pool = ThreadPoolExecutor(
        max_workers=min(concurrency, max(len(installs), 1)), thread_name_prefix="refresh"
    )
    try:
        pending: set[Future[RefreshOutcome]] = set()
        queue = iter(installs)
        # Submit as results come in: a few futures per worker, never one per install (10,000).
        for install in queue:
            pending.add(pool.submit(_refresh_one, helper, install, within))
            if len(pending) >= concurrency * 4:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                counts[outcome.result] += 1
                if outcome.result not in ("refreshed", "skipped"):
                    progress.message(_outcome_text(outcome))
                progress.advance(outcome.result)
                next_install = next(queue, None)
                if next_install is not None:
                    pending.add(pool.submit(_refresh_one, helper, next_install, within))
    except BaseException:
        # Ctrl-C or SIGTERM: drop what has not started; refreshes in flight finish and are
        # stored (a second signal meanwhile is held, not allowed to cut them short).
        with critical():
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        progress.close()
    pool.shutdown(wait=True)


def _refresh_exit_code(counts: Mapping[str, int]) -> int:
    # A person is needed (3) matters more than a retry later (4).
    if counts.get("reauthorization_required"):
        return 3
    if counts.get("failed"):
        return 4
    return 0
