"""The mock's ASGI app: one readable route table over one MockState.

Imitated paths (AWeber's, and Constant Contact's in that profile) and the control plane under
``/_mock/`` are kept apart; handlers reach the state through ``request.app.state.mock``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from mock_server import api, control, control_webhooks, oauth, openapi, webhook_delivery
from mock_server.config import MockConfig
from mock_server.edge import EdgeMiddleware
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
    the whole prefix, as ``mock-aweber serve --no-control`` does.
    """
    if state is None:
        state = MockState(config)
    auth_routes = oauth.routes(state)
    routes: list[BaseRoute] = [
        *auth_routes,
        *api.routes(state.config),
        Route("/openapi.json", openapi.openapi_endpoint, methods=["GET"]),
    ]
    if enable_control:
        routes.append(
            Mount("/_mock", routes=[*control.routes(control_token), *control_webhooks.routes(control_token)])
        )
    # One layer for faults, the request log and security headers (see mock_server/edge.py).
    middleware = [Middleware(EdgeMiddleware, direct=oauth.direct_routes(auth_routes), state=state)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=webhook_delivery.lifespan)
    app.state.mock = state
    app.state.control_enabled = enable_control
    return app
