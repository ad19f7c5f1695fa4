"""An account's integrations (connected Facebook, Twitter, PayPal, Shopify accounts)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import listing
from mock_server.api.http import begin, path_id
from mock_server.api.views import Links, etag
from mock_server.catalog import Integration


def integration_link(links: Links, account_id: int, integration_id: int) -> str:
    """An integration's self link."""
    return f"{links.account(account_id)}/integrations/{integration_id}"


def integration_json(item: Integration, links: Links) -> dict[str, Any]:
    """An Integration representation."""
    body: dict[str, Any] = {
        "id": item.id,
        "login": item.login,
        "service_name": item.service_name,
        "self_link": integration_link(links, item.account_id, item.id),
        "resource_type_link": links.resource_type("integration"),
    }
    body["http_etag"] = etag(body)
    return body


async def get_integrations(request: Request) -> Response:
    """GET /1.0/accounts/{id}/integrations, by id."""
    call = await begin(request, "account.read")
    call.operation()
    items = call.state.directory.catalog.integrations(call.account_id)
    return listing(
        call,
        items,
        lambda item: integration_json(item, call.links),
        url=f"{call.links.account(call.account_id)}/integrations",
        page_type="integrations-page-resource",
    )


async def get_integration(request: Request) -> Response:
    """GET one integration."""
    call = await begin(request, "account.read")
    call.operation()
    integration_id = path_id(request, "integration_id", "integration")
    item = call.state.directory.catalog.integration(call.account_id, integration_id)
    return JSONResponse(integration_json(item, call.links))
