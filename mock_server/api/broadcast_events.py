"""A sent broadcast's opens and clicks, newest first, cursor-paged as AWeber documents.

Cursors are opaque (``before``/``after``, not combinable) and ``page_size`` is 1 to 100; pages
carry ``next_collection_link``/``prev_collection_link`` and no ``start``. Opens are each
subscriber's first; clicks are summed per subscriber unless ``detailed=true``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.broadcasts import broadcast_url, find_broadcast
from mock_server.api.common import ListCall
from mock_server.api.http import Call
from mock_server.api.model import BadRequest, parse_flag, parse_paging
from mock_server.api.views import Links, iso
from mock_server.mailings import Broadcast, Event


def _cursor(broadcast: Broadcast, key: int) -> str:
    raw = f"{broadcast.uuid}:{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key(broadcast: Broadcast, name: str, cursor: str) -> int:
    problem = BadRequest(f"{name}: Not a cursor of this collection; follow the collection's links.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise problem from None
    owner, _, key = raw.rpartition(":")
    if owner != broadcast.uuid or not key.isdigit() or len(key) > 18:
        raise problem
    return int(key)


def cursor_page(
    call: Call, broadcast: Broadcast, rows: Sequence[tuple[int, dict[str, Any]]], url: str, page_type: str
) -> dict[str, Any]:
    """One page of newest-first ``rows`` (cursor key, entry) by ``before``/``after``/``page_size``."""
    before, after = call.param("before"), call.param("after")
    if before and after:
        raise BadRequest("before and after cannot be combined; send one of them.")
    raw_size = call.param("page_size")
    size = parse_paging(None, raw_size, 0).size if raw_size else 100
    keys = [key for key, _ in rows]
    if after:
        wanted = _key(broadcast, "after", after)
        start = keys.index(wanted) + 1 if wanted in keys else sum(1 for key in keys if key > wanted)
        chosen = list(rows[start : start + size])
    elif before:
        wanted = _key(broadcast, "before", before)
        stop = keys.index(wanted) if wanted in keys else sum(1 for key in keys if key > wanted)
        start = max(0, stop - size)
        chosen = list(rows[start:stop])
    else:
        start = 0
        chosen = list(rows[:size])
    extra = (
        [("detailed", "true")]
        if call.param("detailed") and parse_flag("detailed", call.param("detailed"))
        else []
    )

    def link(name: str, key: int) -> str:
        return f"{url}?{urlencode([*extra, (name, _cursor(broadcast, key)), ('page_size', str(size))])}"

    body: dict[str, Any] = {"entries": [entry for _, entry in chosen]}
    if chosen and start + len(chosen) < len(rows):
        body["next_collection_link"] = link("after", chosen[-1][0])
    if chosen and start > 0:
        body["prev_collection_link"] = link("before", chosen[0][0])
    body["resource_type_link"] = call.links.resource_type(page_type)
    return body


def _event_json(event: Event, lc: ListCall, links: Links) -> dict[str, Any]:
    sub = event.subscriber
    return {
        "type": event.kind,
        "email": sub.email,
        "event_time": iso(event.at),
        "subscriber_link": links.subscriber(lc.call.account_id, sub.list_id, sub.id),
        "resource_type_link": links.resource_type(event.kind),
    }


async def get_opens(request: Request) -> Response:
    """GET .../opens: each subscriber's first open, newest first, cursor-paged."""
    lc, item = await find_broadcast(request, "email.read")
    events = lc.call.state.directory.mailings.visible_events(item, "open", lc.call.state.clock.now())
    first: dict[int, Event] = {}
    for event in reversed(events):  # oldest first, so the first open of each subscriber stays
        first.setdefault(event.subscriber.id, event)
    unique = sorted(first.values(), key=lambda e: (e.at, e.key), reverse=True)
    rows = [(event.key, _event_json(event, lc, lc.call.links)) for event in unique]
    url = f"{broadcast_url(lc.url, item.id)}/opens"
    return JSONResponse(cursor_page(lc.call, item, rows, url, "open-page-resource"))


async def get_clicks(request: Request) -> Response:
    """GET .../clicks: per subscriber (or each click with ``detailed=true``), newest first."""
    lc, item = await find_broadcast(request, "email.read")
    detailed = parse_flag("detailed", lc.call.param("detailed") or "false")
    events = lc.call.state.directory.mailings.visible_events(item, "click", lc.call.state.clock.now())
    rows: list[tuple[int, dict[str, Any]]] = []
    if detailed:
        for event in events:
            entry = _event_json(event, lc, lc.call.links)
            rows.append((event.key, {**entry, "clicked_at": iso(event.at), "url": event.url}))
    else:
        groups: dict[int, list[Event]] = {}
        for event in events:
            groups.setdefault(event.subscriber.id, []).append(event)
        for group in groups.values():  # each newest first; groups in order of their newest click
            entry = _event_json(group[0], lc, lc.call.links)
            entry.update(
                first_click_at=iso(group[-1].at), last_click_at=iso(group[0].at), total_clicks=len(group)
            )
            rows.append((group[0].key, entry))
    url = f"{broadcast_url(lc.url, item.id)}/clicks"
    return JSONResponse(cursor_page(lc.call, item, rows, url, "click-page-resource"))
