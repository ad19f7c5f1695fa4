"""Sandboxes: isolated mock worlds kept by id (issue 11, item 1); no HTTP types here.

A sandbox is an id plus its own ``MockState`` (clock, clients, users, API data, codes and
tokens, faults, event log, reset). The registry owns them: it creates them up to a cap,
touches one on every ``get`` and forgets those idle longer than the timeout. Idleness is
measured on a wall monotonic clock, never on the sandbox's own (test-controlled) mock clock,
so advancing a sandbox's clock cannot expire it. The default world is the sandbox
``"default"``: it is always present and never expires or gets deleted.
"""

from __future__ import annotations

import builtins
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mock_server.state import MockState
from mock_server.world import DEFAULT_ID, PREFIX

__all__ = [
    "DEFAULT_ID",
    "Sandbox",
    "SandboxError",
    "SandboxExists",
    "SandboxLimitReached",
    "SandboxNotFound",
    "Sandboxes",
]

DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_MAX_SANDBOXES = 200
# Caller-chosen names: short, URL-path safe, no surprises in a path segment.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class SandboxError(Exception):
    """A sandbox request that cannot be honoured; ``code`` and ``status`` suit a JSON error."""

    code = "sandbox_error"
    status = 400


class SandboxNotFound(SandboxError):
    """No sandbox has this id: it expired, was deleted or never existed."""

    code = "sandbox_not_found"
    status = 404


class SandboxLimitReached(SandboxError):
    """Creating one more would pass ``max_sandboxes`` even after forgetting idle ones."""

    code = "sandbox_limit_reached"
    status = 429


class SandboxExists(SandboxError):
    """A sandbox with the chosen name is already live."""

    code = "sandbox_exists"
    status = 409


@dataclass
class Sandbox:
    """One isolated world: its id, its state, and when it was created and last used."""

    id: str
    state: MockState
    created_at: float  # wall time (time.time), for display
    last_used: float  # monotonic, for idle expiry
    # Its URL prefix, built once for the edge (the default world's too: /sandbox/default/...
    # reaches it, and links from such a request keep that prefix).
    root_path: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root_path = PREFIX + self.id

    @property
    def is_default(self) -> bool:
        """Whether this is the root world, which never expires."""
        return self.id == DEFAULT_ID


