"""Fault injection for the requests that match (status, delay, drop), counted atomically.

Armed with ``POST /_mock/faults``: a target, which calls of it, and one fault kind.

Target (every field given must match; the control plane itself, ``/_mock/``, is never faulted):

- ``path`` (exact) or ``path_prefix`` (that path and every path under it: ``/1.0/accounts``
  matches ``/1.0/accounts/7/lists`` but not ``/1.0/accountsX``);
- ``method``: an HTTP method, e.g. ``"POST"``;
- ``grant_type``: the token request's ``grant_type`` (``authorization_code`` or
  ``refresh_token``);
- ``client_id``: the client id a token or revoke request names, by HTTP Basic auth or in its
  parameters.

Which calls: ``nth`` (default 1) skips the first ``nth - 1`` matching requests, then the fault
applies to ``count`` (default 1) matching requests. Each fault counts the requests it matched
(``seen``) from when it was armed; when several faults are due for one request, the earliest
armed applies and the others stay due for the next. Counting happens under the table's lock, so
two racing requests never both get the same turn.

Kinds:

- ``status``: answer that status (and ``body``: JSON when it is an object, list, number or
  boolean, text when it is a string) without running the handler; with ``after_work`` the
  handler runs first (a code is spent, a refresh token rotated) and its answer is replaced,
  as a gateway's 502 or 504 hides work the server did;
- ``delay_ms``: wait, then run the handler normally (latency before the server); with
  ``after_work`` the handler runs first and its answer waits (a slow answer after the work);
- ``drop``: always after the work: run the handler fully but never send its answer; the
  connection is aborted instead, as when a response is lost in transit (``after_work: true`` may
  be given to say so).

A sandbox has its own state and so its own table: a fault armed in a sandbox targets only that
sandbox's requests.

This module is the pure part (the fault model and its table); serving a request under a fault,
and reading a request's body when a fault needs its grant type or client id, is ASGI work, in
``mock_server.faults_asgi``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "delay", "drop"]
MAX_COUNT = 1_000_000
MAX_DELAY_MS = 60_000
MAX_CLIENT_ID = 256
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The grants the mock's token endpoint serves (MockState.token_request).
GRANT_TYPES = ("authorization_code", "refresh_token")
_FIELDS = frozenset(
    {
        "path",
        "path_prefix",
        "method",
        "grant_type",
        "client_id",
        "nth",
        "count",
        "status",
        "body",
        "delay_ms",
        "drop",
        "after_work",
    }
)


class FaultSpecError(ValueError):
    """A fault specification that cannot be armed; the message names the bad field."""


@dataclass
class Fault:
    """One armed fault: what it matches, how many more calls it applies to, what it does."""

    id: int
    path: str
    remaining: int
    kind: FaultKind
    status: int | None = None
    body: Any = None
    has_body: bool = False
    delay_ms: float = 0.0
    # The handler runs first and its answer is replaced (status), held (delay) or lost (drop).
    after_work: bool = False
    prefix: bool = False  # ``path`` is a path_prefix
    method: str | None = None
    grant_type: str | None = None
    client_id: str | None = None
    nth: int = 1
    seen: int = 0  # matching requests since it was armed

    @property
    def needs_body(self) -> bool:
        """Whether matching needs the request's parameters (read before the handler)."""
        return self.grant_type is not None or self.client_id is not None

    def matches_route(self, method: str, path: str) -> bool:
        """Whether the method and path match (the fields known before the body is read)."""
        if self.method is not None and method != self.method:
            return False
        if not self.prefix:
            return path == self.path
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def matches(self, method: str, path: str, grant_type: str | None, client_id: str | None) -> bool:
        """Whether a request with these facts matches every field of the fault."""
        if not self.matches_route(method, path):
            return False
        if self.grant_type is not None and grant_type != self.grant_type:
            return False
        return self.client_id is None or client_id == self.client_id

    def as_dict(self) -> dict[str, Any]:
        """The fault as the control API shows it (``count``: the calls it still applies to)."""
        data: dict[str, Any] = {"id": self.id, "path_prefix" if self.prefix else "path": self.path}
        for name in ("method", "grant_type", "client_id"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        data.update(nth=self.nth, seen=self.seen, count=self.remaining, kind=self.kind)
        if self.kind == "status":
            data["status"] = self.status
            if self.has_body:
                data["body"] = self.body
        elif self.kind == "delay":
            data["delay_ms"] = self.delay_ms
        else:
            data["drop"] = True
        if self.after_work:
            data["after_work"] = True
        return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _target(spec: Mapping[str, Any]) -> tuple[str, bool]:
    """The path or path prefix, and whether it is a prefix."""
    if ("path" in spec) == ("path_prefix" in spec):
        raise FaultSpecError("give exactly one of 'path' (exact) or 'path_prefix', e.g. \"/oauth2/token\"")
    name = "path" if "path" in spec else "path_prefix"
    path = spec[name]
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 2048:
        raise FaultSpecError(f"{name!r} must be a string starting with '/', e.g. \"/oauth2/token\"")
    if path == "/_mock" or path.startswith("/_mock/"):
        raise FaultSpecError(f"{name!r} must not be under /_mock/: the control plane cannot be faulted")
    return path, name == "path_prefix"


def _matchers(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The optional match fields, validated: method, grant_type, client_id, nth."""
    found: dict[str, Any] = {}
    if "method" in spec:
        method = spec["method"]
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise FaultSpecError(f"'method' must be one of {', '.join(sorted(METHODS))}")
        found["method"] = method.upper()
    if "grant_type" in spec:
        grant_type = spec["grant_type"]
        if grant_type not in GRANT_TYPES:
            raise FaultSpecError(f"'grant_type' must be one the mock serves: {' or '.join(GRANT_TYPES)}")
        found["grant_type"] = grant_type
    if "client_id" in spec:
        client_id = spec["client_id"]
        if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID:
            raise FaultSpecError(
                f"'client_id' must be a non-empty string of at most {MAX_CLIENT_ID} characters"
            )
        found["client_id"] = client_id
    nth = spec.get("nth", 1)
    if not _is_int(nth) or not 1 <= nth <= MAX_COUNT:
        raise FaultSpecError(f"'nth' must be an integer from 1 (the next matching request) to {MAX_COUNT}")
    found["nth"] = nth
    return found


def parse_fault(spec: object, fault_id: int = 0) -> Fault:
    """Validate a fault specification (the JSON body of ``POST /_mock/faults``)."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError("the fault must be a JSON object with 'path', 'count' and one fault kind")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise FaultSpecError(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_FIELDS))}")
    path, prefix = _target(spec)
    match = _matchers(spec)
    count = spec.get("count", 1)
    if not _is_int(count) or not 1 <= count <= MAX_COUNT:
        raise FaultSpecError(f"'count' must be an integer from 1 to {MAX_COUNT}")
    kinds = [k for k in ("status", "delay_ms", "drop") if k in spec]
    if len(kinds) != 1:
        raise FaultSpecError("give exactly one of 'status', 'delay_ms' or 'drop'")
    if "body" in spec and "status" not in spec:
        raise FaultSpecError("'body' is only allowed together with 'status'")
    after_work = spec.get("after_work", False)
    if not isinstance(after_work, bool):
        raise FaultSpecError("'after_work' must be true or false")
    common: dict[str, Any] = {"prefix": prefix, "after_work": after_work, **match}
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
            **common,
        )
    if "delay_ms" in spec:
        delay = spec["delay_ms"]
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not math.isfinite(delay):
            raise FaultSpecError("'delay_ms' must be a number of milliseconds")
        if not 0 <= delay <= MAX_DELAY_MS:
            raise FaultSpecError(f"'delay_ms' must be from 0 to {MAX_DELAY_MS}")
        return Fault(fault_id, path, count, "delay", delay_ms=float(delay), **common)
    if spec["drop"] is not True:
        raise FaultSpecError("'drop' must be true")
    if "after_work" in spec and not after_work:
        raise FaultSpecError(
            "'after_work' must be true with 'drop': a dropped answer always comes after the work "
            "(for a request that never reached the server, use a 'status' fault without after_work)"
        )
    common["after_work"] = True
    return Fault(fault_id, path, count, "drop", **common)


