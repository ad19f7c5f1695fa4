"""Custom fields of a list: the collection, create (``ws.op=create``), one field, rename, delete.

Create answers 201 with ``Location`` and no body, PATCH 209 with the field, DELETE 200; a 26th
field is AWeber's 405 "You may only have 25 CustomFields". Deleting a field drops its values
from the list's subscribers. Bodies may be JSON or form, as AWeber documents.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import ListCall, list_call, listing
from mock_server.api.http import ApiError, path_id
from mock_server.api.views import Links, etag
from mock_server.catalog import CustomField


def custom_field_json(item: CustomField, list_url: str, links: Links) -> dict[str, Any]:
    """A CustomField representation."""
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "is_subscriber_updateable": item.is_subscriber_updateable,
        "self_link": f"{list_url}/custom_fields/{item.id}",
        "resource_type_link": links.resource_type("custom_field"),
    }
    body["http_etag"] = etag(body)
    return body


async def get_custom_fields(request: Request) -> Response:
    """GET .../custom_fields, by id."""
    lc = await list_call(request, "list.read")
    items = lc.call.state.directory.catalog.custom_fields(lc.list_id)
    return listing(
        lc.call,
        items,
        lambda item: custom_field_json(item, lc.url, lc.call.links),
        url=f"{lc.url}/custom_fields",
        page_type="custom_field",
    )


async def add_custom_field(request: Request) -> Response:
    """POST .../custom_fields with ``ws.op=create`` and ``name``: 201 with ``Location``."""
    lc = await list_call(request, "list.write", "create")
    fields = lc.call.require_body()
    if lc.op != "create":
        raise ApiError(400, "WebServiceError", "ws.op: Send ws.op=create to add a custom field.")
    item = lc.call.state.directory.catalog.add_custom_field(
        lc.list_id, fields.get("name"), fields.get("is_subscriber_updateable", False)
    )
    return Response(status_code=201, headers={"Location": f"{lc.url}/custom_fields/{item.id}"})


async def _field(request: Request, scope: str) -> tuple[ListCall, CustomField]:
    lc = await list_call(request, scope)
    field_id = path_id(request, "field_id", "custom field")
    return lc, lc.call.state.directory.catalog.custom_field(lc.list_id, field_id)


async def get_custom_field(request: Request) -> Response:
    """GET one custom field."""
    lc, item = await _field(request, "list.read")
    return JSONResponse(custom_field_json(item, lc.url, lc.call.links))


async def patch_custom_field(request: Request) -> Response:
    """PATCH ``name`` and/or ``is_subscriber_updateable``: 209 with the field."""
    lc, item = await _field(request, "list.write")
    fields = lc.call.require_body()
    old_name = item.name
    lc.call.state.directory.catalog.update_custom_field(lc.list_id, item.id, fields)
    lc.call.state.directory.rename_custom_field(lc.mailing_list, old_name, item.name)
    return JSONResponse(custom_field_json(item, lc.url, lc.call.links), status_code=209)


async def delete_custom_field(request: Request) -> Response:
    """DELETE one custom field: 200, and its values leave every subscriber of the list."""
    lc, item = await _field(request, "list.write")
    name = lc.call.state.directory.catalog.delete_custom_field(lc.list_id, item.id)
    lc.call.state.directory.rename_custom_field(lc.mailing_list, name, None)
    return Response(status_code=200)
