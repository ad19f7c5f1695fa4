"""AWeber's webhooks as the mock keeps them: apps, callbacks, events, batches, deliveries, faults.

Pure: no HTTP types and no I/O; ``mock_server.webhook_delivery`` sends what this model says is
due and reports each answer back. The rules, from AWeber's Webhooks documentation
(``aweber-api.md`` section 4):

- An app (an OAuth client) has a **Callback URL Allow-list** of exact URL prefixes, the events
  it selected, and a **Verification Key** (random bytes, shown base64-encoded).
- A customer account connects one callback URL per app; it must start with an allow-listed
  prefix (a plain prefix match, so ``https://example.com/api`` also allows ``/api-x``).
- ``subscriber.added``, ``subscriber.subscribed`` and ``subscriber.unsubscribed`` are emitted by
  the directory; each callback of the account whose app selected the event gets it, with the
  payload as it is at that moment.
- Events close together are batched: every event waiting for a callback when the delivery
  worker next looks (or all of them when delivery resumes after a pause) goes out as one
  envelope ``{account, client_id, callback, data: [{event, payload}]}``, at most
  ``batch_size`` events each.
- Each request carries ``AWeber-Delivery-ID``, ``Date`` (RFC 7231, the mock's clock) and
  ``AWeber-Signature: sha256=<hex>``, the HMAC-SHA256 keyed with the verification key over
  ``rstrip('date:' + Date + '\\n' + body)`` (:func:`signature`).

Where AWeber is silent the mock chooses, and the README says so: a retry keeps the delivery id
and the body but is signed afresh with the Date of its own sending; a non-2xx answer, a timeout
or a refused connection is retried ``retries`` times, ``retry_delay * 2**n`` seconds apart on the
mock's clock; a ``duplicate`` fault sends the same bytes twice.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from mock_server.api.model import Account, MailingList, Subscriber
from mock_server.api.views import Links
from mock_server.clock import Clock
from mock_server.webhook_records import (
    EVENTS,
    FAULT_KINDS,
    JOINED,
    LEFT,
    MEDIA_TYPE,
    SETTING_LIMITS,
    Attempt,
    Callback,
    Delivery,
    DeliveryFault,
    Send,
    Settings,
    WebhookApp,
    WebhookError,
    check_url,
    http_date,
    payload,
    signature,
)

__all__ = ["EVENTS", "JOINED", "LEFT", "Send", "WebhookError", "Webhooks", "signature"]

MAX_DELIVERIES_KEPT = 500
MAX_PENDING_EVENTS = 10_000


class Webhooks:
    """Every app's webhook set-up, the waiting events and the recent deliveries; thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self.reset()

    def __getstate__(self) -> dict[str, object]:
        # Listeners are the running server's delivery worker; a restored world gets its own.
        return {k: v for k, v in vars(self).items() if k != "_listeners"}

    def __setstate__(self, saved: dict[str, object]) -> None:
        vars(self).update(saved)
        self._listeners = []

    def reset(self) -> None:
        """Forget apps, callbacks, events, deliveries and faults; default settings."""
        with self._lock:
            self.settings = Settings()
            self._apps: dict[str, WebhookApp] = {}
            self._callbacks: dict[str, Callback] = {}
            self._waiting: dict[str, list[dict[str, Any]]] = {}
            self._deliveries: OrderedDict[str, Delivery] = OrderedDict()
            self._faults: list[DeliveryFault] = []
            self._next_fault = 1
            self._next_order = 1
        self._notify()

    # -- set-up --------------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from any thread) whenever something may have become due."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def has_listeners(self) -> bool:
        """Whether a delivery worker is listening (the app's lifespan is running)."""
        with self._lock:
            return bool(self._listeners)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def configure_app(self, client_id: str, allow_list: object, events: object = None) -> WebhookApp:
        """Set an app's allow-list and events (all three when not given); the key is kept."""
        if not isinstance(client_id, str) or not client_id:
            raise WebhookError("'client_id' must be the app's client id")
        if not isinstance(allow_list, list) or not allow_list or len(allow_list) > 20:
            raise WebhookError(
                "'allow_list' must be a list of 1 to 20 URL prefixes, e.g. [\"https://example.com/hooks/\"]"
            )
        prefixes = [check_url(item, "each allow-list entry") for item in allow_list]
        chosen = list(EVENTS) if events is None else events
        if not isinstance(chosen, list) or not chosen or any(e not in EVENTS for e in chosen):
            raise WebhookError(f"'events' must be a non-empty list drawn from {', '.join(EVENTS)}")
        with self._lock:
            old = self._apps.get(client_id)
            key = old.key if old is not None else secrets.token_bytes(32)
            app = WebhookApp(client_id, prefixes, [e for e in EVENTS if e in chosen], key)
            self._apps[client_id] = app
            return app

    def app(self, client_id: str) -> WebhookApp:
        """An app's set-up, or WebhookError."""
        with self._lock:
            found = self._apps.get(client_id)
        if found is None:
            raise WebhookError(
                f"app {client_id!r} has no webhook set-up: "
                "POST /_mock/webhooks/apps with its allow_list first"
            )
        return found

    def subscribe(self, client_id: str, account_id: int, url: object, base_url: str) -> Callback:
        """Connect (or replace) an account's Webhook URL for an app; it must match the allow-list.

        ``base_url`` is the mock's own base, for the REST links in payloads.
        """
        app = self.app(client_id)
        checked = check_url(url, "'url'")
        if not any(checked.startswith(prefix) for prefix in app.allow_list):
            raise WebhookError(
                f"'url' must start with one of the app's allow-listed prefixes: {', '.join(app.allow_list)}"
            )
        with self._lock:
            for old in [
                c for c in self._callbacks.values() if (c.client_id, c.account_id) == (client_id, account_id)
            ]:
                self._drop_callback(old.id)
            callback = Callback(str(uuid.uuid4()), client_id, account_id, checked, base_url, self.clock.now())
            self._callbacks[callback.id] = callback
            return callback

    def unsubscribe(self, callback_id: str) -> bool:
        """Remove a callback (its waiting events go with it); True if it existed."""
        with self._lock:
            return self._drop_callback(callback_id)

    def _drop_callback(self, callback_id: str) -> bool:
        # The customer removed the URL: what waits for it is not sent (an attempt in flight ends).
        self._waiting.pop(callback_id, None)
        for delivery in self._deliveries.values():
            if delivery.callback.id == callback_id and delivery.state in ("pending", "held", "sending"):
                delivery.state = "cancelled"
        return self._callbacks.pop(callback_id, None) is not None

    def callbacks(self) -> list[Callback]:
        """Every callback, oldest first."""
        with self._lock:
            return list(self._callbacks.values())

    def apps(self) -> list[WebhookApp]:
        """Every app with a webhook set-up."""
        with self._lock:
            return list(self._apps.values())

    def update_settings(self, changes: Mapping[str, object]) -> Settings:
        """Change delivery settings; WebhookError names a bad field and its range."""
        allowed = (*SETTING_LIMITS, "paused")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise WebhookError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(allowed)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "paused":
                if not isinstance(value, bool):
                    raise WebhookError("'paused' must be true or false")
                values[name] = value
                continue
            kind, low, high = SETTING_LIMITS[name]
            ok_type = isinstance(value, int) if kind is int else isinstance(value, int | float)
            if isinstance(value, bool) or not ok_type or not low <= value <= high:  # type: ignore[operator]
                raise WebhookError(f"{name!r} must be a {kind.__name__} from {low:g} to {high:g}")
            values[name] = kind(value)
        with self._lock:
            for name, value in values.items():
                setattr(self.settings, name, value)
            settings = self.settings
        self._notify()
        return settings

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, spec: Mapping[str, object]) -> DeliveryFault:
        """Arm ``{"kind": drop|delay|duplicate|reorder, "count", "delay_seconds", "callback"}``."""
        unknown = sorted(set(spec) - {"kind", "count", "delay_seconds", "callback"})
        if unknown:
            raise WebhookError(f"unknown field {unknown[0]!r}; allowed: kind, count, delay_seconds, callback")
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise WebhookError(f"'kind' must be one of {', '.join(FAULT_KINDS)}")
        count = spec.get("count", 2 if kind == "reorder" else 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise WebhookError("'count' must be an integer from 1 to 1000")
        if kind == "reorder" and count < 2:
            raise WebhookError("a reorder needs 'count' of at least 2 deliveries to swap")
        delay = spec.get("delay_seconds", 0.0)
        if kind == "delay" and (
            isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 < delay <= 86400
        ):
            raise WebhookError("a delay needs 'delay_seconds' from 0 to 86400 (on the mock's clock)")
        callback = spec.get("callback")
        if callback is not None and not isinstance(callback, str):
            raise WebhookError("'callback' must be a callback id")
        with self._lock:
            fault = DeliveryFault(self._next_fault, kind, count, float(delay or 0.0), callback)  # type: ignore[arg-type]
            self._next_fault += 1
            self._faults.append(fault)
            return fault

    def faults(self) -> list[DeliveryFault]:
        """The armed faults (a reorder that holds deliveries stays until it releases them)."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        """Disarm every fault and release the deliveries a reorder was holding."""
        with self._lock:
            for fault in self._faults:
                self._release(fault)
            self._faults.clear()
        self._notify()

    def _apply_fault(self, delivery: Delivery, now: float) -> None:
        for fault in self._faults:
            if fault.remaining <= 0 or fault.callback not in (None, delivery.callback.id):
                continue
            fault.remaining -= 1
            delivery.faults.append(fault.kind)
            if fault.kind == "drop":
                delivery.drop_next = True
            elif fault.kind == "delay":
                delivery.due_at = now + fault.delay_seconds
            elif fault.kind == "duplicate":
                delivery.duplicate = True
            else:
                delivery.state = "held"
                fault.held.append(delivery.id)
                if fault.remaining == 0:
                    self._release(fault)
            break
        self._faults = [f for f in self._faults if f.remaining > 0 or (f.kind == "reorder" and f.held)]

    def _release(self, fault: DeliveryFault) -> None:
        """Let a reorder's held deliveries go, newest first."""
        for delivery_id in reversed(fault.held):
            delivery = self._deliveries.get(delivery_id)
            if delivery is not None and delivery.state == "held":
                delivery.state = "pending"
                delivery.order = self._take_order()
        fault.held.clear()

    def _take_order(self) -> int:
        order = self._next_order
        self._next_order += 1
        return order

    # -- events and deliveries -----------------------------------------------------------------
    def emit(
        self,
        events: str | tuple[str, ...],
        account: Account,
        mailing_list: MailingList,
        subscriber: Subscriber,
        *,
        moved_at: float | None = None,
    ) -> None:
        """The directory reports events (in order); every interested callback of the account queues them."""
        names = (events,) if isinstance(events, str) else events
        with self._lock:
            targets = [c for c in self._callbacks.values() if c.account_id == account.id]
            for callback in targets:
                selected = [name for name in names if name in self._apps[callback.client_id].events]
                waiting = self._waiting.setdefault(callback.id, [])
                if selected and len(waiting) < MAX_PENDING_EVENTS:
                    data = payload(
                        account, mailing_list, subscriber, Links(callback.base_url), moved_at=moved_at
                    )
                    waiting.extend({"event": name, "payload": data} for name in selected)
        if targets:
            self._notify()

    def take_due(self) -> list[Send]:
        """Batch the waiting events and return what is due now, in sending order, marked sending."""
        with self._lock:
            now = self.clock.now()
            if self.settings.paused:
                return []
            self._batch(now)
            due = sorted(
                (d for d in self._deliveries.values() if d.state == "pending" and d.due_at <= now),
                key=lambda d: (d.order, d.due_at),
            )
            sends = []
            for delivery in due:
                delivery.state = "sending"
                date = http_date(now)
                attempt = Attempt(len(delivery.attempts) + 1, now, date)
                delivery.attempts.append(attempt)
                key = self._apps[delivery.callback.client_id].key
                headers = {
                    "Content-Type": MEDIA_TYPE,
                    "AWeber-Delivery-ID": delivery.id,
                    "Date": date,
                    "AWeber-Signature": signature(key, date, delivery.body),
                }
                drop, delivery.drop_next = delivery.drop_next, False
                copies = 2 if delivery.duplicate else 1
                delivery.duplicate = False
                sends.append(Send(delivery.id, delivery.callback.url, headers, delivery.body, copies, drop))
            return sends

    def _batch(self, now: float) -> None:
        for callback_id, events in list(self._waiting.items()):
            callback = self._callbacks[callback_id]
            size = self.settings.batch_size
            for start in range(0, len(events), size):
                chunk = events[start : start + size]
                envelope = {
                    "account": chunk[0]["payload"]["account"],
                    "client_id": callback.client_id,
                    "callback": callback.id,
                    "data": chunk,
                }
                body = json.dumps(envelope, indent=2, ensure_ascii=False).encode("utf-8")
                delivery = Delivery(
                    str(uuid.uuid4()),
                    callback,
                    body,
                    [item["event"] for item in chunk],
                    now,
                    now,
                    self._take_order(),
                )
                self._deliveries[delivery.id] = delivery
                self._apply_fault(delivery, now)
            del self._waiting[callback_id]
        while len(self._deliveries) > MAX_DELIVERIES_KEPT:
            oldest = next(iter(self._deliveries))
            if self._deliveries[oldest].state in ("pending", "held", "sending"):
                break
            self._deliveries.popitem(last=False)

    def record(
        self,
        delivery_id: str,
        status: int | None,
        error: str | None = None,
        *,
        duplicate_status: int | None = None,
    ) -> Delivery | None:
        """The worker reports the answer to the latest attempt (status None: no answer).

        A duplicated request's outcome is its first copy's; the second copy's status is noted.
        """
        with self._lock:
            delivery = self._deliveries.get(delivery_id)
            if delivery is None or not delivery.attempts:
                return None
            attempt = delivery.attempts[-1]
            attempt.status, attempt.error = status, error
            attempt.duplicate_status = duplicate_status
            if delivery.state == "cancelled":
                return delivery
            if status is not None and 200 <= status < 300:
                delivery.state = "delivered"
            elif len(delivery.attempts) > self.settings.retries:
                delivery.state = "lost" if status is None else "failed"
            else:
                delivery.state = "pending"
                delivery.due_at = self.clock.now() + self.settings.retry_delay * 2 ** (
                    len(delivery.attempts) - 1
                )
            return delivery

    def next_due_at(self) -> float | None:
        """When the earliest waiting delivery falls due (mock clock), or None if nothing waits."""
        with self._lock:
            if self._waiting and not self.settings.paused:
                return self.clock.now()
            times = [d.due_at for d in self._deliveries.values() if d.state == "pending"]
            return min(times) if times and not self.settings.paused else None

    def deliveries(self) -> list[Delivery]:
        """The recent deliveries, oldest first."""
        with self._lock:
            return list(self._deliveries.values())

    def delivery_body(self, delivery_id: str) -> bytes | None:
        """The exact body of a delivery (for tests and QA)."""
        with self._lock:
            delivery = self._deliveries.get(delivery_id)
            return None if delivery is None else delivery.body
