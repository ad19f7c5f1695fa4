"""A MockState as bytes and back (issue 11 item 5, ``serve --state``); pure, no HTTP, no I/O.

A snapshot is a small JSON header line, then a pickle of the whole world (clock, clients,
users, codes and tokens with their verdicts, API data, webhook set-up and deliveries, faults,
the request log). What pickle cannot or must not carry is swapped at the edges:

- every ``threading`` lock is saved as "a fresh lock" and comes back as one;
- the world's ``MockConfig`` is saved as "the running config" and comes back as the config of
  the restarted server (the command line and config file decide it, not the snapshot);
  ``MockState.__setstate__`` re-derives what it took from the config;
- listeners and the clock's time source are dropped by those classes' ``__getstate__``.

Loading uses a restricted unpickler: only classes of the mock's model modules and a short list
of builtin containers and ``datetime`` types can be named, so a tampered file cannot make it
call anything else. A snapshot whose header is missing, whose format or model shape differs
from this code's, or whose pickle is damaged raises :class:`SnapshotError`.

The model shape is a digest of the attribute names of every mock class in a fresh default
world (and every dataclass in those classes' modules): a mock-aweber whose data model changed
refuses an old snapshot at start instead of failing on a missing attribute mid-request.
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import json
import pickle
import sys
import threading
from functools import cache
from typing import Any

from mock_server.config import MockConfig
from mock_server.state import MockState

__all__ = ["FORMAT", "SnapshotError", "dump", "load"]

FORMAT = 1
_MAGIC = b"mock-aweber-world"
_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())
# The modules whose classes make up a world; nothing else may be named by a snapshot.
_MODEL_MODULES = frozenset(
    {
        "mock_server.api.model",
        "mock_server.authorize",
        "mock_server.catalog",
        "mock_server.clients",
        "mock_server.clock",
        "mock_server.directory",
        "mock_server.events",
        "mock_server.faults",
        "mock_server.mailings",
        "mock_server.policy",
        "mock_server.ratelimit",
        "mock_server.state",
        "mock_server.tokens",
        "mock_server.verdicts",
        "mock_server.webhook_records",
        "mock_server.webhooks",
    }
)
_SAFE_BUILTINS = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("collections", "OrderedDict"),
        ("collections", "deque"),
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
    }
)


class SnapshotError(Exception):
    """The bytes are not a snapshot this mock-aweber can restore; the message says why."""


_loading = threading.local()  # the config a load in this thread restores worlds under


def _fresh_lock() -> Any:
    return threading.Lock()


def _fresh_rlock() -> Any:
    return threading.RLock()


def _running_config() -> MockConfig:
    config: MockConfig = _loading.config
    return config


# A dispatch table rather than persistent_id: the C pickler consults it only for these types,
# where a persistent_id method is a Python call per object (it made dumps three times slower).
_DISPATCH = {
    **copyreg.dispatch_table,
    _LOCK: lambda lock: (_fresh_lock, ()),
    _RLOCK: lambda lock: (_fresh_rlock, ()),
    MockConfig: lambda config: (_running_config, ()),
}
_OWN = frozenset({"_fresh_lock", "_fresh_rlock", "_running_config"})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_BUILTINS or (module == __name__ and name in _OWN):
            return super().find_class(module, name)
        if module in _MODEL_MODULES and "." not in name:
            found = getattr(sys.modules.get(module), name, None)
            # Classes only, and no exceptions: a function or a callable instance would let a
            # tampered snapshot run code while it loads.
            if isinstance(found, type) and not issubclass(found, BaseException):
                return found
        raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")


def dump(state: MockState) -> bytes:
    """The world as bytes, taken under its lock (so one request's changes are all in or out)."""
    buffer = io.BytesIO()
    header = {"format": FORMAT, "shape": model_shape(), "profile": state.config.profile}
    buffer.write(_MAGIC + b" " + json.dumps(header, sort_keys=True).encode() + b"\n")
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    with state.lock:
        pickler.dump(state)
    return buffer.getvalue()


def load(config: MockConfig, data: bytes) -> MockState:
    """The world ``dump`` made, running under ``config``; SnapshotError if it cannot be."""
    magic, _, rest = data.partition(b" ")
    line, newline, body = rest.partition(b"\n")
    if magic != _MAGIC or not newline:
        raise SnapshotError("it is not a mock-aweber world snapshot (or it is damaged)")
    try:
        header = json.loads(line)
    except ValueError:
        raise SnapshotError("its header is damaged") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise SnapshotError(f"it is in snapshot format {found!r}; this mock-aweber reads format {FORMAT}")
    if header.get("shape") != model_shape():
        raise SnapshotError("it was written by a mock-aweber with a different data model (another version)")
    if header.get("profile") != config.profile:
        raise SnapshotError(
            f"it was saved by a server imitating {header.get('profile')!r} and this one imitates "
            f"{config.profile!r} (start with --profile {header.get('profile')})"
        )
    _loading.config = config
    try:
        state = _Unpickler(io.BytesIO(body)).load()
    except Exception as exc:  # any damage: truncated, flipped bytes, a forbidden name
        raise SnapshotError(f"its data is damaged ({type(exc).__name__}: {str(exc)[:200]})") from None
    finally:
        del _loading.config
    if not isinstance(state, MockState):
        raise SnapshotError(f"it holds a {type(state).__name__}, not a mock world")
    return state


@cache
def model_shape() -> str:
    """A digest of the mock's data model (class names and their attribute names)."""
    shapes: dict[str, list[str]] = {}
    seen: set[int] = set()
    todo: list[Any] = [MockState(MockConfig())]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset) or type(obj).__name__ == "deque":
            todo.extend(obj)
        elif dataclasses.is_dataclass(obj):
            shapes[_name(type(obj))] = sorted(f.name for f in dataclasses.fields(obj))
            todo.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        elif type(obj).__module__ in _MODEL_MODULES:
            shapes[_name(type(obj))] = sorted(vars(obj))
            todo.extend(vars(obj).values())
    for module in sorted({name.rpartition(":")[0] for name in shapes}):
        for value in vars(sys.modules[module]).values():
            if dataclasses.is_dataclass(value) and isinstance(value, type) and value.__module__ == module:
                shapes.setdefault(_name(value), sorted(f.name for f in dataclasses.fields(value)))
    return hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
