"""The webhook notifier: each event POSTed as JSON, signed with HMAC-SHA256.

Headers (see README, "Notifications", for a receiver's check):

- ``OOB-Helper-Timestamp``: unix seconds when this attempt was signed (a receiver refuses old
  ones, so a captured request cannot be replayed later);
- ``OOB-Helper-Signature``: ``sha256=`` + hex HMAC-SHA256 with the shared secret over
  ``<timestamp>.<body>``, the body exactly as sent;
- ``OOB-Helper-Delivery``: an id that stays the same across retries (a receiver drops repeats).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from oob_helper.errors import NetworkError
from oob_helper.notify.delivery import Backoff, GiveUp, Retry, deliver
from oob_helper.notify.settings import origin
from oob_helper.transport import Transport

SIGNATURE_HEADER = "OOB-Helper-Signature"
TIMESTAMP_HEADER = "OOB-Helper-Timestamp"
DELIVERY_HEADER = "OOB-Helper-Delivery"


class _HidePath(logging.Filter):
    """Shows only ``scheme://host`` of the webhook URL in httpx's request log: hosted webhook
    URLs often carry their credential in the path or query."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.origin = origin(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            str(a).startswith(self.origin + "/") or str(a).startswith(self.origin + "?") for a in record.args
        ):
            record.args = tuple(
                self.origin + "/..." if str(a).startswith(self.origin) else a for a in record.args
            )
        return True


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float = 300.0
) -> bool:
    """A receiver's check: signed with ``secret`` and signed within ``tolerance`` seconds of ``now``.

    ``headers`` with lower-case names (as Starlette's and most frameworks' are).
    """
    try:
        timestamp = int(headers.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), headers.get(SIGNATURE_HEADER.lower(), ""))


class WebhookNotifier:
    """POSTs events to one URL; ``send`` never raises and returns whether it was delivered."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        transport: Transport | None = None,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._secret = secret
        # Its own connection pool by default: a slow receiver never holds the token requests'.
        self._owns_transport = transport is None
        self._transport = transport if transport is not None else Transport()
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        # Receivers compare the timestamp with their real clock, never with a test's clock.
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.shown = origin(url)
        self._hide = _HidePath(url)
        logging.getLogger("httpx").addFilter(self._hide)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown!r})"

    def send(self, payload: dict[str, Any]) -> bool:
        """POST ``payload`` as JSON with bounded retries."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        delivery = secrets.token_hex(12)

        def attempt() -> None:
            timestamp = int(self.wall_clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "oob-helper-notify",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                DELIVERY_HEADER: delivery,
            }
            try:
                status, retry_after = self._transport.post(
                    self._url, content=body, headers=headers, timeout=self.timeout
                )
            except NetworkError as exc:
                raise Retry(str(exc)) from None
            if status >= 500 or status == 429:
                raise Retry(f"the receiver answered {status}", retry_after)
            if status >= 300:
                raise GiveUp(f"the receiver answered {status}")

        return deliver(f"webhook to {self.shown} ({payload.get('kind')})", attempt, self.backoff, self.sleep)

    def close(self) -> None:
        """Release the HTTP pool (when this notifier made it)."""
        logging.getLogger("httpx").removeFilter(self._hide)
        if self._owns_transport:
            self._transport.close()


__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookNotifier", "sign", "verify"]
