"""Web forms and web form split tests: per list, one of each, a split test's components, and
the account-wide ``ws.op=getWebForms`` / ``getWebFormSplitTests``.

The account-wide operations answer a bare JSON array of entries, not a collection, as AWeber's
own client libraries expect; AWeber declares ``ws.start``/``ws.size`` required there, but its
libraries send neither, so both are optional (and validated when given). A single web form
declares no scope at all, so any valid token for the account may read it. Source links
point at the mock's ``/forms/`` paths, which this mock does not serve (AWeber serves them from
its form hosts, outside the API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import list_call, listing, page
from mock_server.api.http import Call, path_id
from mock_server.api.views import Links, etag
from mock_server.catalog import SplitTest, WebForm

T = TypeVar("T", WebForm, SplitTest)


def _form_fields(item: WebForm, links: Links) -> dict[str, Any]:
    displays, unique = item.total_displays, item.total_unique_displays
    return {
        "id": item.id,
        "name": item.name,
        "type": item.type,
        "is_active": item.is_active,
        "tags": list(item.tags),
        "total_displays": displays,
        "total_unique_displays": unique,
        "total_submissions": item.total_submissions,
        "conversion_percentage": round(100 * item.total_submissions / displays, 2) if displays else 0.0,
        "unique_conversion_percentage": round(100 * item.total_submissions / unique, 2) if unique else 0.0,
        "html_source_link": f"{links.base}/forms/{item.id}.htm",
        "javascript_source_link": f"{links.base}/forms/{item.id}.js",
    }


def web_form_json(item: WebForm, list_url: str, links: Links) -> dict[str, Any]:
    """A Webform representation."""
    body = {
        **_form_fields(item, links),
        "self_link": f"{list_url}/web_forms/{item.id}",
        "resource_type_link": links.resource_type("web_form"),
    }
    body["http_etag"] = etag(body)
    return body


def split_test_json(item: SplitTest, list_url: str, links: Links) -> dict[str, Any]:
    """A WebformSplitTest representation."""
    self_link = f"{list_url}/web_form_split_tests/{item.id}"
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "is_active": item.is_active,
        "javascript_source_link": f"{links.base}/forms/split_{item.id}.js",
        "components_collection_link": f"{self_link}/components",
        "self_link": self_link,
        "resource_type_link": links.resource_type("web_form_split_test"),
    }
    body["http_etag"] = etag(body)
    return body


def component_json(
    component: tuple[str, WebForm, int], test_url: str, list_url: str, links: Links
) -> dict[str, Any]:
    """A WebformSplitTestComponent: the web form's fields plus ``web_form_link`` and ``weight``."""
    component_id, form, weight = component
    body = {
        **_form_fields(form, links),
        "id": component_id,
        "weight": weight,
        "web_form_link": f"{list_url}/web_forms/{form.id}",
        "self_link": f"{test_url}/components/{component_id}",
        "resource_type_link": links.resource_type("component"),
    }
    body["http_etag"] = etag(body)
    return body


def _list_url(call: Call, list_id: int) -> str:
    return call.links.mailing_list(call.account_id, list_id)


def _bare_page(call: Call, items: Sequence[T], render: Callable[[T, str, Links], dict[str, Any]]) -> Response:
    current = page(call, len(items))
    return JSONResponse(
        [render(item, _list_url(call, item.list_id), call.links) for item in current.take(items)]
    )


def account_web_forms(call: Call) -> Response:
    """``ws.op=getWebForms``: every list's web forms, as a bare array."""
    lists = [item.id for item in call.state.directory.lists(call.account_id)]
    return _bare_page(call, call.state.directory.catalog.web_forms(lists), web_form_json)


def account_split_tests(call: Call) -> Response:
    """``ws.op=getWebFormSplitTests``: every list's split tests, as a bare array."""
    lists = [item.id for item in call.state.directory.lists(call.account_id)]
    return _bare_page(call, call.state.directory.catalog.split_tests(lists), split_test_json)


async def get_web_forms(request: Request) -> Response:
    """GET .../web_forms, by id."""
    lc = await list_call(request, "list.read")
    items = lc.call.state.directory.catalog.web_forms([lc.list_id])
    return listing(
        lc.call,
        items,
        lambda item: web_form_json(item, lc.url, lc.call.links),
        url=f"{lc.url}/web_forms",
        page_type="web_form-page-resource",
    )


async def get_web_form(request: Request) -> Response:
    """GET one web form (AWeber declares no scope for it)."""
    lc = await list_call(request, None)
    item = lc.call.state.directory.catalog.web_form(lc.list_id, path_id(request, "web_form_id", "web form"))
    return JSONResponse(web_form_json(item, lc.url, lc.call.links))


async def get_split_tests(request: Request) -> Response:
    """GET .../web_form_split_tests, by id."""
    lc = await list_call(request, "list.read")
    items = lc.call.state.directory.catalog.split_tests([lc.list_id])
    return listing(
        lc.call,
        items,
        lambda item: split_test_json(item, lc.url, lc.call.links),
        url=f"{lc.url}/web_form_split_tests",
        page_type="web_form_split_test-page-resource",
    )


async def get_split_test(request: Request) -> Response:
    """GET one split test."""
    lc = await list_call(request, "list.read")
    test_id = path_id(request, "split_test_id", "split test")
    item = lc.call.state.directory.catalog.split_test(lc.list_id, test_id)
    return JSONResponse(split_test_json(item, lc.url, lc.call.links))


async def get_components(request: Request) -> Response:
    """GET a split test's components."""
    lc = await list_call(request, "list.read")
    test_id = path_id(request, "split_test_id", "split test")
    items = lc.call.state.directory.catalog.components(lc.list_id, test_id)
    test_url = f"{lc.url}/web_form_split_tests/{test_id}"
    return listing(
        lc.call,
        items,
        lambda item: component_json(item, test_url, lc.url, lc.call.links),
        url=f"{test_url}/components",
        page_type="component-page-resource",
    )


async def get_component(request: Request) -> Response:
    """GET one component by its ``<split test>-<web form>`` id."""
    lc = await list_call(request, "list.read")
    test_id = path_id(request, "split_test_id", "split test")
    component_id = str(request.path_params["component_id"])
    item = lc.call.state.directory.catalog.component(lc.list_id, test_id, component_id)
    test_url = f"{lc.url}/web_form_split_tests/{test_id}"
    return JSONResponse(component_json(item, test_url, lc.url, lc.call.links))
