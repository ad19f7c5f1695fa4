"""Broadcasts of a list: collections by status, total, create, one, PUT, delete, schedule and
cancel (opens and clicks are in ``broadcast_events``).

As AWeber documents: create answers 200 with the broadcast (not 201), delete 204 (also for a
broadcast that does not exist, changelog 1.0.37), cancel 200 with ``{self_link}`` whatever
the state (1.0.36); create, PUT and schedule take form bodies only (415 otherwise), bodies up
to 1,000,000 bytes; a time not in the future is 400 ``BroadcastDatetimeExpired``; scheduling
a broadcast that is not a draft, and changing or deleting one that is not an API-made draft,
is 409 ``BroadcastSchedulingError``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import ListCall, list_call
from mock_server.api.http import MAX_BODY_BYTES, ApiError, Call, path_id
from mock_server.api.integrations import integration_link
from mock_server.api.model import BadRequest, NotFound, parse_datetime, parse_flag, parse_paging, parse_text
from mock_server.api.views import collection_json, iso
from mock_server.mailings import STATUSES, Broadcast

MAX_BROADCAST_BODY = 1_000_000
_LIST_PATH = re.compile(r"/1\.0/accounts/(?P<account>\d{1,18})/lists/(?P<list>\d{1,18})/?")
_FLAGS = ("click_tracking_enabled", "is_archived", "notify_on_send")


def broadcast_url(list_url: str, broadcast_id: int) -> str:
    """A broadcast's self link."""
    return f"{list_url}/broadcasts/{broadcast_id}"


def entry_json(item: Broadcast, list_url: str) -> dict[str, Any]:
    """The reduced shape of a broadcast collection's entries."""
    return {
        "broadcast_id": item.id,
        "uuid": item.uuid,
        "subject": item.subject,
        "status": item.status,
        "scheduled_for": iso(item.scheduled_for),
        "sent_at": iso(item.sent_at),
        "self_link": broadcast_url(list_url, item.id),
    }


def broadcast_json(lc: ListCall, item: Broadcast) -> dict[str, Any]:
    """A Broadcast representation (AWeber gives it no resource_type_link and no http_etag)."""
    call, links = lc.call, lc.call.links
    self_link = broadcast_url(lc.url, item.id)
    mailings, catalog = call.state.directory.mailings, call.state.directory.catalog
    now = call.state.clock.now()
    opens = mailings.visible_events(item, "open", now)
    clicks = mailings.visible_events(item, "click", now)
    segment = catalog.segments_by_id.get(item.segment_id) if item.segment_id is not None else None
    archive = f"{links.base}/archive/{lc.mailing_list.unique_list_id}/{item.uuid}"

    def integration(value: int | None) -> str | None:
        return None if value is None else integration_link(links, call.account_id, value)

    return {
        "broadcast_id": item.id,
        "uuid": item.uuid,
        "subject": item.subject,
        "body_html": item.body_html,
        "body_text": item.body_text,
        "body_amp": item.body_amp,
        "has_customized_body_text": item.body_text is not None,
        "click_tracking_enabled": item.click_tracking_enabled,
        "is_archived": item.is_archived,
        "notify_on_send": item.notify_on_send,
        "status": item.status,
        "created_at": iso(item.created_at),
        "scheduled_for": iso(item.scheduled_for),
        "sent_at": iso(item.sent_at),
        "include_lists": [links.mailing_list(call.account_id, list_id) for list_id in item.include_lists],
        "exclude_lists": [links.mailing_list(call.account_id, list_id) for list_id in item.exclude_lists],
        "segment_link": f"{lc.url}/segments/{segment.id}" if segment is not None else None,
        "segment_name": segment.name if segment is not None else "Active Subscribers",
        "facebook_integration": integration(item.facebook_integration),
        "twitter_integration": integration(item.twitter_integration),
        "archive_url": archive if item.is_archived and item.status == "sent" else None,
        "links": [
            {"rel": "list_archive_url", "href": f"{links.base}/archive/{lc.mailing_list.unique_list_id}"},
            {
                "rel": "list_archive_rss_url",
                "href": f"{links.base}/archive/{lc.mailing_list.unique_list_id}.rss",
            },
        ],
        "stats": {
            "num_emailed": item.num_emailed,
            "num_undeliv": 0,
            "num_complaints": 0,
            "unique_opens": len({event.subscriber.email for event in opens}),
            "unique_clicks": len({event.subscriber.email for event in clicks}),
        },
        "opens_collection_link": f"{self_link}/opens",
        "clicks_collection_link": f"{self_link}/clicks",
        "self_link": self_link,
    }


