"""The mock's ASGI app: the route table of ``mock_server.routes`` over the mock's worlds.

The default world is ``app.state.mock``; sandboxes live in ``app.state.sandboxes`` and are
served under ``/sandbox/<id>/``. Handlers reach the world of their request through
``mock_server.world.state_of``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from mock_server import routes, webhook_delivery
from mock_server.config import MockConfig
from mock_server.edge import EdgeMiddleware
from mock_server.origins import HostCheck
from mock_server.sandboxes import Sandbox, Sandboxes
from mock_server.state import MockState


def create_app(
    config: MockConfig | None = None,
    *,
    state: MockState | None = None,
    control_token: str | None = None,
    enable_control: bool = True,
) -> Starlette:
    """Build the mock server app.

    ``control_token`` protects ``/_mock/`` with a bearer token; ``enable_control=False`` removes
    the whole prefix, as ``mock-aweber serve --no-control`` does. Requests whose Host the mock
    does not serve (loopback names, the listening address, ``config.allowed_hosts``) get 421.
    """
    if state is None:
        state = MockState(config)
    base = state
    workers = webhook_delivery.DeliveryWorkers()

    def dropped(sandbox: Sandbox) -> None:
        workers.forget(sandbox.id)

    sandboxes = Sandboxes(
        state,
        lambda: MockState(base.config),
        idle_timeout=state.config.sandbox_idle_timeout,
        max_sandboxes=state.config.max_sandboxes,
        on_drop=dropped,
    )
    table = routes.table(state, control_token, enable_control=enable_control)
    # One layer for the Host check, sandboxes, faults, the request log and security headers
    # (mock_server/edge.py).
    hosts = HostCheck(state.config.allowed_hosts)
    middleware = [
        Middleware(EdgeMiddleware, direct=routes.direct(table), state=state, hosts=hosts, sandboxes=sandboxes)
    ]
    # The lifespan runs the webhook delivery workers (mock_server/webhook_delivery.py).
    app = Starlette(routes=table, middleware=middleware, lifespan=webhook_delivery.lifespan)
    app.state.mock = state
    app.state.sandboxes = sandboxes
    app.state.webhook_workers = workers
    app.state.control_enabled = enable_control
    return app
