"""The request log (``GET /_mock/events``) and one log line per request.

One event per request on the imitated paths (never for ``/_mock/`` itself) goes into
``MockState.events``, and one line to the ``mock_server.requests`` logger: the app does this in
its single edge layer (``mock_server.edge``), which builds each record from the ASGI scope with
``mock_server.events_asgi``; handlers add what only they know (grant type, client, result) with
``events_asgi.annotate``. This module is the pure part: no HTTP types.

The log lines cost the request almost nothing: at INFO the request path only queues the raw
request tuple it keeps anyway; a background thread shapes and redacts the queued requests
every 0.1 s and hands them to the logger as one record per batch (``request_lines`` holds
the lines; ``RequestLogFormatter`` prints each with the usual prefix). One record and one
write per batch instead of per request is what makes it cheap: a log record, its formatting
and its write cost more than the mock's whole answer to a refresh. ``flush_request_log()``
writes what is queued at once (tests, shutdown).

Nothing secret is recorded: query values whose names look secret (codes, tokens, secrets,
passwords, verifiers) are replaced by ``[redacted]``, headers are never recorded, and annotation
fields with secret-looking names are dropped the same way.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

logger = logging.getLogger("mock_server.requests")

REDACTED = "[redacted]"
# Names that carry a secret, matched as substrings of a lower-cased parameter name.
_SECRET_WORDS = ("token", "secret", "password", "verifier", "code", "authorization", "cookie", "key")
# Parameter names that contain a secret word but carry none.
_NOT_SECRET = frozenset(
    {"grant_type", "token_type", "token_type_hint", "response_type", "code_challenge_method"}
)


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field of this name may carry a secret."""
    lowered = name.lower()
    if lowered in _NOT_SECRET:
        return False
    return any(word in lowered for word in _SECRET_WORDS)


def redact_query(query: str) -> str:
    """The query string with every secret-looking value replaced by ``[redacted]``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    # The marker is left unencoded so the log and the dashboard read plainly.
    return "&".join(
        f"{quote_plus(k)}={REDACTED}" if is_secret_name(k) else urlencode([(k, v)]) for k, v in pairs
    )


# What the edge keeps per request: (time, method, path, raw query, status, duration in
# seconds, the handler's annotation dict or None). It becomes an event dict, redacted, only when
# someone reads the log: the token endpoint is benchmarked, readers are rare.
RawRequest = tuple[float, str, str, bytes, int | None, float, dict[str, Any] | None]


class EventLog:
    """The recent request log, bounded (oldest dropped first), newest last; thread-safe."""

    def __init__(self, *, maxlen: int = 1000) -> None:
        self._events: deque[tuple[int, dict[str, Any] | RawRequest]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._next_id = 1

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Append an event, giving it an ``id`` that grows across resets; returns it."""
        with self._lock:
            event_id = self._next_id
            self._next_id += 1
            self._events.append((event_id, dict(event)))
        return {"id": event_id, **event}

    def record_request(self, raw: RawRequest) -> None:
        """Append a request as the edge saw it; it is redacted and shaped when read."""
        with self._lock:
            self._events.append((self._next_id, raw))
            self._next_id += 1

    def list(self, *, since: int = 0) -> list[dict[str, Any]]:
        """Copies of the kept events with an id above ``since``, oldest first."""
        with self._lock:
            kept = [item for item in self._events if item[0] > since]
        return [
            {"id": event_id, **(payload if isinstance(payload, dict) else _shape(payload))}
            for event_id, payload in kept
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def reset(self) -> None:
        """Forget every event (ids keep growing, so ``since`` stays meaningful)."""
        with self._lock:
            self._events.clear()


REFUSED = "refused"  # the ``result`` filter value that selects every event with a verdict


def select(
    events: list[dict[str, Any]],
    *,
    client_id: str | None = None,
    grant_type: str | None = None,
    result: str | None = None,
    reason: str | None = None,
    path: str | None = None,
    start: float | None = None,
    end: float | None = None,
) -> list[dict[str, Any]]:
    """The events matching every filter given: fields equal, ``result="refused"`` any refusal,
    ``reason`` the verdict's, ``start <= time < end`` on the mock's clock."""

    def matches(event: dict[str, Any]) -> bool:
        verdict = event.get("verdict")
        return (
            (client_id is None or event.get("client_id") == client_id)
            and (grant_type is None or event.get("grant_type") == grant_type)
            and (
                result is None
                or (verdict is not None if result == REFUSED else event.get("result") == result)
            )
            and (reason is None or (verdict is not None and verdict.get("reason") == reason))
            and (path is None or event.get("path") == path)
            and (start is None or event["time"] >= start)
            and (end is None or event["time"] < end)
        )

    return [event for event in events if matches(event)]


def _shape(raw: RawRequest) -> dict[str, Any]:
    """The event dict of a recorded request, with every secret-looking value redacted."""
    when, method, path, raw_query, status, elapsed, annotation = raw
    fields = _clean_fields(annotation) if annotation else {}
    # A handler or fault may report the status it produced when none reached the client.
    if status is None and "status" in fields:
        status = fields.pop("status")
    else:
        fields.pop("status", None)
    return {
        "time": when,
        "method": method,
        "path": path,
        "query": redact_query(raw_query.decode("latin-1")) if raw_query else "",
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        **fields,
    }


# Field names repeat (a handful per route): remember the verdicts, bounded against odd input.
_secret_name = functools.lru_cache(maxsize=1024)(is_secret_name)


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in fields.items()}


