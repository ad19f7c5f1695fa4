"""The mock's one route table: every path, method and handler it serves, in one place.

Read top to bottom, the table is the mock: the authorization server, AWeber's v1 API (one
handler module per resource in ``mock_server.api``), Constant Contact's slice in that profile,
``/openapi.json``, and the control plane and dashboard under ``/_mock``.

Every API path is routed for all methods, so that a method it does not document gets AWeber's
405 envelope with ``Allow`` instead of Starlette's plain one; the documented methods are the
keys of each :class:`~mock_server.api.common.Resource`.

The token endpoint is a plain ASGI app (``oauth.RawEndpoint``). :func:`direct` picks every such
endpoint out of this table for the edge layer to call without routing (see
``mock_server.edge``): the fast path is derived from the table, never declared beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.routing import BaseRoute, Mount, Route

from mock_server import control, control_dashboard, oauth, openapi
from mock_server.api import accounts, constantcontact, lists, subscribers
from mock_server.api.common import ALL_METHODS, Handler, Resource, unknown_path
from mock_server.state import MockState

ACCOUNT = "/1.0/accounts/{account_id}"
LIST = f"{ACCOUNT}/lists/{{list_id}}"


def api() -> list[tuple[str, Mapping[str, Handler]]]:
    """AWeber's v1 API: path -> method -> handler."""
    table: list[tuple[str, Mapping[str, Handler]]] = [
        ("/1.0/accounts", {"GET": accounts.get_accounts}),
        (ACCOUNT, {"GET": accounts.get_account}),
        (f"{ACCOUNT}/lists", {"GET": lists.get_lists}),
        (LIST, {"GET": lists.get_list}),
        (
            f"{LIST}/subscribers",
            {
                "GET": subscribers.get_subscribers,
                "POST": subscribers.add_subscriber,
                "PATCH": subscribers.patch_subscribers,
                "DELETE": subscribers.delete_subscribers,
            },
        ),
        (
            f"{LIST}/subscribers/{{subscriber_id}}",
            {
                "GET": subscribers.get_subscriber,
                "POST": subscribers.move_subscriber,
                "PATCH": subscribers.patch_subscriber,
                "DELETE": subscribers.delete_subscriber,
            },
        ),
    ]
    return table


def _auth(state: MockState) -> list[BaseRoute]:
    token = oauth.RawEndpoint(oauth.token, state)
    # Constant Contact serves Okta's layout too (providers.md B1).
    prefixes = ["/oauth2", "/oauth2/default/v1"] if state.config.profile == "constantcontact" else ["/oauth2"]
    table: list[BaseRoute] = []
    for prefix in prefixes:
        table += [
            # The token endpoint first: it is the hot path, and routes are tried in order.
            Route(f"{prefix}/token", token, methods=["POST"]),
            Route(f"{prefix}/authorize", oauth.authorize, methods=["GET", "POST"]),
            Route(f"{prefix}/revoke", oauth.revoke, methods=["POST"]),
        ]
    return table


def _control(control_token: str | None) -> list[BaseRoute]:
    """The control API and the dashboard, relative to the ``/_mock`` mount."""
    c = control
    calls: list[tuple[str, str, Handler]] = [
        ("GET", "/clock", c.get_clock),
        ("POST", "/clock/advance", c.advance_clock),
        ("POST", "/clock/set", c.set_clock),
        ("POST", "/clients", c.add_client),
        ("POST", "/users", c.add_user),
        ("POST", "/approve", c.approve),
        ("POST", "/tokens/expire", c.expire_tokens),
        ("POST", "/tokens/revoke", c.revoke_tokens),
        ("POST", "/faults", c.add_fault),
        ("GET", "/faults", c.list_faults),
        ("DELETE", "/faults", c.clear_faults),
        ("GET", "/events", c.events),
        ("GET", "/state", c.state),
        ("POST", "/reset", c.reset),
    ]
    board = control_dashboard.Dashboard(control_token)
    d = control_dashboard
    return [
        *(
            Route(path, c.guarded(handler, control_token), methods=[method])
            for method, path, handler in calls
        ),
        # The dashboard's pages and its CSRF-protected browser forms.
        Route("/", board.index, methods=["GET"]),
        Route("/login", board.login, methods=["POST"]),
        Route("/logout", board.logout, methods=["POST"]),
        Route("/dashboard/clock/advance", board.action(d.advance), methods=["POST"]),
        Route("/dashboard/clock/freeze", board.action(d.freeze), methods=["POST"]),
        Route("/dashboard/tokens/expire", board.action(d.expire), methods=["POST"]),
        Route("/dashboard/tokens/revoke", board.action(d.revoke), methods=["POST"]),
        Route("/dashboard/faults/clear", board.action(d.clear_faults), methods=["POST"]),
        Route("/dashboard/reset", board.action(d.reset), methods=["POST"]),
    ]


def table(
    state: MockState, control_token: str | None = None, *, enable_control: bool = True
) -> list[BaseRoute]:
    """Every route of the mock for the state's configuration."""
    routes: list[BaseRoute] = [
        *_auth(state),
        *(Route(path, Resource(methods).dispatch, methods=ALL_METHODS) for path, methods in api()),
        # Anything else under /1.0 (or /v3) answers that provider's 404, never Starlette's.
        Route("/1.0/{rest:path}", unknown_path, methods=ALL_METHODS),
    ]
    if state.config.profile == "constantcontact":
        # Constant Contact's errors have their own shape, so its handlers dispatch methods themselves.
        routes += [
            Route("/v3/account/summary", constantcontact.account_summary, methods=ALL_METHODS),
            Route("/v3/{rest:path}", constantcontact.unknown_path, methods=ALL_METHODS),
        ]
    routes.append(Route("/openapi.json", openapi.openapi_endpoint, methods=["GET"]))
    if enable_control:
        routes.append(Mount("/_mock", routes=_control(control_token)))
    return routes


def direct(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], oauth.RawEndpoint]:
    """(method, path) -> the plain ASGI endpoints of the table, for the edge layer to call
    without routing (see mock_server.edge)."""
    return {
        (method, route.path): route.endpoint
        for route in routes
        if isinstance(route, Route) and isinstance(route.endpoint, oauth.RawEndpoint)
        for method in route.methods or ()
        if method != "HEAD"
    }