class FaultTable:
    """Armed faults in arming order, each counting the requests it matched; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def armed(self) -> bool:
        """Whether any fault is armed: the edge's one check on a request when none is."""
        return bool(self._faults)  # read without the lock: take() decides under it

    def add(self, spec: object) -> Fault:
        """Validate and arm a fault (FaultSpecError names the bad field)."""
        with self._lock:
            fault = parse_fault(spec, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def needs_body(self, method: str, path: str) -> bool:
        """Whether an armed fault for this method and path matches on the request's parameters."""
        with self._lock:
            return any(f.needs_body and f.matches_route(method, path) for f in self._faults)

    def take(
        self, path: str, method: str = "GET", *, grant_type: str | None = None, client_id: str | None = None
    ) -> Fault | None:
        """The fault for this request, if one is due, using one of its calls up.

        Every matching fault counts the request (``seen``); the earliest armed one that has
        reached its ``nth`` applies. None when no fault applies.
        """
        if not self._faults:  # the common case, checked without the lock on every request
            return None
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path, grant_type, client_id):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen >= fault.nth:
                    chosen = fault
            if chosen is not None:
                chosen.remaining -= 1
                if chosen.remaining <= 0:
                    self._faults.remove(chosen)
        return chosen

    def list(self) -> list[dict[str, Any]]:
        """Every armed fault, in arming order."""
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def reset(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()
