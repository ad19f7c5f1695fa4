"""Ctrl-C and SIGTERM for the command line: stop, but never between a refresh and its write.

A refresh grant consumes the old refresh token at the provider; killed between the provider's
answer and the store write, the new one is lost and the install needs a person again. So the
signal handlers raise at once, except inside ``critical()`` (a call into the helper running on
the main thread), where the signal is held until the section ends. ``refresh --all`` does its
work on pool threads, which signals never interrupt: its main thread stops submitting and
waits for the refreshes already sent.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (cron, systemd or a container stopping the job): unwound like Ctrl-C."""


class _State:
    depth = 0
    pending: int | None = None


_state = _State()


def _raise_for(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.depth:
        _state.pending = signum
        return
    _raise_for(signum)


@contextmanager
def installed() -> Iterator[None]:
    """Route SIGINT and SIGTERM through the handler while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.depth = 0
        _state.pending = None


@contextmanager
def critical() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then act on them."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            _raise_for(signum)
