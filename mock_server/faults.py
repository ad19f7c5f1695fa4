"""Fault injection for the next N calls of a path (status, delay, drop).

Armed with ``POST /_mock/faults`` ``{"path", "count", and one of "status" (+ "body",
"after_work"), "delay_ms", "drop": true}``. Faults match the request path exactly and are used
up in the order they were armed; the control plane itself (``/_mock/``) is never faulted.

- ``status``: answer that status (and ``body``: JSON when it is an object, list, number or
  boolean, text when it is a string) without running the handler; with ``after_work`` the
  handler runs first (a code is spent, a refresh token rotated) and its answer is replaced,
  as a gateway's 502 or 504 hides work the server did;
- ``delay_ms``: wait, then run the handler normally (the server simulating latency);
- ``drop``: run the handler fully (a refresh token is consumed, a code is spent) but never send
  its answer: the connection is aborted instead, as when a response is lost in transit.

This module is the pure part (the fault model and its table); serving a request under a fault
is ASGI work, in ``mock_server.faults_asgi``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "delay", "drop"]
MAX_COUNT = 1_000_000
MAX_DELAY_MS = 60_000
_FIELDS = frozenset({"path", "count", "status", "body", "delay_ms", "drop", "after_work"})


class FaultSpecError(ValueError):
    """A fault specification that cannot be armed; the message names the bad field."""


@dataclass
class Fault:
    """One armed fault and how many more calls it applies to."""

    id: int
    path: str
    remaining: int
    kind: FaultKind
    status: int | None = None
    body: Any = None
    has_body: bool = False
    delay_ms: float = 0.0
    # A status fault sent after the handler did its work (a gateway's 502 hiding a rotation).
    after_work: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The fault as the control API shows it."""
        data: dict[str, Any] = {"id": self.id, "path": self.path, "count": self.remaining, "kind": self.kind}
        if self.kind == "status":
            data["status"] = self.status
            if self.has_body:
                data["body"] = self.body
            if self.after_work:
                data["after_work"] = True
        elif self.kind == "delay":
            data["delay_ms"] = self.delay_ms
        else:
            data["drop"] = True
        return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_fault(spec: object, fault_id: int = 0) -> Fault:
    """Validate a fault specification (the JSON body of ``POST /_mock/faults``)."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError("the fault must be a JSON object with 'path', 'count' and one fault kind")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise FaultSpecError(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_FIELDS))}")
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultSpecError("'path' must be a string starting with '/', e.g. \"/oauth2/token\"")
    if path == "/_mock" or path.startswith("/_mock/"):
        raise FaultSpecError("'path' must not be under /_mock/: the control plane cannot be faulted")
    count = spec.get("count", 1)
    if not _is_int(count) or not 1 <= count <= MAX_COUNT:
        raise FaultSpecError(f"'count' must be an integer from 1 to {MAX_COUNT}")
    kinds = [k for k in ("status", "delay_ms", "drop") if k in spec]
    if len(kinds) != 1:
        raise FaultSpecError("give exactly one of 'status', 'delay_ms' or 'drop'")
    if "body" in spec and "status" not in spec:
        raise FaultSpecError("'body' is only allowed together with 'status'")
    if "after_work" in spec and ("status" not in spec or not isinstance(spec["after_work"], bool)):
        raise FaultSpecError("'after_work' is true or false, and only together with 'status'")
    if "status" in spec:
        status = spec["status"]
        if not _is_int(status) or not 200 <= status <= 599:
            raise FaultSpecError("'status' must be an integer HTTP status from 200 to 599")
        return Fault(
            fault_id,
            path,
            count,
            "status",
            status=status,
            body=spec.get("body"),
            has_body="body" in spec,
            after_work=spec.get("after_work") is True,
        )
    if "delay_ms" in spec:
        delay = spec["delay_ms"]
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not math.isfinite(delay):
            raise FaultSpecError("'delay_ms' must be a number of milliseconds")
        if not 0 <= delay <= MAX_DELAY_MS:
            raise FaultSpecError(f"'delay_ms' must be from 0 to {MAX_DELAY_MS}")
        return Fault(fault_id, path, count, "delay", delay_ms=float(delay))
    if spec["drop"] is not True:
        raise FaultSpecError("'drop' must be true")
    return Fault(fault_id, path, count, "drop")


class FaultTable:
    """Armed faults by path, each for a number of calls; thread-safe."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, spec: object) -> Fault:
        """Validate and arm a fault (FaultSpecError names the bad field)."""
        with self._lock:
            fault = parse_fault(spec, self._next_id)
            self._next_id += 1
            self._faults.setdefault(fault.path, deque()).append(fault)
            return fault

    def take(self, path: str) -> Fault | None:
        """The fault for this call of ``path``, using one of its calls up; None when unarmed."""
        if not self._faults:  # the common case, checked without the lock on every request
            return None
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
                if not queue:
                    del self._faults[path]
            return fault

    def list(self) -> list[dict[str, Any]]:
        """Every armed fault, in arming order per path."""
        with self._lock:
            faults = [f for queue in self._faults.values() for f in queue]
        return [f.as_dict() for f in sorted(faults, key=lambda f: f.id)]

    def reset(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()
