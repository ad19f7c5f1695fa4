"""The mock's one route table: every path, method and handler it serves, in one place.

Read top to bottom, the table is the mock: the authorization server, AWeber's v1 API (one
handler module per resource in ``mock_server.api``), Constant Contact's slice in that profile,
``/openapi.json``, the favicon, and the control plane and dashboard under ``/_mock``.

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

from mock_server import (
    control,
    control_dashboard,
    control_sandboxes,
    control_webhooks,
    dashboard_webhooks,
    oauth,
    openapi,
    pages,
)
from mock_server.api import (
    accounts,
    broadcast_events,
    broadcasts,
    campaigns,
    constantcontact,
    custom_fields,
    integrations,
    landing_pages,
    lists,
    segments,
    subscribers,
    web_forms,
)
from mock_server.api.common import ALL_METHODS, Handler, Resource, unknown_path
from mock_server.state import MockState

ACCOUNT = "/1.0/accounts/{account_id}"
LIST = f"{ACCOUNT}/lists/{{list_id}}"


def api() -> list[tuple[str, Mapping[str, Handler]]]:
    """AWeber's v1 API: path -> method -> handler (aweber-api.md section 1, in its order)."""
    bc, cf, sub, wf = broadcasts, custom_fields, subscribers, web_forms
    return [
        # Accounts (ws.op=findSubscribers, getWebForms and getWebFormSplitTests on the account)
        ("/1.0/accounts", {"GET": accounts.get_accounts}),
        (ACCOUNT, {"GET": accounts.get_account}),
        # Lists (ws.op=find on the collection)
        (f"{ACCOUNT}/lists", {"GET": lists.get_lists}),
        (LIST, {"GET": lists.get_list}),
        (f"{LIST}/tags", {"GET": lists.get_tags}),
        # Custom fields (POST with ws.op=create)
        (f"{LIST}/custom_fields", {"GET": cf.get_custom_fields, "POST": cf.add_custom_field}),
        (
            f"{LIST}/custom_fields/{{field_id}}",
            {"GET": cf.get_custom_field, "PATCH": cf.patch_custom_field, "DELETE": cf.delete_custom_field},
        ),
        # Subscribers (ws.op=find on the collection, getActivity on one, POST ws.op=move on one)
        (
            f"{LIST}/subscribers",
            {
                "GET": sub.get_subscribers,
                "POST": sub.add_subscriber,
                "PATCH": sub.patch_subscribers,
                "DELETE": sub.delete_subscribers,
            },
        ),
        (
            f"{LIST}/subscribers/{{subscriber_id}}",
            {
                "GET": sub.get_subscriber,
                "POST": sub.move_subscriber,
                "PATCH": sub.patch_subscriber,
                "DELETE": sub.delete_subscriber,
            },
        ),
        (f"{LIST}/purchases", {"POST": sub.add_purchase}),
        # Broadcasts
        (f"{LIST}/broadcasts", {"GET": bc.get_broadcasts, "POST": bc.add_broadcast}),
        (f"{LIST}/broadcasts/total", {"GET": bc.get_total}),
        (
            f"{LIST}/broadcasts/{{broadcast_id}}",
            {"GET": bc.get_broadcast, "PUT": bc.put_broadcast, "DELETE": bc.delete_broadcast},
        ),
        (f"{LIST}/broadcasts/{{broadcast_id}}/cancel", {"POST": bc.cancel}),
        (f"{LIST}/broadcasts/{{broadcast_id}}/schedule", {"POST": bc.schedule}),
        (f"{LIST}/broadcasts/{{broadcast_id}}/opens", {"GET": broadcast_events.get_opens}),
        (f"{LIST}/broadcasts/{{broadcast_id}}/clicks", {"GET": broadcast_events.get_clicks}),
        # Campaigns (ws.op=find on the collection; {campaign_id} is b or f joined to the id)
        (f"{LIST}/campaigns", {"GET": campaigns.get_campaigns}),
        (f"{LIST}/campaigns/{{campaign_id}}", {"GET": campaigns.get_campaign}),
        (f"{LIST}/campaigns/{{campaign_id}}/stats", {"GET": campaigns.get_stats}),
        (f"{LIST}/campaigns/{{campaign_id}}/stats/{{stat_id}}", {"GET": campaigns.get_stat}),
        # Integrations
        (f"{ACCOUNT}/integrations", {"GET": integrations.get_integrations}),
        (f"{ACCOUNT}/integrations/{{integration_id}}", {"GET": integrations.get_integration}),
        # Landing pages
        (f"{LIST}/landing_pages", {"GET": landing_pages.get_landing_pages}),
        (f"{LIST}/landing_pages/{{landing_page_id}}", {"GET": landing_pages.get_landing_page}),
        # Segments
        (f"{LIST}/segments", {"GET": segments.get_segments}),
        (f"{LIST}/segments/{{segment_id}}", {"GET": segments.get_segment}),
        # Web forms and split tests
        (f"{LIST}/web_forms", {"GET": wf.get_web_forms}),
        (f"{LIST}/web_forms/{{web_form_id}}", {"GET": wf.get_web_form}),
        (f"{LIST}/web_form_split_tests", {"GET": wf.get_split_tests}),
        (f"{LIST}/web_form_split_tests/{{split_test_id}}", {"GET": wf.get_split_test}),
        (f"{LIST}/web_form_split_tests/{{split_test_id}}/components", {"GET": wf.get_components}),
        (
            f"{LIST}/web_form_split_tests/{{split_test_id}}/components/{{component_id}}",
            {"GET": wf.get_component},
        ),
    ]


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
    c, w = control, control_webhooks
    calls: list[tuple[str, str, Handler]] = [
        ("GET", "/clock", c.get_clock),
        ("POST", "/clock/advance", c.advance_clock),
        ("POST", "/clock/set", c.set_clock),
        ("POST", "/clients", c.add_client),
        ("POST", "/users", c.add_user),
        ("POST", "/approve", c.approve),
        ("POST", "/tokens/expire", c.expire_tokens),
        ("POST", "/tokens/revoke", c.revoke_tokens),
        ("POST", "/tokens/lifetime", c.set_refresh_lifetime),
        ("POST", "/faults", c.add_fault),
        ("GET", "/faults", c.list_faults),
        ("DELETE", "/faults", c.clear_faults),
        ("GET", "/events", c.events),
        ("GET", "/state", c.state),
        ("POST", "/reset", c.reset),
        # Sandboxes: isolated worlds under /sandbox/<id>/ (root world only; control_sandboxes).
        ("POST", "/sandboxes", control_sandboxes.create),
        ("GET", "/sandboxes", control_sandboxes.listing),
        ("DELETE", "/sandboxes/{sandbox_id}", control_sandboxes.delete),
        # Webhooks: what labs.aweber.com and AWeber's control panel set up (control_webhooks).
        ("GET", "/webhooks", w.overview),
        ("POST", "/webhooks/apps", w.configure_app),
        ("GET", "/webhooks/apps/{client_id}", w.get_app),
        ("POST", "/webhooks/callbacks", w.add_callback),
        ("DELETE", "/webhooks/callbacks/{callback}", w.remove_callback),
        ("POST", "/webhooks/settings", w.settings),
        ("POST", "/webhooks/faults", w.add_fault),
        ("DELETE", "/webhooks/faults", w.clear_faults),
    ]
    board = control_dashboard.Dashboard(control_token)
    d, dw = control_dashboard, dashboard_webhooks
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
        Route("/dashboard/tokens/lifetime", board.action(d.refresh_lifetime), methods=["POST"]),
        Route("/dashboard/faults", board.action(d.arm_fault), methods=["POST"]),
        Route("/dashboard/faults/clear", board.action(d.clear_faults), methods=["POST"]),
        Route("/dashboard/reset", board.action(d.reset), methods=["POST"]),
        Route("/dashboard/webhooks/app", board.action(dw.set_up_app), methods=["POST"]),
        Route("/dashboard/webhooks/connect", board.action(dw.connect_url), methods=["POST"]),
        Route("/dashboard/webhooks/remove", board.action(dw.remove_url), methods=["POST"]),
        Route("/dashboard/webhooks/subscriber/add", board.action(dw.add_subscriber), methods=["POST"]),
        Route("/dashboard/webhooks/subscriber/unsubscribe", board.action(dw.unsubscribe), methods=["POST"]),
        Route("/dashboard/webhooks/faults", board.action(dw.arm_fault), methods=["POST"]),
        Route("/dashboard/webhooks/faults/clear", board.action(dw.clear_faults), methods=["POST"]),
        Route("/dashboard/webhooks/pause", board.action(dw.pause), methods=["POST"]),
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
    routes.append(Route("/favicon.ico", pages.favicon, methods=["GET"]))
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