def _status(call: Call) -> str:
    status = call.param("status")
    if not status:
        raise ApiError(
            400, "MissingStatusError", "status: Missing required argument (draft, scheduled or sent)."
        )
    if status not in STATUSES:
        raise ApiError(400, "InvalidBroadcastStatusError", "status: Expected draft, scheduled or sent.")
    return status


async def get_broadcasts(request: Request) -> Response:
    """GET .../broadcasts?status=...: drafts by id, scheduled by time, sent by sending time."""
    lc = await list_call(request, "email.read")
    status = _status(lc.call)
    items = lc.call.state.directory.mailings.broadcasts(lc.list_id, status, lc.call.state.clock.now())
    current = parse_paging(lc.call.param("ws.start"), lc.call.param("ws.size"), len(items))
    url = f"{lc.url}/broadcasts"
    body = collection_json(
        [entry_json(item, lc.url) for item in current.take(items)],
        current,
        url=url,
        query=lc.call.query(),
        resource_type_link=lc.call.links.resource_type("broadcast-page-resource"),
        find=True,
    )
    body["total_size_link"] = f"{url}/total?{urlencode({'status': status})}"
    return JSONResponse(body)


async def get_total(request: Request) -> Response:
    """GET .../broadcasts/total?status=...: ``{"total_size": n}``."""
    lc = await list_call(request, "email.read")
    status = _status(lc.call)
    items = lc.call.state.directory.mailings.broadcasts(lc.list_id, status, lc.call.state.clock.now())
    return JSONResponse({"total_size": len(items)})


def _form(call: Call) -> dict[str, Any]:
    fields = call.require_body()
    if call.body.kind not in ("form", "none"):
        raise ApiError(415, "InvalidContentType", "Content Type must be application/x-www-form-urlencoded")
    return fields


def _list_links(call: Call, name: str, value: object) -> list[int]:
    """A JSON array (or a single value) of list self links, all on the caller's account."""
    problem = ApiError(400, "InvalidListURIError", f"{name}: Expected a JSON array of list self_links.")
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        try:
            items = json.loads(text) if text.startswith("[") else [text]
        except (ValueError, RecursionError):
            raise problem from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise problem
    result: list[int] = []
    for link in items:
        match = _LIST_PATH.fullmatch(urlsplit(link).path)
        if match is None or int(match["account"]) != call.account_id:
            raise problem
        list_id = int(match["list"])
        try:
            call.state.directory.mailing_list(call.account_id, list_id)
        except NotFound:
            raise problem from None
        result.append(list_id)
    return result


def _values(lc: ListCall, fields: dict[str, Any], *, creating: bool) -> dict[str, object]:
    """Validated broadcast fields, with AWeber's error types."""
    call = lc.call
    values: dict[str, object] = {}
    if creating or "subject" in fields:
        subject = fields.get("subject")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 120:
            raise ApiError(400, "InvalidSubjectError", "subject: Expected 1 to 120 characters.")
        values["subject"] = subject
    for name in ("body_html", "body_text", "body_amp"):
        if name in fields:
            values[name] = parse_text(name, fields[name])
    if creating and not (values.get("body_html") or values.get("body_text")):
        raise ApiError(400, "MissingBodyError", "body_html or body_text: Send at least one of them.")
    for name in _FLAGS:
        if name in fields:
            values[name] = parse_flag(name, fields[name])
    for name in ("include_lists", "exclude_lists"):
        if name in fields:
            values[name] = _list_links(call, name, fields[name]) if fields[name] not in ("", "[]") else []
    if fields.get("segment_link"):
        values["segment_id"] = _segment(lc, fields["segment_link"])
    for name in ("facebook_integration", "twitter_integration"):
        if fields.get(name):
            values[name] = _integration(call, name, fields[name])
    return values


