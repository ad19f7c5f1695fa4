"""The notifier: a lifecycle subscriber that sends notifications, throttled across the deployment.

``Notifier`` is a lifecycle subscriber (``OAuthHelper`` registers one when the settings name a
webhook or an SMTP server). Receiving an event costs the refresh path a filter and a queue put;
a background thread claims the notification in the store and delivers it, so a slow receiver
or mail server never slows a refresh.

The throttle: one notification per install, condition and channel until the condition
changes, across every process and host sharing the store. The claim key names the occurrence
(``notify:<channel>:<install>:<condition>:<grant>:<since>``): ``<grant>`` changes on a
reconnect, ``<since>`` (the record's last successful refresh) changes when a refresh succeeds,
so the next occurrence after either notifies again; an event whose condition cleared before its
turn in the queue (the record shows a reconnect or a later success) is dropped. A claim whose
delivery failed is released, so the next process that sees the condition tries again. A
condition that lasts longer than ``REMIND_AFTER`` is announced again then.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from oob_helper.errors import ConfigurationError
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.notify.delivery import Backoff
from oob_helper.notify.email import EmailNotifier
from oob_helper.notify.settings import NotifySettings
from oob_helper.notify.webhook import WebhookNotifier
from oob_helper.stores.base import OnceStore, TokenStore

logger = logging.getLogger("oob_helper.notify")

REMIND_AFTER = 30 * 86400.0  # a throttle claim lasts this long (seconds, by the helper's clock)
_STOP = object()
# Conditions that are news, not trouble: each event is its own occurrence.
_NEWS = frozenset({"connected", "refreshed", "disconnected"})


def condition_of(event: LifecycleEvent) -> str:
    """The condition an event is about (refresh_failed split by transient/permanent)."""
    if event.kind == "refresh_failed" and event.transient:
        return "refresh_failed_transient"
    return str(event.kind)


class Notifier:
    """The lifecycle subscriber that sends notifications (see the module docstring)."""

    def __init__(
        self,
        store: TokenStore,
        *,
        clock: Callable[[], float],
        conditions: tuple[str, ...],
        webhook: WebhookNotifier | None = None,
        email: EmailNotifier | None = None,
    ) -> None:
        if not isinstance(store, OnceStore):
            raise ConfigurationError(
                "notifications need a store with claim_once/release_claim for their throttle "
                "(every built-in store has them): use a built-in store or add them to yours"
            )
        self.store = store
        self._once: OnceStore = store
        self.clock = clock
        self.conditions = frozenset(conditions)
        self.webhook = webhook
        self.email = email
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: NotifySettings,
        store: TokenStore,
        *,
        clock: Callable[[], float],
        service: str,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
    ) -> Notifier:
        """The notifier the settings describe (``service``: the provider's name, for mails)."""
        webhook = (
            WebhookNotifier(settings.webhook_url, settings.webhook_secret, timeout=timeout, backoff=backoff)
            if settings.webhook_url and settings.webhook_secret
            else None
        )
        email = (
            EmailNotifier(
                settings.smtp_host,
                settings.smtp_port,
                mail_from=settings.mail_from or "",
                mail_to=settings.mail_to,
                starttls=settings.smtp_starttls,
                user=settings.smtp_user,
                password=settings.smtp_password,
                service=service,
                page_url=settings.page_url,
                timeout=timeout,
                backoff=backoff,
            )
            if settings.smtp_host
            else None
        )
        return cls(store, clock=clock, conditions=settings.conditions, webhook=webhook, email=email)

    def __repr__(self) -> str:
        channels = [c for c in (self.webhook, self.email) if c is not None]
        return f"{type(self).__name__}({', '.join(map(repr, channels))})"

    # -- the subscriber: on the refresh path, so no I/O ---------------------------------------

    def __call__(self, event: LifecycleEvent) -> None:
        """Queue ``event`` if its condition notifies."""
        if condition_of(event) not in self.conditions:
            return
        self._start()
        self._queue.put(event)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="oob-helper-notify", daemon=True)
                self._thread.start()

    # -- the background thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if isinstance(item, LifecycleEvent):
                    self._notify(item)
            except Exception:
                logger.exception("install %r: notification failed", getattr(item, "install", None))
            finally:
                self._queue.task_done()

    def occurrence(self, event: LifecycleEvent) -> str | None:
        """What names this occurrence of the event's condition in the throttle key, or None
        when the condition already cleared (a reconnect or a successful refresh since)."""
        if event.kind in _NEWS:
            return f"{event.grant_id or '-'}:{event.at!r}"
        record = self.store.get(event.install)
        if record is None or record.grant_id != event.grant_id:
            return None  # disconnected or connected again since: nothing left to tell
        since = record.last_refresh_at
        if event.kind != "reauthorization_required" and since is not None and since > event.at:
            return None  # a refresh succeeded after it
        # Until a refresh succeeds the last success stays the same: it names the occurrence.
        return f"{event.grant_id or '-'}:{since!r}"

    def _notify(self, event: LifecycleEvent) -> None:
        condition = condition_of(event)
        occurrence = self.occurrence(event)
        if occurrence is None:
            logger.debug("install %r: %s cleared before it was notified", event.install, condition)
            return
        payload = event.to_dict()
        for channel in (self.webhook, self.email):
            if channel is None:
                continue
            key = f"notify:{channel.name}:{event.install}:{condition}:{occurrence}"
            now = self.clock()
            if not self._once.claim_once(key, expires_at=now + REMIND_AFTER, now=now):
                logger.debug("install %r: %s already notified by %s", event.install, condition, channel.name)
                continue
            if isinstance(channel, WebhookNotifier):
                sent = channel.send({**payload, "condition": condition})
            else:
                sent = channel.send(payload, condition)
            if sent:
                logger.info("install %r: %s notified by %s", event.install, condition, channel.name)
            else:
                # Let the next process that sees the condition try again.
                self._once.release_claim(key)

    # -- lifetime ------------------------------------------------------------------------------

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued notification was handled; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the thread and release pools."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
        for channel in (self.webhook, self.email):
            if channel is not None:
                channel.close()


__all__ = ["REMIND_AFTER", "Notifier", "NotifySettings", "condition_of"]
