"""The mock's ASGI app: the route table of ``mock_server.routes`` over the mock's worlds.

The default world is ``app.state.mock``; sandboxes live in ``app.state.sandboxes`` and are
served under ``/sandbox/<id>/``. Handlers reach the world of their request through
``mock_server.world.state_of``. With a state file (``serve --state``) ``app.state.persister``
saves each world as requests change it (``mock_server.edge``).
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette
from starlette.middleware import Middleware

from mock_server import routes, webhook_delivery
from mock_server.config import MockConfig
from mock_server.edge import EdgeMiddleware
from mock_server.origins import HostCheck
from mock_server.persist import Persister, StateFileError
from mock_server.sandboxes import Sandbox, SandboxError, Sandboxes
from mock_server.state import MockState

_log = logging.getLogger("mock_server.persist")


def create_app(
    config: MockConfig | None = None,
    *,
    state: MockState | None = None,
    control_token: str | None = None,
    enable_control: bool = True,
    state_file: str | os.PathLike[str] | None = None,
) -> Starlette:
    """Build the mock server app.

    ``control_token`` protects ``/_mock/`` with a bearer token; ``enable_control=False`` removes
    the whole prefix, as ``mock-aweber serve --no-control`` does. Requests whose Host the mock
    does not serve (loopback names, the listening address, ``config.allowed_hosts``) get 421.

    ``state_file``: keep every world in this SQLite file (``mock-aweber serve --state``): the
    default world and the sandboxes are restored from it when present, and each request that
    changes a world is saved before its answer leaves. StateFileError when the file cannot be
    used.
    """
    # -- state file (issue 11 item 5): restore before anything is built on the state; the other
    # worlds are adopted by the sandbox registry below (and listed in app.state.restored_worlds).
    persister: Persister | None = None
    restored: dict[str, MockState] = {}
    restored_any = False
    if state_file is not None:
        if state is not None:
            raise ValueError("pass state or state_file, not both: the state file holds the state")
        persister = Persister(state_file)
        try:
            restored = persister.load_all(config or MockConfig())
        except BaseException:
            persister.close()
            raise
        restored_any = bool(restored)
        state = restored.pop("default", None)
    if state is None:
        state = MockState(config)
    base = state
    workers = webhook_delivery.DeliveryWorkers(persister)

    def dropped(sandbox: Sandbox) -> None:
        workers.forget(sandbox.id)
        if persister is not None:  # a deleted or expired sandbox does not come back on restart
            try:
                persister.forget(sandbox.id)
            except Exception as exc:  # the drop stands; the file keeps it until the next start
                _log.error("could not forget sandbox %r: %s", sandbox.id, exc)

    sandboxes = Sandboxes(
        state,
        lambda: MockState(base.config),
        idle_timeout=state.config.sandbox_idle_timeout,
        max_sandboxes=state.config.max_sandboxes,
        on_drop=dropped,
    )
    for sandbox_id, world_state in restored.items():  # the state file's sandboxes, served again
        try:
            sandboxes.adopt(sandbox_id, world_state)
        except SandboxError as exc:
            if persister is not None:
                persister.close()
            raise StateFileError(
                f"the state file {state_file} holds a bad world id: {exc}; pass another --state path"
            ) from None
    table = routes.table(state, control_token, enable_control=enable_control)
    # One layer for the Host check, sandboxes, faults, the request log and security headers
    # (mock_server/edge.py).
    hosts = HostCheck(state.config.allowed_hosts)
    middleware = [
        Middleware(
            EdgeMiddleware,
            direct=routes.direct(table),
            state=state,
            hosts=hosts,
            sandboxes=sandboxes,
            persister=persister,
        )
    ]
    # The lifespan runs the webhook delivery workers (mock_server/webhook_delivery.py).
    app = Starlette(routes=table, middleware=middleware, lifespan=webhook_delivery.lifespan)
    app.state.mock = state
    app.state.sandboxes = sandboxes
    app.state.webhook_workers = workers
    app.state.control_enabled = enable_control
    app.state.persister = persister  # None: nothing is written
    app.state.restored_worlds = restored
    app.state.state_restored = restored_any  # the file held worlds (serve's banner says so)
    return app
