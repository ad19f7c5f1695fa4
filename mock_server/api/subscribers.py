"""Subscribers of a list: the collection, ``ws.op=find``, add, one subscriber, activity, move.

Statuses follow providers.md A11.2: add subscriber 201 with ``Location`` and no body, update
209 with the updated subscriber, delete 200 with no body (405 for a subscriber that is not
``subscribed``). Update and delete by e-mail act on the collection URL with ``subscriber_email``
(declared by AWeber) or ``email`` (used by AWeber's own code samples). ``move`` is a POST on a
subscriber with ``ws.op=move`` and ``list_link``, as AWeber's ``manage-subscriber`` sample sends.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import listing
from mock_server.api.http import ApiError, Call, begin, path_id
from mock_server.api.model import BadRequest, NotFound, Subscriber
from mock_server.api.views import activity_json, subscriber_json

_LIST_LINK = re.compile(r"/1\.0/accounts/(?P<account>\d{1,18})/lists/(?P<list>\d{1,18})/?$")


async def get_subscribers(request: Request) -> Response:
    """GET a list's subscribers (oldest first, ``sort_order``), or ``ws.op=find``."""
    call = await begin(request, "subscriber.read")
    op = call.operation("find")
    list_id = path_id(request, "list_id", "list")
    directory = call.state.directory
    if op:
        subs = directory.find_subscribers(call.account_id, list_id, call.filters())
    else:
        subs = directory.subscribers(call.account_id, list_id, call.param("sort_order"))
    return listing(
        call,
        subs,
        lambda sub: subscriber_json(sub, call.account_id, call.links),
        url=call.links.subscribers(call.account_id, list_id),
        page_type="subscribers-page-resource",
        find=op is not None,
    )


async def add_subscriber(request: Request) -> Response:
    """POST a subscriber (JSON or form): 201 with ``Location`` and no body."""
    call = await begin(request, "subscriber.write")
    call.operation("create")
    list_id = path_id(request, "list_id", "list")
    fields = call.require_body()
    subscriber, _ = call.state.directory.add_subscriber(call.account_id, list_id, fields)
    location = call.links.subscriber(call.account_id, list_id, subscriber.id)
    return Response(status_code=201, headers={"Location": location})


def _by_email(call: Call, list_id: int) -> Subscriber:
    email = call.request.query_params.get("subscriber_email") or call.request.query_params.get("email")
    return call.state.directory.subscriber_by_email(call.account_id, list_id, email)


async def patch_subscribers(request: Request) -> Response:
    """PATCH .../subscribers?subscriber_email=... (or ``email=``): 209 with the subscriber."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    fields = call.require_body()
    target = _by_email(call, list_id)
    return _updated(call, list_id, target.id, fields)


async def delete_subscribers(request: Request) -> Response:
    """DELETE .../subscribers?subscriber_email=... (or ``email=``): 200."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    target = _by_email(call, list_id)
    call.state.directory.delete_subscriber(call.account_id, list_id, target.id)
    return Response(status_code=200)


async def get_subscriber(request: Request) -> Response:
    """GET one subscriber, or ``ws.op=getActivity``."""
    call = await begin(request, "subscriber.read")
    op = call.operation("getActivity")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    directory = call.state.directory
    subscriber = directory.subscriber(call.account_id, list_id, subscriber_id)
    self_link = call.links.subscriber(call.account_id, list_id, subscriber_id)
    if op is None:
        return JSONResponse(subscriber_json(subscriber, call.account_id, call.links, single=True))
    history = directory.activity(call.account_id, list_id, subscriber_id)
    return listing(
        call,
        list(enumerate(history, 1)),
        lambda pair: activity_json(*pair, self_link, call.links),
        url=self_link,
        page_type="activity-page-resource",
        find=True,
    )


async def patch_subscriber(request: Request) -> Response:
    """PATCH one subscriber: 209 (ContentModified) with the updated subscriber."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    return _updated(call, list_id, subscriber_id, call.require_body())


def _updated(call: Call, list_id: int, subscriber_id: int, fields: dict[str, Any]) -> Response:
    subscriber = call.state.directory.update_subscriber(call.account_id, list_id, subscriber_id, fields)
    return JSONResponse(
        subscriber_json(subscriber, call.account_id, call.links, single=True), status_code=209
    )


async def delete_subscriber(request: Request) -> Response:
    """DELETE one subscriber: 200, or 405 when it is not subscribed."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    call.state.directory.delete_subscriber(call.account_id, list_id, subscriber_id)
    return Response(status_code=200)


async def move_subscriber(request: Request) -> Response:
    """POST ``ws.op=move`` with ``list_link``: 201 with the subscriber's new ``Location``."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    fields = call.require_body()
    if call.operation("move") is None:
        raise ApiError(405, "MethodNotAllowedError", "Send ws.op=move with list_link to move a subscriber.")
    link = fields.get("list_link")
    match = _LIST_LINK.search(link) if isinstance(link, str) else None
    if match is None:
        raise BadRequest("list_link: Expected the self_link of a list, e.g. <base>/1.0/accounts/1/lists/2.")
    if int(match["account"]) != call.account_id:
        raise NotFound("List with given id not found")
    moved = call.state.directory.move_subscriber(
        call.account_id,
        list_id,
        subscriber_id,
        int(match["list"]),
        fields.get("last_followup_message_number_sent"),
    )
    location = call.links.subscriber(call.account_id, moved.list_id, moved.id)
    return Response(status_code=201, headers={"Location": location})


async def add_purchase(request: Request) -> Response:
    """POST .../purchases (JSON): add or update the subscriber and record the purchase.

    202 with ``Location`` at the subscriber's activity; it needs both subscriber scopes and
    counts as three calls against the rate limit, as AWeber documents.
    """
    call = await begin(request, ("subscriber.read", "subscriber.write"), cost=3)
    list_id = path_id(request, "list_id", "list")
    if call.body.kind != "json":
        raise ApiError(415, "InvalidContentType", "Content Type must be application/json")
    subscriber = call.state.directory.purchase(call.account_id, list_id, call.require_body())
    location = f"{call.links.subscriber(call.account_id, list_id, subscriber.id)}?ws.op=getActivity"
    return Response(status_code=202, headers={"Location": location})
