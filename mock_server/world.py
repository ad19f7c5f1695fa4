"""Which world a request works on: the one accessor every handler uses (issue 11, sandboxes).

The edge layer (``mock_server.edge``) resolves ``/sandbox/<id>/...`` to that sandbox, moves the
prefix into ``root_path`` (so the routes, ``request.base_url`` and every link built from it stay
inside the sandbox) and puts the sandbox's ``MockState`` in the scope. Requests without the
prefix work on the default world. No HTTP types here beyond the ASGI scope mapping.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_server.state import MockState

SCOPE_STATE = "mock_state"
SCOPE_SANDBOX = "mock_sandbox"
DEFAULT_ID = "default"
PREFIX = "/sandbox/"


def state_of(scope: MutableMapping[str, Any]) -> MockState:
    """The MockState this request works on (the default world for an app without the edge)."""
    state = scope.get(SCOPE_STATE)
    if state is None:
        state = scope["app"].state.mock
    result: MockState = state
    return result


def sandbox_of(scope: MutableMapping[str, Any]) -> str:
    """The id of the sandbox this request works on; ``"default"`` for the root world."""
    sandbox: str = scope.get(SCOPE_SANDBOX, DEFAULT_ID)
    return sandbox


def split(path: str) -> tuple[str, str] | None:
    """``/sandbox/<id>/rest`` -> (id, ``/rest``); None when the path has no sandbox prefix."""
    if not path.startswith(PREFIX):
        return None
    end = path.find("/", len(PREFIX))
    if end == -1:
        return path[len(PREFIX) :], ""
    return path[len(PREFIX) : end], path[end:]
