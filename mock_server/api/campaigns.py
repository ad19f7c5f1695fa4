"""Campaigns of a list: followups (``f``) then sent broadcasts (``b``), ``ws.op=find`` by
type, one campaign (``campaigns/b3000001``), and a broadcast campaign's statistics.

Statistics come from the broadcast's opens and clicks that the clock has reached, so they grow
as it advances. ``links_collection_link`` is null: AWeber removed the campaign links endpoint
in API 1.3.0, and a link to it would only lead a client to a 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import ListCall, list_call, listing
from mock_server.api.integrations import integration_link
from mock_server.api.model import BadRequest, NotFound
from mock_server.api.views import iso
from mock_server.mailings import STAT_IDS, Broadcast, Followup, statistics

_DECIMAL_STATS = frozenset({"total_sales_dollars"})
_LIST_STATS = frozenset(name for name in STAT_IDS if "_by_" in name or name.startswith(("hourly", "daily")))
_DESCRIPTIONS = {name: name.replace("_", " ").capitalize() for name in STAT_IDS}


def _stats_of(lc: ListCall, item: Broadcast) -> dict[str, object]:
    mailings, now = lc.call.state.directory.mailings, lc.call.state.clock.now()
    return statistics(
        item, mailings.visible_events(item, "open", now), mailings.visible_events(item, "click", now)
    )


def campaign_json(lc: ListCall, item: Broadcast | Followup) -> dict[str, Any]:
    """A Campaign representation of a broadcast or a followup."""
    links = lc.call.links
    if isinstance(item, Broadcast):
        kind, self_link = "b", f"{lc.url}/campaigns/b{item.id}"
        stats = _stats_of(lc, item)
        twitter = item.twitter_integration
        values: dict[str, Any] = {
            "subject": item.subject,
            "sent_at": iso(item.sent_at),
            "scheduled_at": iso(item.scheduled_for),
            "message_interval": None,
            "message_number": None,
            "content_type": "Text/HTML"
            if item.body_html and item.body_text
            else "HTML"
            if item.body_html
            else "Text",
            "click_tracking_enabled": item.click_tracking_enabled,
            "is_archived": item.is_archived,
            "total_sent": item.num_emailed,
            "total_opens": stats["total_opens"],
            "total_clicks": stats["total_clicks"],
            "stats_collection_link": f"{self_link}/stats",
            "twitter_account_link": None
            if twitter is None
            else integration_link(links, lc.call.account_id, twitter),
        }
    else:
        kind, self_link = "f", f"{lc.url}/campaigns/f{item.id}"
        values = {
            "subject": item.subject,
            "sent_at": None,
            "scheduled_at": None,
            "message_interval": item.message_interval,
            "message_number": item.message_number,
            "content_type": item.content_type,
            "click_tracking_enabled": True,
            "is_archived": False,
            "total_sent": item.total_sent,
            "total_opens": item.total_opens,
            "total_clicks": item.total_clicks,
            "stats_collection_link": None,
            "twitter_account_link": None,
        }
    return {
        "id": item.id,
        "campaign_type": kind,
        **values,
        "spam_assassin_score": 0.0,
        "total_spam_complaints": 0,
        "total_undelivered": 0,
        "total_unsubscribes": 0,
        "links_collection_link": None,
        "self_link": self_link,
        "resource_type_link": links.resource_type(
            "broadcast_campaign" if kind == "b" else "followup_campaign"
        ),
    }


def _campaigns(lc: ListCall, kind: str | None) -> list[Broadcast | Followup]:
    mailings = lc.call.state.directory.mailings
    followups: list[Broadcast | Followup] = (
        list(mailings.followups(lc.list_id)) if kind in (None, "f") else []
    )
    sent = mailings.broadcasts(lc.list_id, "sent", lc.call.state.clock.now()) if kind in (None, "b") else []
    return followups + sorted(sent, key=lambda b: (b.sent_at or 0.0, b.id), reverse=True)


async def get_campaigns(request: Request) -> Response:
    """GET .../campaigns, or ``ws.op=find&campaign_type=b|f``."""
    lc = await list_call(request, "email.read", "find")
    kind = lc.call.param("campaign_type")
    if lc.op == "find" and kind not in ("b", "f"):
        raise BadRequest('campaign_type: Expected "b" (broadcasts) or "f" (followups).')
    items = _campaigns(lc, kind if lc.op else None)
    return listing(
        lc.call,
        items,
        lambda item: campaign_json(lc, item),
        url=f"{lc.url}/campaigns",
        page_type="campaign-page-resource",
        find=lc.op is not None,
    )


def _campaign(lc: ListCall, raw: str) -> Broadcast | Followup:
    kind, number = raw[:1], raw[1:]
    if kind not in ("b", "f") or not number.isascii() or not number.isdigit() or len(number) > 18:
        raise NotFound(f"Object: None, name: {raw[:40]!r}")
    mailings = lc.call.state.directory.mailings
    if kind == "f":
        return mailings.followup(lc.list_id, int(number))
    item = mailings.broadcast(lc.list_id, int(number), lc.call.state.clock.now())
    if item.status != "sent":
        raise NotFound("Campaign not found")
    return item


async def get_campaign(request: Request) -> Response:
    """GET one campaign: ``b`` or ``f`` joined to its id."""
    lc = await list_call(request, "email.read")
    return JSONResponse(campaign_json(lc, _campaign(lc, str(request.path_params["campaign_id"]))))


def _stat_json(name: str, value: object, url: str, lc: ListCall) -> dict[str, Any]:
    kind = (
        "decimal_stat" if name in _DECIMAL_STATS else "list_stat" if name in _LIST_STATS else "integer_stat"
    )
    return {
        "id": name,
        "description": _DESCRIPTIONS[name],
        "value": value,
        "self_link": f"{url}/{name}",
        "resource_type_link": lc.call.links.resource_type(kind),
    }


async def _broadcast_campaign(request: Request) -> tuple[ListCall, Broadcast]:
    lc = await list_call(request, "email.read")
    raw = str(request.path_params["campaign_id"])
    item = _campaign(lc, raw) if raw.startswith("b") else None
    if not isinstance(item, Broadcast):
        raise NotFound("Statistics exist for broadcast campaigns (b...) only.")
    return lc, item


async def get_stats(request: Request) -> Response:
    """GET .../campaigns/b{id}/stats, by statistic id."""
    lc, item = await _broadcast_campaign(request)
    url = f"{lc.url}/campaigns/b{item.id}/stats"
    stats = _stats_of(lc, item)
    return listing(
        lc.call,
        list(STAT_IDS),
        lambda name: _stat_json(name, stats[name], url, lc),
        url=url,
        page_type="stat-page-resource",
    )


async def get_stat(request: Request) -> Response:
    """GET .../campaigns/b{id}/stats/{stat_id}."""
    lc, item = await _broadcast_campaign(request)
    name = str(request.path_params["stat_id"])
    if name not in STAT_IDS:
        raise NotFound(f"Object: None, name: {name[:40]!r}")
    url = f"{lc.url}/campaigns/b{item.id}/stats"
    return JSONResponse(_stat_json(name, _stats_of(lc, item)[name], url, lc))