def queue_line(raw: RawRequest) -> None:
    """Queue the request's log line (the caller checked that INFO is shown)."""
    _LINES.add(raw)


def flush_request_log() -> None:
    """Write the queued request lines now (they are otherwise written within 0.1 s)."""
    _LINES.flush()


def _line(raw: RawRequest) -> str:
    """The request's log line, redacted: what ``_slow_line`` gives, without the event dict.

    The writer thread shares the mock's core, so each line's cost is taken from the requests
    (issue 14: the dict, its redaction and the join were ~8 us a line, a tenth of a refresh).
    """
    _when, method, path, raw_query, status, _elapsed, annotation = raw
    extras = ""
    if annotation:
        if not _LINE_FIELDS.isdisjoint(annotation):
            return _slow_line(raw)  # a status or a field shadowing a column: the dict decides
        extras = " ".join(
            [
                f"{k}={shown}"
                for k, v in annotation.items()
                if (shown := REDACTED if _secret_name(k) else v) is not None
            ]
        )
    query = redact_query(raw_query.decode("latin-1")) if raw_query else ""
    target = f"{path}?{query}" if query else path
    return f"{method} {target} {status if status is not None else '-'} {extras}"


def _slow_line(raw: RawRequest) -> str:
    event = _shape(raw)
    extras = " ".join(f"{k}={v}" for k, v in event.items() if k not in _LINE_FIELDS and v is not None)
    target = event["path"] + (f"?{event['query']}" if event["query"] else "")
    shown = event["status"] if event["status"] is not None else "-"
    return f"{event['method']} {target} {shown} {extras}"


_LINE_FIELDS = frozenset({"time", "method", "path", "query", "status", "duration_ms"})


class _LineWriter:
    """Queued request lines and the daemon thread that logs them in batches."""

    INTERVAL = 0.1  # seconds between batches
    LIMIT = 100_000  # queued lines kept at most; beyond, the oldest are dropped and counted

    def __init__(self) -> None:
        self._pending: deque[RawRequest] = deque()
        self._write_lock = threading.Lock()  # one batch at a time, in order
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._dropped = 0

    def add(self, raw: RawRequest) -> None:
        if len(self._pending) >= self.LIMIT:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(raw)  # deque.append is atomic: no lock on the request path
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mock-request-log", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            try:
                self.flush()
            except Exception:  # pragma: no cover - a broken handler must not stop the writer
                logging.getLogger("mock_server").exception("the request log writer failed")

    def flush(self) -> None:
        with self._write_lock:
            pending = self._pending
            lines = [_line(pending.popleft()) for _ in range(len(pending))]
            if self._dropped:
                lines.append(f"({self._dropped} request lines dropped: the log could not keep up)")
                self._dropped = 0
            if lines:
                logger.info("%s", "\n".join(lines), extra={"request_lines": lines})


_LINES = _LineWriter()


class RequestLogFormatter(logging.Formatter):
    """A Formatter that prints a batch of request lines as one line each, every one with the
    prefix its format gives (time, level, logger); other records as usual."""

    def format(self, record: logging.LogRecord) -> str:
        lines: list[str] | None = getattr(record, "request_lines", None)
        if not lines:
            return super().format(record)
        message, args = record.msg, record.args
        record.msg, record.args = "", None
        try:
            prefix = super().format(record)
        finally:
            record.msg, record.args = message, args
        return "\n".join(prefix + line for line in lines)