class Sandboxes:
    """Thread-safe registry of live sandboxes; one owner for all of them."""

    def __init__(
        self,
        default: MockState,
        factory: Callable[[], MockState],
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_sandboxes: int = DEFAULT_MAX_SANDBOXES,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_drop: Callable[[Sandbox], None] | None = None,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        if max_sandboxes < 0:
            raise ValueError("max_sandboxes must not be negative")
        self._factory = factory
        # Called (outside the lock) for every sandbox forgotten by expiry or deletion: the app
        # stops its webhook delivery and drops it from the state file there.
        self._on_drop = on_drop
        self._monotonic = monotonic
        self._wall = wall
        self.idle_timeout = idle_timeout
        self.max_sandboxes = max_sandboxes
        self._lock = threading.Lock()
        self._default = Sandbox(DEFAULT_ID, default, wall(), monotonic())
        self._live: dict[str, Sandbox] = {}

    @property
    def default(self) -> Sandbox:
        """The root world."""
        return self._default

    def create(self, name: str | None = None) -> Sandbox:
        """A new sandbox, under ``name`` if given (it must match ``NAME_PATTERN``)."""
        if name is not None and not NAME_PATTERN.fullmatch(name):
            raise SandboxError(
                f"sandbox name {name!r} is invalid: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit, or omit it for a random id"
            )
        if name == DEFAULT_ID:
            raise SandboxExists("'default' is the root world; choose another name")
        # Build the state outside the lock: it is the slow part and touches nothing shared.
        state = self._factory()
        now = self._monotonic()
        with self._lock:
            expired = self._sweep_locked(now)
        self._dropped(expired)
        with self._lock:
            if name is not None and name in self._live:
                raise SandboxExists(f"sandbox {name!r} already exists; delete it or choose another name")
            if len(self._live) >= self.max_sandboxes:
                raise SandboxLimitReached(
                    f"at most {self.max_sandboxes} sandboxes may be live (max_sandboxes); "
                    "delete finished ones (DELETE /_mock/sandboxes/<id>) or raise the limit"
                )
            sandbox_id = name
            while sandbox_id is None or sandbox_id in self._live or sandbox_id == DEFAULT_ID:
                sandbox_id = secrets.token_hex(8)  # always a valid name (NAME_PATTERN)
            sandbox = Sandbox(sandbox_id, state, self._wall(), now)
            self._live[sandbox_id] = sandbox
        return sandbox

    def get(self, sandbox_id: str) -> Sandbox:
        """The live sandbox ``sandbox_id``, marked as used now; ``SandboxNotFound`` if none."""
        if sandbox_id == DEFAULT_ID:
            return self._default
        now = self._monotonic()
        # Under the lock: a sweep deciding a sandbox is idle and this request touching it are
        # ordered, so a sandbox a request was just given is never dropped as idle. Every request
        # into a sandbox comes here, and acquire/release cost it less than ``with``.
        lock = self._lock
        lock.acquire()
        try:
            sandbox = self._live.get(sandbox_id)
            if sandbox is not None and now - sandbox.last_used <= self.idle_timeout:
                sandbox.last_used = now
                return sandbox
            if sandbox is not None:
                del self._live[sandbox_id]
        finally:
            lock.release()
        if sandbox is not None:
            self._dropped([sandbox])
        raise SandboxNotFound(
            f"no sandbox {sandbox_id!r}: it expired after {self.idle_timeout:g}s idle, "
            "was deleted or never existed; create one with POST /_mock/sandboxes"
        )

    def adopt(self, sandbox_id: str, state: MockState) -> Sandbox:
        """Put a restored world back under its id (``--state``), fresh for idle expiry."""
        if sandbox_id == DEFAULT_ID or not NAME_PATTERN.fullmatch(sandbox_id):
            raise SandboxError(f"cannot adopt a sandbox named {sandbox_id!r}")
        sandbox = Sandbox(sandbox_id, state, self._wall(), self._monotonic())
        with self._lock:
            self._live[sandbox_id] = sandbox
        return sandbox

    def delete(self, sandbox_id: str) -> Sandbox:
        """Forget ``sandbox_id`` and return it; the default world cannot be deleted."""
        if sandbox_id == DEFAULT_ID:
            raise SandboxError("the default world cannot be deleted; reset it with POST /_mock/reset")
        with self._lock:
            sandbox = self._live.pop(sandbox_id, None)
        if sandbox is None:
            raise SandboxNotFound(f"no sandbox {sandbox_id!r}: it expired, was deleted or never existed")
        self._dropped([sandbox])
        return sandbox

    def list(self) -> list[Sandbox]:
        """The default world, then the live sandboxes oldest first (idle ones swept)."""
        with self._lock:
            expired = self._sweep_locked(self._monotonic())
            live = sorted(self._live.values(), key=lambda s: s.created_at)
        self._dropped(expired)
        return [self._default, *live]

    def sweep(self) -> builtins.list[Sandbox]:
        """Forget every sandbox idle longer than the timeout; return those forgotten."""
        with self._lock:
            expired = self._sweep_locked(self._monotonic())
        self._dropped(expired)
        return expired

    def _dropped(self, sandboxes: builtins.list[Sandbox]) -> None:
        if self._on_drop is not None:
            for sandbox in sandboxes:
                self._on_drop(sandbox)

    def idle_for(self, sandbox: Sandbox) -> float:
        """Seconds since ``sandbox`` was last used."""
        return max(0.0, self._monotonic() - sandbox.last_used)

    def _sweep_locked(self, now: float) -> builtins.list[Sandbox]:
        expired = [s for s in self._live.values() if now - s.last_used > self.idle_timeout]
        for sandbox in expired:
            del self._live[sandbox.id]
        return expired
