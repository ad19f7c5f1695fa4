"""The mock's ASGI app: the route table of ``mock_server.routes`` over one MockState.

Handlers reach the state through ``request.app.state.mock``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from mock_server import routes, webhook_delivery
from mock_server.config import MockConfig
from mock_server.edge import EdgeMiddleware
from mock_server.origins import HostCheck
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
    table = routes.table(state, control_token, enable_control=enable_control)
    # One layer for the Host check, faults, the request log and security headers (mock_server/edge.py).
    hosts = HostCheck(state.config.allowed_hosts)
    middleware = [Middleware(EdgeMiddleware, direct=routes.direct(table), state=state, hosts=hosts)]
    # The lifespan runs the webhook delivery worker (mock_server/webhook_delivery.py).
    app = Starlette(routes=table, middleware=middleware, lifespan=webhook_delivery.lifespan)
    app.state.mock = state
    app.state.control_enabled = enable_control
    return app
