"""OpenAPI fragments for broadcasts (with their opens and clicks) and campaigns (with their
statistics); merged by ``mock_server.openapi`` like ``spec_content``.
"""

from __future__ import annotations

from mock_server.api.spec import (
    LINK,
    PAGING,
    Schema,
    json_response,
    obj,
    operation,
    page,
    path_param,
    query,
    ref,
)
from mock_server.api.spec_content import INT, READ, TEXT, WRITE, fields, ok, paged
from mock_server.mailings import STAT_IDS

_FORM_ONLY = ("application/x-www-form-urlencoded",)
_CAMPAIGN_FIELDS = fields(
    "campaign_type click_tracking_enabled content_type is_archived links_collection_link message_interval "
    "message_number resource_type_link scheduled_at sent_at spam_assassin_score stats_collection_link "
    "subject total_clicks total_opens total_sent total_spam_complaints total_undelivered "
    "total_unsubscribes twitter_account_link",
    id=INT,
    self_link=LINK,
)
_EVENT_FIELDS = fields("email event_time resource_type_link subscriber_link type")


def _cursor_page(entry: str) -> Schema:
    return obj(
        {"entries": {"type": "array", "items": ref(entry)}, "resource_type_link": LINK},
        {"next_collection_link": LINK, "prev_collection_link": LINK},
    )


SCHEMAS: dict[str, Schema] = {
    "Broadcast": obj(
        fields(
            "archive_url body_html body_text body_amp click_tracking_enabled clicks_collection_link "
            "created_at exclude_lists facebook_integration has_customized_body_text include_lists "
            "is_archived links notify_on_send opens_collection_link scheduled_for segment_link "
            "segment_name sent_at stats status subject twitter_integration uuid",
            broadcast_id=INT,
            self_link=LINK,
        )
    ),
    "BroadcastEntry": obj(
        fields("uuid status scheduled_for sent_at subject", broadcast_id=INT, self_link=LINK)
    ),
    "Broadcasts": obj(
        {
            "entries": {"type": "array", "items": ref("BroadcastEntry")},
            "start": INT,
            "total_size_link": LINK,
            "resource_type_link": LINK,
            "self_link": LINK,
        },
        {"next_collection_link": LINK, "prev_collection_link": LINK},
    ),
    "BroadcastTotal": obj({"total_size": INT}),
    "SelfLink": obj({"self_link": LINK}),
    "BroadcastFields": obj(
        {},
        {
            "subject": {"type": "string", "minLength": 1, "maxLength": 120},
            "body_html": TEXT,
            "body_text": TEXT,
            "body_amp": TEXT,
            "click_tracking_enabled": {"type": "string", "enum": ["true", "false"]},
            "include_lists": {"type": "string", "description": "JSON array of list self_links"},
            "exclude_lists": {"type": "string", "description": "JSON array of list self_links"},
            "segment_link": TEXT,
            "facebook_integration": TEXT,
            "twitter_integration": TEXT,
            "is_archived": {"type": "string", "enum": ["true", "false"]},
            "notify_on_send": {"type": "string", "enum": ["true", "false"]},
        },
    ),
    "Schedule": obj({"scheduled_for": {"type": "string", "format": "date-time"}}),
    "Open": obj(_EVENT_FIELDS),
    "Click": obj(_EVENT_FIELDS, fields("first_click_at last_click_at total_clicks clicked_at url")),
    "Opens": _cursor_page("Open"),
    "Clicks": _cursor_page("Click"),
    "Campaign": obj(_CAMPAIGN_FIELDS),
    "Campaigns": page("Campaign"),
    "FindCampaigns": page("Campaign", find=True),
    "Stat": obj(
        fields(
            "description value resource_type_link",
            id={"type": "string", "enum": list(STAT_IDS)},
            self_link=LINK,
        )
    ),
    "Stats": page("Stat"),
}


_STATUS = query("status", {"type": "string", "enum": ["draft", "scheduled", "sent"]}, "Required")
_CURSOR = [
    query("before", TEXT, "Cursor from a prev_collection_link"),
    query("after", TEXT, "Cursor from a next_collection_link"),
    query("page_size", {"type": "integer", "minimum": 1, "maximum": 100}),
]


