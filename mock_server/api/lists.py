"""Lists: an account's lists, ``ws.op=find`` by name, and one list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import page
from mock_server.api.http import begin, path_id, show_total
from mock_server.api.views import collection_json, list_json


async def get_lists(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists, or ``ws.op=find&name=...``."""
    call = await begin(request, "list.read")
    op = call.operation("find")
    directory = call.state.directory
    lists = (
        directory.find_lists(call.account_id, call.param("name")) if op else directory.lists(call.account_id)
    )
    total = show_total(call, len(lists))
    if total is not None:
        return total
    current = page(call, len(lists))
    entries = [list_json(item, directory.list_counts(item), call.links) for item in current.take(lists)]
    body = collection_json(
        entries,
        current,
        url=call.links.lists(call.account_id),
        query=call.query(),
        resource_type_link=call.links.resource_type("list-page-resource"),
        find=op is not None,
    )
    return JSONResponse(body)


async def get_list(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists/{list_id}."""
    call = await begin(request, "list.read")
    call.operation()
    directory = call.state.directory
    item = directory.mailing_list(call.account_id, path_id(request, "list_id", "list"))
    return JSONResponse(list_json(item, directory.list_counts(item), call.links))
