"""Lists: an account's lists, ``ws.op=find`` by name, one list, and a list's popular tags."""

from __future__ import annotations

from collections import Counter

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import listing
from mock_server.api.http import begin, path_id
from mock_server.api.model import BadRequest
from mock_server.api.views import list_json

MAX_TAGS = 500


async def get_lists(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists, or ``ws.op=find&name=...``."""
    call = await begin(request, "list.read")
    op = call.operation("find")
    directory = call.state.directory
    name = call.param("name")
    if op and name is not None and not 1 <= len(name) <= 100:
        raise BadRequest("name: Expected 1 to 100 characters.")
    lists = directory.find_lists(call.account_id, name) if op else directory.lists(call.account_id)
    return listing(
        call,
        lists,
        lambda item: list_json(item, directory.list_counts(item), call.links),
        url=call.links.lists(call.account_id),
        page_type="list-page-resource",
        find=op is not None,
    )


async def get_list(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists/{list_id}."""
    call = await begin(request, "list.read")
    call.operation()
    directory = call.state.directory
    item = directory.mailing_list(call.account_id, path_id(request, "list_id", "list"))
    return JSONResponse(list_json(item, directory.list_counts(item), call.links))


async def get_tags(request: Request) -> Response:
    """GET .../lists/{list_id}/tags: up to 500 tags as a bare array, most used first."""
    call = await begin(request, "list.read")
    call.operation()
    item = call.state.directory.mailing_list(call.account_id, path_id(request, "list_id", "list"))
    counts = Counter(tag for sub in item.subscribers.values() for tag in sub.tags)
    ranked = sorted(counts, key=lambda tag: (-counts[tag], tag))
    return JSONResponse(ranked[:MAX_TAGS])
