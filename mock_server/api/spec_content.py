"""OpenAPI fragments for the resources beyond accounts, lists and subscribers: tags, custom
fields, purchases, broadcasts, campaigns, integrations, landing pages, segments, web forms.

``mock_server.openapi`` merges :data:`SCHEMAS` and :func:`paths` with ``mock_server.api.spec``.
Field sets are those of the handlers' representations; values the mock may leave null are
typed loosely so that the document stays true for every answer.
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
from mock_server.mailings import STAT_IDS

_ANY: Schema = {}
_INT: Schema = {"type": "integer"}
_TEXT: Schema = {"type": "string"}
_BOOL: Schema = {"type": "boolean"}
_FORM_ONLY = ("application/x-www-form-urlencoded",)
_JSON_ONLY = ("application/json",)


def _fields(names: str, **typed: Schema) -> dict[str, Schema]:
    result = dict.fromkeys(names.split(), _ANY)
    result.update(typed)
    return result


_FORM_FIELDS = _fields(
    "name type is_active tags total_displays total_unique_displays total_submissions conversion_percentage "
    "unique_conversion_percentage html_source_link javascript_source_link http_etag resource_type_link",
    self_link=LINK,
)
_CAMPAIGN_FIELDS = _fields(
    "campaign_type click_tracking_enabled content_type is_archived links_collection_link message_interval "
    "message_number resource_type_link scheduled_at sent_at spam_assassin_score stats_collection_link "
    "subject total_clicks total_opens total_sent total_spam_complaints total_undelivered "
    "total_unsubscribes twitter_account_link",
    id=_INT,
    self_link=LINK,
)
_EVENT_FIELDS = _fields("email event_time resource_type_link subscriber_link type")


def _cursor_page(entry: str) -> Schema:
    return obj(
        {"entries": {"type": "array", "items": ref(entry)}, "resource_type_link": LINK},
        {"next_collection_link": LINK, "prev_collection_link": LINK},
    )


SCHEMAS: dict[str, Schema] = {
    "Tags": {"type": "array", "items": _TEXT, "maxItems": 500},
    "CustomField": obj(
        _fields("name is_subscriber_updateable http_etag resource_type_link", id=_INT, self_link=LINK)
    ),
    "CustomFields": page("CustomField"),
    "AddCustomField": obj(
        {
            "ws.op": {"type": "string", "enum": ["create"]},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        {"is_subscriber_updateable": {"type": "string", "enum": ["true", "false"]}},
    ),
    "UpdateCustomField": obj(
        {},
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "is_subscriber_updateable": {"type": "string", "enum": ["true", "false"]},
        },
    ),
    "Purchase": {
        **obj(
            {
                "email": {"type": "string", "format": "email"},
                "ip_address": _TEXT,
                "vendor": _TEXT,
                "product_name": _TEXT,
                "event_note": _TEXT,
                "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                "value": {"type": "number"},
                "event_time": {"type": "string", "format": "date-time"},
                "url": _TEXT,
            },
            {
                "ad_tracking": _TEXT,
                "misc_notes": _TEXT,
                "name": _TEXT,
                "custom_fields": {"type": "object"},
                "tags": {"type": "array", "items": _TEXT},
            },
        ),
        "additionalProperties": False,
    },
    "Broadcast": obj(
        _fields(
            "archive_url body_html body_text body_amp click_tracking_enabled clicks_collection_link "
            "created_at exclude_lists facebook_integration has_customized_body_text include_lists "
            "is_archived links notify_on_send opens_collection_link scheduled_for segment_link "
            "segment_name sent_at stats status subject twitter_integration uuid",
            broadcast_id=_INT,
            self_link=LINK,
        )
    ),
    "BroadcastEntry": obj(
        _fields("uuid status scheduled_for sent_at subject", broadcast_id=_INT, self_link=LINK)
    ),
    "Broadcasts": obj(
        {
            "entries": {"type": "array", "items": ref("BroadcastEntry")},
            "start": _INT,
            "total_size_link": LINK,
            "resource_type_link": LINK,
            "self_link": LINK,
        },
        {"next_collection_link": LINK, "prev_collection_link": LINK},
    ),
    "BroadcastTotal": obj({"total_size": _INT}),
    "SelfLink": obj({"self_link": LINK}),
    "BroadcastFields": obj(
        {},
        {
            "subject": {"type": "string", "minLength": 1, "maxLength": 120},
            "body_html": _TEXT,
            "body_text": _TEXT,
            "body_amp": _TEXT,
            "click_tracking_enabled": {"type": "string", "enum": ["true", "false"]},
            "include_lists": {"type": "string", "description": "JSON array of list self_links"},
            "exclude_lists": {"type": "string", "description": "JSON array of list self_links"},
            "segment_link": _TEXT,
            "facebook_integration": _TEXT,
            "twitter_integration": _TEXT,
            "is_archived": {"type": "string", "enum": ["true", "false"]},
            "notify_on_send": {"type": "string", "enum": ["true", "false"]},
        },
    ),
    "Schedule": obj({"scheduled_for": {"type": "string", "format": "date-time"}}),
    "Open": obj(_EVENT_FIELDS),
    "Click": obj(_EVENT_FIELDS, _fields("first_click_at last_click_at total_clicks clicked_at url")),
    "Opens": _cursor_page("Open"),
    "Clicks": _cursor_page("Click"),
    "Campaign": obj(_CAMPAIGN_FIELDS),
    "Campaigns": page("Campaign"),
    "FindCampaigns": page("Campaign", find=True),
    "Stat": obj(
        _fields(
            "description value resource_type_link",
            id={"type": "string", "enum": list(STAT_IDS)},
            self_link=LINK,
        )
    ),
    "Stats": page("Stat"),
    "Integration": obj(_fields("login service_name http_etag resource_type_link", id=_INT, self_link=LINK)),
    "Integrations": page("Integration"),
    "LandingPage": obj(
        _fields(
            "name status created_at modified_at published_at published_url resource_type_link",
            id=_TEXT,
            self_link=LINK,
        ),
        _fields("content_html published_html"),
    ),
    "LandingPages": page("LandingPage"),
    "Segment": obj(_fields("name is_split_test resource_type_link", id=_INT, self_link=LINK)),
    "Segments": page("Segment"),
    "WebForm": obj({**_FORM_FIELDS, "id": _INT}),
    "WebForms": page("WebForm"),
    "SplitTest": obj(
        _fields(
            "name is_active javascript_source_link components_collection_link http_etag resource_type_link",
            id=_INT,
            self_link=LINK,
        )
    ),
    "SplitTests": page("SplitTest"),
    "Component": obj({**_FORM_FIELDS, "id": _TEXT, "weight": _INT, "web_form_link": LINK}),
    "Components": page("Component"),
}


def _ok(name: str, description: str = "OK") -> dict[str, Schema]:
    return {"200": json_response(description, ref(name))}


def _paged(name: str) -> dict[str, Schema]:
    return {"200": json_response(name, {"oneOf": [ref(name), _INT]})}


_READ = (400, 403, 404)
_WRITE = (400, 403, 404, 413, 415)
_STATUS = query("status", {"type": "string", "enum": ["draft", "scheduled", "sent"]}, "Required")
_CURSOR = [
    query("before", _TEXT, "Cursor from a prev_collection_link"),
    query("after", _TEXT, "Cursor from a next_collection_link"),
    query("page_size", {"type": "integer", "minimum": 1, "maximum": 100}),
]


def paths() -> dict[str, Schema]:
    """The paths of these resources."""
    a, lst = path_param("account_id"), path_param("list_id")
    acct = "/1.0/accounts/{account_id}"
    lp = f"{acct}/lists/{{list_id}}"
    on_list = [a, lst]
    bid = path_param("broadcast_id")
    broadcast = f"{lp}/broadcasts/{{broadcast_id}}"
    cid = path_param("campaign_id")
    created = {
        "description": "Created; Location names the new resource",
        "headers": {"Location": {"schema": LINK}},
    }
    return {
        f"{lp}/tags": {
            "get": operation("getTags", "Up to 500 tags, most used first", _ok("Tags"), _READ, on_list)
        },
        f"{lp}/custom_fields": {
            "get": operation(
                "getCustomFields",
                "A list's custom fields",
                _paged("CustomFields"),
                _READ,
                [*on_list, *PAGING],
            ),
            "post": operation(
                "addCustomField",
                "ws.op=create: define a custom field",
                {"201": created},
                (*_WRITE, 405),
                on_list,
                "AddCustomField",
            ),
        },
        f"{lp}/custom_fields/{{field_id}}": {
            "get": operation(
                "getCustomField",
                "One custom field",
                _ok("CustomField"),
                _READ,
                [*on_list, path_param("field_id")],
            ),
            "patch": operation(
                "updateCustomField",
                "Rename a custom field or change is_subscriber_updateable",
                {"209": json_response("Updated (ContentModified)", ref("CustomField"))},
                _WRITE,
                [*on_list, path_param("field_id")],
                "UpdateCustomField",
            ),
            "delete": operation(
                "deleteCustomField",
                "Delete a custom field",
                {"200": {"description": "Deleted"}},
                (*_WRITE,),
                [*on_list, path_param("field_id")],
            ),
        },
        f"{lp}/purchases": {
            "post": operation(
                "addPurchase",
                "Record a purchase and add or update its subscriber (counts 3 against the rate limit)",
                {
                    "202": {
                        "description": "Accepted; Location is the subscriber's activity",
                        "headers": {"Location": {"schema": LINK}},
                    }
                },
                (*_WRITE, 405),
                on_list,
                "Purchase",
                media=_JSON_ONLY,
            )
        },
        f"{lp}/broadcasts": {
            "get": operation(
                "getBroadcasts",
                "A list's broadcasts in one status",
                _ok("Broadcasts"),
                _READ,
                [*on_list, _STATUS, *PAGING[:2]],
            ),
            "post": operation(
                "createBroadcast",
                "Create a draft (200 with the broadcast)",
                _ok("Broadcast"),
                _WRITE,
                on_list,
                "BroadcastFields",
                media=_FORM_ONLY,
            ),
        },
        f"{lp}/broadcasts/total": {
            "get": operation(
                "getBroadcastTotal",
                "How many broadcasts are in a status",
                _ok("BroadcastTotal"),
                _READ,
                [*on_list, _STATUS],
            )
        },
        broadcast: {
            "get": operation("getBroadcast", "One broadcast", _ok("Broadcast"), _READ, [*on_list, bid]),
            "put": operation(
                "updateBroadcast",
                "Change an API-created draft",
                _ok("Broadcast"),
                (*_WRITE, 409),
                [*on_list, bid],
                "BroadcastFields",
                media=_FORM_ONLY,
            ),
            "delete": operation(
                "deleteBroadcast",
                "Delete an API-created draft",
                {"204": {"description": "Deleted (or never there)"}},
                (*_WRITE, 409),
                [*on_list, bid],
            ),
        },
        f"{broadcast}/schedule": {
            "post": operation(
                "scheduleBroadcast",
                "Schedule a draft",
                _ok("SelfLink"),
                (*_WRITE, 409),
                [*on_list, bid],
                "Schedule",
                media=_FORM_ONLY,
            )
        },
        f"{broadcast}/cancel": {
            "post": operation(
                "cancelBroadcast", "Cancel a scheduled broadcast", _ok("SelfLink"), _WRITE, [*on_list, bid]
            )
        },
        f"{broadcast}/opens": {
            "get": operation(
                "getBroadcastOpens",
                "First opens, newest first",
                _ok("Opens"),
                _READ,
                [*on_list, bid, *_CURSOR],
            )
        },
        f"{broadcast}/clicks": {
            "get": operation(
                "getBroadcastClicks",
                "Clicks per subscriber, or each click with detailed=true",
                _ok("Clicks"),
                _READ,
                [*on_list, bid, *_CURSOR, query("detailed", {"type": "string", "enum": ["true", "false"]})],
            )
        },
        f"{lp}/campaigns": {
            "get": operation(
                "getCampaigns",
                "Followups then sent broadcasts, or ws.op=find&campaign_type=b|f",
                {
                    "200": json_response(
                        "Campaigns", {"oneOf": [ref("Campaigns"), ref("FindCampaigns"), _INT]}
                    )
                },
                _READ,
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
                _ok("Campaign"),
                _READ,
                [*on_list, cid],
            )
        },
        f"{lp}/campaigns/{{campaign_id}}/stats": {
            "get": operation(
                "getCampaignStats",
                "A broadcast campaign's statistics",
                _paged("Stats"),
                _READ,
                [*on_list, cid, *PAGING],
            )
        },
        f"{lp}/campaigns/{{campaign_id}}/stats/{{stat_id}}": {
            "get": operation(
                "getCampaignStat", "One statistic", _ok("Stat"), _READ, [*on_list, cid, path_param("stat_id")]
            )
        },
        f"{acct}/integrations": {
            "get": operation(
                "getIntegrations", "Connected services", _paged("Integrations"), _READ, [a, *PAGING]
            )
        },
        f"{acct}/integrations/{{integration_id}}": {
            "get": operation(
                "getIntegration",
                "One integration",
                _ok("Integration"),
                _READ,
                [a, path_param("integration_id")],
            )
        },
        f"{lp}/landing_pages": {
            "get": operation(
                "getLandingPages",
                "Landing pages (landing-page.read)",
                _paged("LandingPages"),
                _READ,
                [*on_list, *PAGING],
            )
        },
        f"{lp}/landing_pages/{{landing_page_id}}": {
            "get": operation(
                "getLandingPage",
                "One landing page with its HTML (list.read)",
                _ok("LandingPage"),
                _READ,
                [*on_list, path_param("landing_page_id")],
            )
        },
        f"{lp}/segments": {
            "get": operation("getSegments", "Segments", _paged("Segments"), _READ, [*on_list, *PAGING])
        },
        f"{lp}/segments/{{segment_id}}": {
            "get": operation(
                "getSegment", "One segment", _ok("Segment"), _READ, [*on_list, path_param("segment_id")]
            )
        },
        f"{lp}/web_forms": {
            "get": operation("getWebForms", "Web forms", _paged("WebForms"), _READ, [*on_list, *PAGING])
        },
        f"{lp}/web_forms/{{web_form_id}}": {
            "get": operation(
                "getWebForm",
                "One web form (no scope needed)",
                _ok("WebForm"),
                _READ,
                [*on_list, path_param("web_form_id")],
            )
        },
        f"{lp}/web_form_split_tests": {
            "get": operation(
                "getSplitTests", "Web form split tests", _paged("SplitTests"), _READ, [*on_list, *PAGING]
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}": {
            "get": operation(
                "getSplitTest",
                "One split test",
                _ok("SplitTest"),
                _READ,
                [*on_list, path_param("split_test_id")],
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}/components": {
            "get": operation(
                "getSplitTestComponents",
                "A split test's web forms",
                _paged("Components"),
                _READ,
                [*on_list, path_param("split_test_id"), *PAGING],
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}/components/{{component_id}}": {
            "get": operation(
                "getSplitTestComponent",
                "One component",
                _ok("Component"),
                _READ,
                [*on_list, path_param("split_test_id"), path_param("component_id")],
            )
        },
    }