def paths() -> dict[str, Schema]:
    """The paths of broadcasts and campaigns."""
    a, lst = path_param("account_id"), path_param("list_id")
    lp = "/1.0/accounts/{account_id}/lists/{list_id}"
    on_list = [a, lst]
    bid = path_param("broadcast_id")
    broadcast = f"{lp}/broadcasts/{{broadcast_id}}"
    cid = path_param("campaign_id")
    return {
        f"{lp}/broadcasts": {
            "get": operation(
                "getBroadcasts",
                "A list's broadcasts in one status",
                ok("Broadcasts"),
                READ,
                [*on_list, _STATUS, *PAGING[:2]],
            ),
            "post": operation(
                "createBroadcast",
                "Create a draft (200 with the broadcast)",
                ok("Broadcast"),
                WRITE,
                on_list,
                "BroadcastFields",
                media=_FORM_ONLY,
            ),
        },
        f"{lp}/broadcasts/total": {
            "get": operation(
                "getBroadcastTotal",
                "How many broadcasts are in a status",
                ok("BroadcastTotal"),
                READ,
                [*on_list, _STATUS],
            )
        },
        broadcast: {
            "get": operation("getBroadcast", "One broadcast", ok("Broadcast"), READ, [*on_list, bid]),
            "put": operation(
                "updateBroadcast",
                "Change an API-created draft",
                ok("Broadcast"),
                (*WRITE, 409),
                [*on_list, bid],
                "BroadcastFields",
                media=_FORM_ONLY,
            ),
            "delete": operation(
                "deleteBroadcast",
                "Delete an API-created draft",
                {"204": {"description": "Deleted (or never there)"}},
                (*WRITE, 409),
                [*on_list, bid],
            ),
        },
        f"{broadcast}/schedule": {
            "post": operation(
                "scheduleBroadcast",
                "Schedule a draft",
                ok("SelfLink"),
                (*WRITE, 409),
                [*on_list, bid],
                "Schedule",
                media=_FORM_ONLY,
            )
        },
        f"{broadcast}/cancel": {
            "post": operation(
                "cancelBroadcast", "Cancel a scheduled broadcast", ok("SelfLink"), WRITE, [*on_list, bid]
            )
        },
        f"{broadcast}/opens": {
            "get": operation(
                "getBroadcastOpens",
                "First opens, newest first",
                ok("Opens"),
                READ,
                [*on_list, bid, *_CURSOR],
            )
        },
        f"{broadcast}/clicks": {
            "get": operation(
                "getBroadcastClicks",
                "Clicks per subscriber, or each click with detailed=true",
                ok("Clicks"),
                READ,
                [*on_list, bid, *_CURSOR, query("detailed", {"type": "string", "enum": ["true", "false"]})],
            )
        },
        f"{lp}/campaigns": {
            "get": operation(
                "getCampaigns",
                "Followups then sent broadcasts, or ws.op=find&campaign_type=b|f",
                {"200": json_response("Campaigns", {"oneOf": [ref("Campaigns"), ref("FindCampaigns"), INT]})},
                READ,
                [
                    *on_list,
                    query("ws.op", {"type": "string", "enum": ["find"]}),
                    query("campaign_type", {"type": "string", "enum": ["b", "f"]}),
                    *PAGING,
                ],
            )
        },
        f"{lp}/campaigns/{{campaign_id}}": {
            "get": operation(
                "getCampaign",
                "One campaign (b or f joined to its id)",
                ok("Campaign"),
                READ,
                [*on_list, cid],
            )
        },
        f"{lp}/campaigns/{{campaign_id}}/stats": {
            "get": operation(
                "getCampaignStats",
                "A broadcast campaign's statistics",
                paged("Stats"),
                READ,
                [*on_list, cid, *PAGING],
            )
        },
        f"{lp}/campaigns/{{campaign_id}}/stats/{{stat_id}}": {
            "get": operation(
                "getCampaignStat", "One statistic", ok("Stat"), READ, [*on_list, cid, path_param("stat_id")]
            )
        },
    }
