"""Small pieces the backends share: the lock's lease, naming a store without its password."""

from __future__ import annotations

import logging
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from itertools import islice
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from oob_helper.errors import LeaseLost, StoreError, VersionConflict
from oob_helper.tokens import InstallRecord

logger = logging.getLogger("oob_helper.stores")


_MACHINE_ID: str | None = None


def machine_id() -> str:
    """This host's identity for store locations: systemd's machine id, else the host name.

    A cloned virtual machine image keeps its machine id (regenerate it, as cloning guides
    say); a container without one falls back to its host name.
    """
    global _MACHINE_ID  # noqa: PLW0603 - read once per process
    if _MACHINE_ID is None:
        found = ""
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            with suppress(OSError):
                found = Path(path).read_text(encoding="ascii", errors="replace").strip()
            if found:
                break
        _MACHINE_ID = found or "host:" + socket.gethostname()
    return _MACHINE_ID


def all_records(store: object, after: str = "") -> Iterator[InstallRecord]:
    """Every record of ``store`` (of installs sorting after ``after``), ordered by install: read
    in pages where the backend can, else install by install."""
    iter_records: Callable[..., Iterator[InstallRecord]] | None = getattr(store, "iter_records", None)
    if iter_records is not None:
        yield from iter_records(after=after) if after else iter_records()
        return
    for install in sorted(store.list_installs(), key=lambda name: name.encode("utf-8")):  # type: ignore[attr-defined]
        if install.encode("utf-8") <= after.encode("utf-8"):
            continue
        record = store.get(install)  # type: ignore[attr-defined]
        if record is not None:
            yield record


def wait_for(
    try_acquire: Callable[[], bool], *, install: str, timeout: float, first_delay: float = 0.002
) -> float:
    """Call ``try_acquire`` until it returns True; StoreError once ``timeout`` has passed.

    Backs off exponentially (with jitter, so waiters spread out) up to 50 ms between tries.
    Returns the monotonic time at which the successful try began (a lease runs from then).
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = first_delay
    while True:
        began = time.monotonic()
        if try_acquire():
            return began
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreError(
                f"timed out after {timeout:g}s waiting for the refresh lock of install "
                f"{install!r}: another worker holds it; try again"
            )
        time.sleep(min(left, delay * (0.5 + random.random())))  # noqa: S311 - jitter, not secrecy
        delay = min(delay * 2, 0.05)


class Lease:
    """A held refresh lock, renewed in the background so it never runs out under a live holder.

    Every third of its length a daemon thread extends it (only while this holder still owns it).
    ``held`` turns False for good once the store says another worker owns it, or once the lease
    would have run out since the last confirmed renewal (the store was unreachable, or this
    process stalled: SIGSTOP, a frozen VM). A holder that lost its lease must send nothing more;
    its writes are fenced by compare-and-set anyway. ``duration=None`` means the lock dies with
    its holder (SQLite's flock) and is always held while the holder lives.
    """

    def __init__(
        self,
        install: str,
        duration: float | None,
        renew: Callable[[], bool] | None = None,
        *,
        valid_from: float | None = None,
    ) -> None:
        self.install = install
        self.duration = duration
        self._renew = renew
        self._lost = False
        began = time.monotonic() if valid_from is None else valid_from
        self._valid_until = math.inf if duration is None else began + duration
        # Made only for a lease that is renewed: SQLite's flock needs none, and an Event (a
        # Condition and two locks) per refresh is a measurable part of `refresh --all`.
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Lease(install={self.install!r}, duration={self.duration}, held={self.held})"

    @property
    def held(self) -> bool:
        """True while this holder certainly still owns the lock."""
        return not self._lost and time.monotonic() < self._valid_until

    def check(self) -> None:
        """Raise LeaseLost unless the lock is still held (call before each provider request)."""
        if not self.held:
            raise LeaseLost(
                f"lost the refresh lock of install {self.install!r} (its lease could not be renewed "
                "in time); nothing more was sent; try again"
            )

    def start(self) -> None:
        """Begin renewing (no-op for leases that need none)."""
        if self._renew is None or self.duration is None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oob-helper-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; the caller releases the lock next."""
        if self._stop is None:
            return  # never renewed: nothing runs
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # A renewal in flight either lands before the release (which then deletes it) or
            # finds the lock gone; waiting bounds how long a hanging store can keep the thread.
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        assert self._renew is not None
        assert self.duration is not None
        assert self._stop is not None
        interval = self.duration / 3
        while not self._stop.wait(interval):
            began = time.monotonic()
            if began >= self._valid_until:
                self._lost = True
                return
            try:
                renewed = self._renew()
            except Exception as exc:  # a passing store fault: try again at the next tick
                logger.debug("install %r: lease renewal failed: %s", self.install, type(exc).__name__)
                continue
            if not renewed:
                self._lost = True
                return
            self._valid_until = began + self.duration


@contextmanager
def leased_lock(
    install: str,
    *,
    timeout: float,
    duration: float | None,
    try_acquire: Callable[[], bool],
    renew: Callable[[], bool] | None,
    release: Callable[[], None],
) -> Iterator[Lease]:
    """The shape of every backend's ``lock``: wait, keep the lease renewed while held, release."""
    began = wait_for(try_acquire, install=install, timeout=timeout)
    lease = Lease(install, duration, renew, valid_from=began)
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()
        release()


# Query parameters that carry a secret in the drivers' URL forms (redis-py's ``password``,
# libpq's ``password`` and ``sslpassword``, Sentinel's ``sentinel_password``, ...).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with every password replaced by ``***`` (for reprs, messages and status): the
    user info's password and any query parameter that names a secret."""
    try:
        parts = urlsplit(url)
        if "," not in parts.netloc:  # the multi-host forms (redis+sentinel://a,b) have no one port
            _ = parts.port
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = []
        for item in query.split("&"):
            name, eq, _ = item.partition("=")
            pairs.append(f"{name}=***" if eq and _SECRET_PARAM.search(unquote(name)) else item)
        query = "&".join(pairs)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def with_version(record: InstallRecord, version: int) -> InstallRecord:
    """``record`` carrying ``version``."""
    return replace(record, version=version)


def conflict(install: str, expected: int | None, found: int | None) -> VersionConflict:
    """The error for a lost compare-and-set (names versions, never contents)."""
    want = "no record" if expected is None else f"version {expected}"
    got = "no record" if found is None else f"version {found}"
    return VersionConflict(f"install {install!r} changed meanwhile: expected {want}, found {got}")


def batched(items: Iterable[InstallRecord], size: int) -> Iterator[list[InstallRecord]]:
    """``items`` in lists of at most ``size``."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