def _segment(lc: ListCall, link: object) -> int:
    problem = ApiError(
        400, "InvalidSegmentURIError", "segment_link: Expected the self_link of this list's segment."
    )
    if not isinstance(link, str):
        raise problem
    prefix = urlsplit(f"{lc.url}/segments/").path
    path = urlsplit(link).path
    raw = path[len(prefix) :] if path.startswith(prefix) else ""
    segment = (
        lc.call.state.directory.catalog.segments_by_id.get(int(raw))
        if raw.isdigit() and len(raw) < 19
        else None
    )
    if segment is None or segment.list_id != lc.list_id:
        raise problem
    if segment.is_split_test:
        raise ApiError(
            400, "SplitTestSegmentError", "segment_link: A split-test segment cannot receive a broadcast."
        )
    return segment.id


def _integration(call: Call, name: str, link: object) -> int:
    problem = ApiError(
        400, "InvalidIntegrationURIError", f"{name}: Expected the self_link of an integration."
    )
    prefix = urlsplit(f"{call.links.account(call.account_id)}/integrations/").path
    path = urlsplit(link).path if isinstance(link, str) else ""
    raw = path[len(prefix) :] if path.startswith(prefix) else ""
    found = (
        call.state.directory.catalog.integrations_by_id.get(int(raw))
        if raw.isdigit() and len(raw) < 19
        else None
    )
    if found is None or found.account_id != call.account_id:
        raise problem
    return found.id


async def add_broadcast(request: Request) -> Response:
    """POST .../broadcasts (form): 200 with the new draft."""
    lc = await list_call(request, "email.write", max_body=MAX_BROADCAST_BODY)
    values = _values(lc, _form(lc.call), creating=True)
    item = lc.call.state.directory.mailings.create(lc.list_id, lc.call.state.clock.now(), **values)
    return JSONResponse(broadcast_json(lc, item))


async def find_broadcast(
    request: Request, scope: str, *, max_body: int = MAX_BODY_BYTES
) -> tuple[ListCall, Broadcast]:
    """Authenticate a call on ``.../broadcasts/{broadcast_id}...`` and find that broadcast."""
    lc = await list_call(request, scope, max_body=max_body)
    broadcast_id = path_id(request, "broadcast_id", "broadcast")
    return lc, lc.call.state.directory.mailings.broadcast(lc.list_id, broadcast_id, lc.call.state.clock.now())


async def get_broadcast(request: Request) -> Response:
    """GET one broadcast."""
    lc, item = await find_broadcast(request, "email.read")
    return JSONResponse(broadcast_json(lc, item))


async def put_broadcast(request: Request) -> Response:
    """PUT (form): change the given fields of an API-created draft; 200 with the broadcast."""
    lc, item = await find_broadcast(request, "email.write", max_body=MAX_BROADCAST_BODY)
    values = _values(lc, _form(lc.call), creating=False)
    lc.call.state.directory.mailings.replace(item, **values)
    return JSONResponse(broadcast_json(lc, item))


async def delete_broadcast(request: Request) -> Response:
    """DELETE an API-created draft: 204, also when there is no such broadcast."""
    lc = await list_call(request, "email.write")
    broadcast_id = path_id(request, "broadcast_id", "broadcast")
    mailings = lc.call.state.directory.mailings
    found = mailings.broadcasts_by_id.get(broadcast_id)
    if found is not None and found.list_id == lc.list_id:
        mailings.delete(found)
    return Response(status_code=204)


async def schedule(request: Request) -> Response:
    """POST .../schedule (form ``scheduled_for``): 200 with ``{self_link}``."""
    lc, item = await find_broadcast(request, "email.write")
    fields = _form(lc.call)
    raw = fields.get("scheduled_for")
    if raw in (None, ""):
        raise ApiError(400, "MissingDatetimeError", "scheduled_for: Missing required argument.")
    try:
        when = parse_datetime("scheduled_for", raw)
    except BadRequest as exc:
        raise ApiError(400, "InvalidDatetimeError", exc.message) from None
    now = lc.call.state.clock.now()
    if when <= now:
        raise ApiError(400, "BroadcastDatetimeExpired", "scheduled_for: The time must be in the future.")
    lc.call.state.directory.mailings.schedule(item, when, now)
    return JSONResponse({"self_link": broadcast_url(lc.url, item.id)})


async def cancel(request: Request) -> Response:
    """POST .../cancel: a scheduled broadcast goes back to draft; 200 with ``{self_link}``."""
    lc, item = await find_broadcast(request, "email.write")
    lc.call.state.directory.mailings.cancel(item, lc.call.state.clock.now())
    return JSONResponse({"self_link": broadcast_url(lc.url, item.id)})
