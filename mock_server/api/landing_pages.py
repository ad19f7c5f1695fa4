"""Landing pages of a list: the collection (without HTML) and one page (with it).

The scopes are AWeber's, quirk included: the collection needs ``landing-page.read``, a single
page ``list.read``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import list_call, listing
from mock_server.api.views import Links, iso
from mock_server.catalog import LandingPage


def landing_page_json(item: LandingPage, list_url: str, links: Links, *, content: bool) -> dict[str, Any]:
    """A LandingPageNoContent representation, or LandingPage with ``content``."""
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "status": item.status,
        "created_at": iso(item.created_at),
        "modified_at": iso(item.modified_at),
        "published_at": iso(item.published_at),
        "published_url": f"https://aweber.example/p/{item.id}" if item.published_at is not None else None,
        "self_link": f"{list_url}/landing_pages/{item.id}",
        "resource_type_link": links.resource_type("landing_page"),
    }
    if content:
        body["content_html"] = item.content_html
        body["published_html"] = item.content_html if item.published_at is not None else None
    return body


async def get_landing_pages(request: Request) -> Response:
    """GET .../landing_pages, oldest first."""
    lc = await list_call(request, "landing-page.read")
    items = lc.call.state.directory.catalog.landing_pages(lc.list_id)
    return listing(
        lc.call,
        items,
        lambda item: landing_page_json(item, lc.url, lc.call.links, content=False),
        url=f"{lc.url}/landing_pages",
        page_type="landing_page-page-resource",
    )


async def get_landing_page(request: Request) -> Response:
    """GET one landing page by its UUID."""
    lc = await list_call(request, "list.read")
    page_id = str(request.path_params["landing_page_id"])
    item = lc.call.state.directory.catalog.landing_page(lc.list_id, page_id)
    return JSONResponse(landing_page_json(item, lc.url, lc.call.links, content=True))
