"""Sends the webhook deliveries that ``mock_server.webhooks`` says are due, over real HTTP.

One asyncio task per app, started and stopped with the app's lifespan (uvicorn's default
``lifespan="auto"`` runs it; an app served with the lifespan off delivers nothing, and the
dashboard says so). Deliveries go one at a time in the model's order, so a ``reorder`` fault is
the only thing that changes their order. Each attempt and its answer becomes an event in the
mock's request log (``"kind": "webhook"``), without the body or the signature.

The task wakes when an event is emitted or a setting changes; while a retry or a delayed
delivery waits on the mock's clock it looks again every ``POLL_SECONDS``, because that clock may
be advanced at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from mock_server.webhooks import Send

POLL_SECONDS = 0.05
_log = logging.getLogger("mock_server.persist")


class DeliveryWorker:
    """The delivery loop over one MockState (its ``webhooks`` model and its event log)."""

    def __init__(self, state: Any, save: Callable[[], None] | None = None) -> None:
        self.state = state
        self._save = save  # writes the world to the state file (serve --state), else None
        self.webhooks = state.webhooks
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def start(self) -> None:
        """Start the loop on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.webhooks.add_listener(self._poke)
        self._task = asyncio.create_task(self._run(), name="mock-aweber webhook delivery")

    async def stop(self) -> None:
        """Stop the loop; an attempt in flight is abandoned (and shows as unanswered)."""
        self.webhooks.remove_listener(self._poke)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        # A receiver's idle connection is reused for 1 s at most, well under common servers'
        # keep-alive timeouts (httpx's default, 5 s, is uvicorn's too): a delivery sent while
        # the receiver closes it would fail with no answer and count as a failed attempt.
        limits = httpx.Limits(keepalive_expiry=1.0)
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, limits=limits) as client:
            while True:
                self._wake.clear()
                for send in self.webhooks.take_due():
                    await self._deliver(client, send)
                if self.webhooks.next_due_at() is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                else:
                    await self._wake.wait()

    async def _deliver(self, client: httpx.AsyncClient, send: Send) -> None:
        started = time.perf_counter()
        status: int | None
        error: str | None
        if send.drop:
            status, error = None, "dropped by a fault: the request never reached the receiver"
        else:
            status, error = await self._post(client, send)
        duplicate_status = None
        if send.copies > 1 and not send.drop:
            duplicate_status, _ = await self._post(client, send)
        delivery = self.webhooks.record(send.delivery_id, status, error, duplicate_status=duplicate_status)
        if delivery is None:  # forgotten by a reset meanwhile
            return
        attempt = delivery.attempts[-1]
        self.state.events.record(
            {
                "time": attempt.at,
                "kind": "webhook",
                "method": "POST",
                "path": send.url,
                "query": "",
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client_id": delivery.callback.client_id,
                "delivery_id": delivery.id,
                "attempt": attempt.number,
                "events": list(delivery.events),
                "result": {"pending": "will retry"}.get(delivery.state, delivery.state),
                "fault": ", ".join(delivery.faults),
                **({"error": error} if error else {}),
            }
        )
        if self._save is not None:  # an attempt changed the world: keep it across a restart
            try:
                self._save()
            except Exception as exc:  # nobody to answer here; the next save may succeed
                _log.error(
                    "could not save the world after a webhook delivery: %s: %s", type(exc).__name__, exc
                )

    async def _post(self, client: httpx.AsyncClient, send: Send) -> tuple[int | None, str | None]:
        try:
            response = await client.post(
                send.url, content=send.body, headers=send.headers, timeout=self.webhooks.settings.timeout
            )
        except httpx.TimeoutException:
            return None, f"no answer within {self.webhooks.settings.timeout:g}s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200]
        return response.status_code, None


class DeliveryWorkers:
    """One delivery worker per world (the default one and each sandbox), by sandbox id."""

    def __init__(self, persister: Any = None) -> None:
        self._persister = persister  # a mock_server.persist.Persister (serve --state), or None
        self._workers: dict[str, DeliveryWorker] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self.running = False  # the app's lifespan has started them (an app without one delivers nothing)

    async def start(self, sandbox_id: str, state: Any) -> None:
        """Deliver ``state``'s webhooks from now on (a no-op if it already has a worker)."""
        self._loop = asyncio.get_running_loop()
        current = self._workers.get(sandbox_id)
        if current is not None and current.state is state:
            return
        if current is not None:
            await current.stop()
        persister = self._persister
        save = None if persister is None else lambda: persister.save(sandbox_id, state)
        worker = DeliveryWorker(state, save)
        await worker.start()
        self._workers[sandbox_id] = worker

    def forget(self, sandbox_id: str) -> None:
        """Stop a dropped sandbox's worker; safe from any thread (the registry's drop hook)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def stop() -> None:
            worker = self._workers.pop(sandbox_id, None)
            if worker is not None:
                task = loop.create_task(worker.stop())
                self._stopping.add(task)  # keep a reference until it is done
                task.add_done_callback(self._stopping.discard)

        loop.call_soon_threadsafe(stop)

    async def stop_all(self) -> None:
        """Stop every worker (the app is shutting down)."""
        self.running = False
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            await worker.stop()


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The app's lifespan: run a delivery worker per world while the app serves."""
    workers: DeliveryWorkers = app.state.webhook_workers
    registry = getattr(app.state, "sandboxes", None)
    workers.running = True
    if registry is None:
        await workers.start("default", app.state.mock)
    else:
        for sandbox in registry.list():
            await workers.start(sandbox.id, sandbox.state)
    try:
        yield
    finally:
        await workers.stop_all()
