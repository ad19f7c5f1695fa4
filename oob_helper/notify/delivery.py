"""Bounded retries with back-off, shared by the notifiers (webhook and email)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("oob_helper.notify")


class Retry(Exception):
    """This attempt failed in a way a later one may not (connect error, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class GiveUp(Exception):
    """This delivery cannot succeed by trying again (a 4xx, a refused recipient)."""


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; waits ``base``, 2x``base``, ... (capped, with jitter) between."""

    attempts: int = 4
    base: float = 1.0
    cap: float = 30.0

    def delay(self, failed: int, retry_after: float | None) -> float:
        """How long to wait after the ``failed``-th failed attempt."""
        wait = min(self.cap, self.base * 2.0 ** (failed - 1))
        if retry_after is not None:
            wait = min(self.cap, max(wait, retry_after))
        return wait * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not a secret


def deliver(
    what: str,
    attempt: Callable[[], None],
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Run ``attempt`` until it returns, raises GiveUp, or ``backoff.attempts`` ran out.

    True when delivered. Never raises: failures are logged (``what`` names the delivery; no
    exception text from lower layers is trusted to be secret-free, so only the reason given).
    """
    for number in range(1, backoff.attempts + 1):
        try:
            attempt()
        except Retry as exc:
            if number == backoff.attempts:
                logger.warning("%s failed after %d attempts: %s", what, number, exc)
                return False
            logger.info("%s: attempt %d failed (%s); trying again", what, number, exc)
            sleep(backoff.delay(number, exc.retry_after))
        except GiveUp as exc:
            logger.warning("%s refused: %s", what, exc)
            return False
        except Exception as exc:
            logger.warning("%s failed: %s", what, type(exc).__name__)
            return False
        else:
            return True
    return False  # pragma: no cover - attempts < 1


__all__ = ["Backoff", "GiveUp", "Retry", "deliver"]
