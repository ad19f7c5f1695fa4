"""OpenTelemetry metrics from the lifecycle events (extra ``oob-helper[otel]``).

``instrument(helper)`` subscribes to the helper's events and records:

- ``oob_helper.refreshes`` (counter): refreshes by ``outcome`` (``refreshed``, ``failed``,
  ``reauthorization_required``), ``error`` (the provider's OAuth error code, ``network``,
  ``none``, or ``other`` for a code outside the known set) and ``provider``;
- ``oob_helper.refresh.duration`` (histogram, seconds): from taking the install's lock to the
  outcome, by ``outcome`` and ``provider``;
- ``oob_helper.installs`` (gauge): installs by ``state``, counted from the store at most once
  per ``gauge_interval`` seconds (a scan of every record, so not at every collection).

Label sets are bounded: the install name is a label only with ``install_label=True`` (one time
series per install: for a handful of installs, never for a fleet). Without the
``opentelemetry-api`` package, ``instrument`` does nothing. Metrics are recorded through the
global meter provider unless one is given, so an application's OpenTelemetry SDK set-up (or
``opentelemetry-instrument``) decides where they go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from oob_helper.errors import ConfigurationError
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.stores._common import all_records

if TYPE_CHECKING:
    from oob_helper.helper import OAuthHelper

logger = logging.getLogger("oob_helper.metrics")

# RFC 6749 5.2 and 4.1.2.1, RFC 6750 3.1, and what the transport reports: anything else a
# provider sends is "other", so a peer cannot grow the label set.
KNOWN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "slow_down",
        "network",
    }
)
INSTALL_STATES = ("connected", "reauthorization_required")
_OUTCOMES = {
    "refreshed": "refreshed",
    "refresh_failed": "failed",
    "reauthorization_required": "reauthorization_required",
}


def require_opentelemetry() -> None:
    """ConfigurationError unless ``opentelemetry-api`` is installed (``metrics = "otel"``)."""
    try:
        import opentelemetry.metrics  # noqa: F401, PLC0415 - asked for by the setting
    except ImportError:
        raise ConfigurationError(
            "OOB_HELPER_METRICS=otel needs OpenTelemetry: pip install 'oob-helper[otel]' "
            "(or set OOB_HELPER_METRICS=off)"
        ) from None


def error_label(error: str | None) -> str:
    """The bounded label for a provider's error code."""
    if error is None:
        return "none"
    return error if error in KNOWN_ERRORS else "other"


class _InstallCounts:
    """Installs by state, read from the store at most once per ``interval`` seconds."""

    def __init__(self, helper: OAuthHelper, interval: float) -> None:
        self._helper = helper
        self._interval = interval
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._read_at: float | None = None

    def counts(self) -> Counter[str]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._interval:
                counts: Counter[str] = Counter()
                for record in all_records(self._helper.store):
                    counts[record.state] += 1
                self._counts, self._read_at = counts, now
            return Counter(self._counts)


def instrument(
    helper: OAuthHelper,
    *,
    meter_provider: Any = None,
    install_label: bool = False,
    gauge_interval: float = 60.0,
) -> Callable[[], None]:
    """Record the helper's refreshes and installs as OpenTelemetry metrics; returns the
    function that stops recording. A no-op when ``opentelemetry-api`` is not installed."""
    try:
        from opentelemetry import metrics  # noqa: PLC0415 - an optional extra
    except ImportError:
        logger.debug("opentelemetry-api is not installed: no metrics (pip install 'oob-helper[otel]')")
        return lambda: None
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    meter = provider.get_meter("oob_helper")
    base = {"provider": helper.provider.name}
    refreshes = meter.create_counter(
        "oob_helper.refreshes", unit="{refresh}", description="Token refreshes by outcome and error code"
    )
    duration = meter.create_histogram(
        "oob_helper.refresh.duration",
        unit="s",
        description="Time from taking an install's lock to the refresh's outcome",
    )
    counts = _InstallCounts(helper, gauge_interval)
    stopped = threading.Event()

    def observe(options: Any) -> Iterable[Any]:
        if stopped.is_set():
            return []
        found = counts.counts()
        return [
            metrics.Observation(found.get(state, 0), {**base, "state": state})
            for state in sorted({*INSTALL_STATES, *found})
        ]

    meter.create_observable_gauge(
        "oob_helper.installs", callbacks=[observe], unit="{install}", description="Installs by state"
    )

    def record(event: LifecycleEvent) -> None:
        outcome = _OUTCOMES.get(event.kind)
        if outcome is None or stopped.is_set():
            return
        if event.kind == "reauthorization_required" and event.duration is None:
            return  # found outside a refresh (e.g. a token the API refused): not a refresh
        attributes = {**base, "outcome": outcome}
        if install_label:
            attributes["install"] = event.install
        refreshes.add(1, {**attributes, "error": error_label(event.error)})
        if event.duration is not None:
            duration.record(event.duration, attributes)

    unsubscribe = helper.subscribe(record)

    def stop() -> None:
        stopped.set()
        unsubscribe()

    return stop


__all__ = ["KNOWN_ERRORS", "error_label", "instrument", "require_opentelemetry"]
