"""Segments of a list (read-only in AWeber's API)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import list_call, listing
from mock_server.api.http import path_id
from mock_server.api.views import Links
from mock_server.catalog import Segment


def segment_json(item: Segment, list_url: str, links: Links) -> dict[str, Any]:
    """A Segment representation."""
    return {
        "id": item.id,
        "name": item.name,
        "is_split_test": item.is_split_test,
        "self_link": f"{list_url}/segments/{item.id}",
        "resource_type_link": links.resource_type("segment"),
    }


async def get_segments(request: Request) -> Response:
    """GET .../segments, by id."""
    lc = await list_call(request, "list.read")
    items = lc.call.state.directory.catalog.segments(lc.list_id)
    return listing(
        lc.call,
        items,
        lambda item: segment_json(item, lc.url, lc.call.links),
        url=f"{lc.url}/segments",
        page_type="segment-page-resource",
    )


async def get_segment(request: Request) -> Response:
    """GET one segment."""
    lc = await list_call(request, "list.read")
    item = lc.call.state.directory.catalog.segment(lc.list_id, path_id(request, "segment_id", "segment"))
    return JSONResponse(segment_json(item, lc.url, lc.call.links))
