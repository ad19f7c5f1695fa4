"""Small pieces the backends share: waiting for a lock, naming a store without its password."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from urllib.parse import urlsplit, urlunsplit

from oob_helper.errors import StoreError, VersionConflict
from oob_helper.tokens import InstallRecord


def wait_for(
    try_acquire: Callable[[], bool], *, install: str, timeout: float, first_delay: float = 0.002
) -> None:
    """Call ``try_acquire`` until it returns True; StoreError once ``timeout`` has passed.

    Backs off exponentially (with jitter, so waiters spread out) up to 50 ms between tries.
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = first_delay
    while True:
        if try_acquire():
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreError(
                f"timed out after {timeout:g}s waiting for the refresh lock of install "
                f"{install!r}: another worker holds it; try again"
            )
        time.sleep(min(left, delay * (0.5 + random.random())))  # noqa: S311 - jitter, not secrecy
        delay = min(delay * 2, 0.05)


def redact_url(url: str) -> str:
    """``url`` with any password (in the user part or a ``*password`` parameter) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join(
        f"{name}=***" if name.lower().endswith("password") else item
        for item in parts.query.split("&")
        for name in [item.partition("=")[0]]
    )
    if (netloc, query) == (parts.netloc, parts.query):
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
