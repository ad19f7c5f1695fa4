"""OpenAPI 3.0 fragments for the API slice (/1.0, and /v3 in the constantcontact profile).

``mock_server.openapi`` assembles these with the authorization server's and the control plane's
paths. Schemas are exact enough for schemathesis to validate responses: every status the
handlers can answer is listed, and ``ws.show=total_size`` answers a bare integer.
"""

from __future__ import annotations

from typing import Any

from mock_server.api.model import FIND_FILTERS
from mock_server.catalog import landing_page_uuid

Schema = dict[str, Any]

NULLABLE_TEXT: Schema = {"type": "string", "nullable": True}
LINK: Schema = {"type": "string", "format": "uri"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def page(entry: str, *, find: bool = False) -> Schema:
    common: dict[str, Schema] = {
        "entries": {"type": "array", "items": ref(entry)},
        "start": {"type": "integer", "minimum": 0},
        "resource_type_link": LINK,
        "self_link": LINK,
    }
    total = {"total_size_link": LINK} if find else {"total_size": {"type": "integer", "minimum": 0}}
    return obj({**common, **total}, {"next_collection_link": LINK, "prev_collection_link": LINK})


_SUBSCRIBER_FIELDS: dict[str, Schema] = {
    "id": {"type": "integer"},
    "email": {"type": "string", "maxLength": 50},
    "name": {**NULLABLE_TEXT, "maxLength": 60},
    "status": {"type": "string", "enum": ["subscribed", "unsubscribed", "unconfirmed"]},
    "is_verified": {"type": "boolean"},
    "verified_at": NULLABLE_TEXT,
    "subscribed_at": {"type": "string"},
    "subscription_method": {"type": "string"},
    "subscription_url": NULLABLE_TEXT,
    "unsubscribed_at": NULLABLE_TEXT,
    "unsubscribe_method": NULLABLE_TEXT,
    "ad_tracking": NULLABLE_TEXT,
    "misc_notes": NULLABLE_TEXT,
    "custom_fields": {"type": "object", "additionalProperties": NULLABLE_TEXT},
    "tags": {"type": "array", "items": {"type": "string"}},
    "ip_address": NULLABLE_TEXT,
    "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
    "self_link": LINK,
    "resource_type_link": LINK,
}

SCHEMAS: dict[str, Schema] = {
    "AWeberError": obj(
        {
            "error": obj(
                {
                    "status": {"type": "integer"},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "documentation_url": {"type": "string"},
                }
            )
        }
    ),
    "InvalidTokenError": obj(
        {"error": {"type": "string", "enum": ["invalid_token"]}, "error_description": {"type": "string"}}
    ),
    "Account": obj(
        {
            "id": {"type": "integer"},
            "uuid": {"type": "string"},
            "company": {"type": "string"},
            "analytics_src": {"type": "string"},
            "http_etag": {"type": "string"},
            "self_link": LINK,
            "resource_type_link": LINK,
            "lists_collection_link": LINK,
            "integrations_collection_link": LINK,
        }
    ),
    "List": obj(
        {
            "id": {"type": "integer"},
            "uuid": {"type": "string"},
            "name": {"type": "string", "maxLength": 32},
            "unique_list_id": {"type": "string"},
            "http_etag": {"type": "string"},
            "self_link": LINK,
            "resource_type_link": LINK,
            "subscribers_collection_link": LINK,
            "total_subscribers": {"type": "integer"},
            "total_subscribed_subscribers": {"type": "integer"},
            "total_unsubscribed_subscribers": {"type": "integer"},
            "total_unconfirmed_subscribers": {"type": "integer"},
        }
    ),
    "Subscriber": obj(_SUBSCRIBER_FIELDS, {"uuid": {"type": "string"}}),
    "FoundSubscriber": obj(_SUBSCRIBER_FIELDS, {"list_link": LINK, "list_name": {"type": "string"}}),
    "Activity": obj(
        {"type": {"type": "string"}, "event_time": {"type": "string"}},
        {"subscriber_link": LINK, "resource_type_link": LINK},
    ),
    "Accounts": page("Account"),
    "Lists": page("List"),
    "FindLists": page("List", find=True),
    "Subscribers": page("Subscriber"),
    "FindSubscribers": page("FoundSubscriber", find=True),
    "ActivityPage": page("Activity", find=True),
    "AddSubscriber": obj(
        {"email": {"type": "string", "format": "email", "maxLength": 50}},
        {
            "name": {"type": "string", "maxLength": 60},
            "ad_tracking": {"type": "string", "maxLength": 20},
            "misc_notes": {"type": "string", "maxLength": 60},
            "custom_fields": {"type": "object", "additionalProperties": NULLABLE_TEXT},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ip_address": {"type": "string"},
            "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
            "update_existing": {"type": "string", "enum": ["true", "false"]},
        },
    ),
    "UpdateSubscriber": obj(
        {},
        {
            "email": {"type": "string", "format": "email", "maxLength": 50},
            "name": {"type": "string", "maxLength": 60},
            "ad_tracking": {"type": "string", "maxLength": 20},
            "misc_notes": {"type": "string", "maxLength": 60},
            "custom_fields": {"type": "object", "additionalProperties": NULLABLE_TEXT},
            "status": {"type": "string", "enum": ["subscribed", "unsubscribed"]},
            "tags": obj(
                {},
                {
                    "add": {"type": "array", "items": {"type": "string"}},
                    "remove": {"type": "array", "items": {"type": "string"}},
                },
            ),
            "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
        },
    ),
    "MoveSubscriber": obj(
        {"ws.op": {"type": "string", "enum": ["move"]}, "list_link": LINK},
        {"last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001}},
    ),
    "CCAccountSummary": obj(
        {"encoded_account_id": {"type": "string"}, "organization_name": {"type": "string"}},
        {"contact_email": {"type": "string"}, "first_name": {"type": "string"}},
    ),
    "CCErrors": {
        "type": "array",
        "items": obj({"error_key": {"type": "string"}, "error_message": {"type": "string"}}),
    },
}


def json_response(description: str, schema: Schema) -> Schema:
    """A response with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Schema]:
    """The 401 every operation can answer, and AWeber's envelope for ``statuses``."""
    texts = {
        400: "Invalid parameter or body (WebServiceError, or a more specific type)",
        403: "Rate Limit Error, or a scope the token lacks (ForbiddenError)",
        404: "No such resource (NotFoundError)",
        405: "Method not allowed, a subscriber that is not subscribed, or a 26th custom field",
        409: "The broadcast is in the wrong state (BroadcastSchedulingError)",
        413: "Body larger than the operation allows",
        415: "Body of a media type the operation does not take (InvalidContentType)",
    }
    result = {
        "401": json_response(
            "Missing, expired or revoked token (invalid_token), or another account (Invalid Account)",
            {"oneOf": [ref("InvalidTokenError"), ref("AWeberError")]},
        )
    }
    result.update({str(status): json_response(texts[status], ref("AWeberError")) for status in statuses})
    return result


def query(name: str, schema: Schema, description: str = "") -> Schema:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# The demo data's ids (mock_server.demo), as examples to start from.
EXAMPLES: dict[str, int | str] = {
    "account_id": 1,
    "list_id": 1001,
    "subscriber_id": 100002,
    "field_id": 1,
    "segment_id": 5,
    "web_form_id": 8,
    "split_test_id": 11,
    "component_id": "11-8",
    "landing_page_id": landing_page_uuid(12),
    "integration_id": 14,
    "broadcast_id": 3000001,
    "campaign_id": "b3000001",
    "stat_id": "total_opens",
}


def path_param(name: str) -> Schema:
    """A path parameter with its demo example; ids are integers unless the example is text."""
    example = EXAMPLES[name]
    schema: Schema = {"type": "string"} if isinstance(example, str) else {"type": "integer", "minimum": 0}
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": example}


PAGING = [
    query("ws.start", {"type": "integer", "minimum": 0}, "Zero-based index of the first entry"),
    query("ws.size", {"type": "integer", "minimum": 1, "maximum": 100}, "Entries per page (default 100)"),
    query("ws.show", {"type": "string", "enum": ["total_size"]}, "Answer only the total, as an integer"),
]
# AWeber's 27 find filters; the day filters take YYYY-MM-DD or MM-DD-YYYY.
_FILTERS = [
    query(name, {"type": "string", "enum": ["subscribed", "unsubscribed", "unconfirmed"]})
    if name == "status"
    else query(name, {"type": "string"})
    for name in FIND_FILTERS
] + [query("sort_key", {"type": "string", "enum": ["subscribed_at", "unsubscribed_at"]})]
_SORT = query("sort_order", {"type": "string", "enum": ["asc", "desc"]})
_BY_EMAIL = [
    query("subscriber_email", {"type": "string"}, "The subscriber's e-mail (AWeber's declared name)"),
    query("email", {"type": "string"}, "The same, as AWeber's code samples send it"),
]
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"accessTokenQuery": []}]


def operation(  # noqa: PLR0917 - reads as a table row
    op_id: str,
    summary: str,
    ok: dict[str, Schema],
    failures: tuple[int, ...],
    params: list[Schema] | None = None,
    body: str | None = None,
    *,
    media: tuple[str, ...] = ("application/json", "application/x-www-form-urlencoded"),
) -> Schema:
    """One operation: its success responses ``ok``, its error statuses, parameters and body."""
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": _SECURITY,
        "parameters": params or [],
        "responses": {**ok, **errors(*failures)},
    }
    if body is not None:
        schema = ref(body)
        op["requestBody"] = {"required": True, "content": {kind: {"schema": schema} for kind in media}}
    return op


def _either(page: str, *others: str) -> Schema:
    return {"oneOf": [ref(page), *(ref(other) for other in others), {"type": "integer"}]}


def paths(profile: str) -> dict[str, Schema]:
    """The API slice's paths for a profile."""
    acct, lst, sub = path_param("account_id"), path_param("list_id"), path_param("subscriber_id")
    read_errors = (400, 403, 404)
    base = "/1.0/accounts"
    result: dict[str, Schema] = {
        base: {
            "get": operation(
                "getAccounts",
                "The token's account",
                {"200": json_response("Accounts", _either("Accounts"))},
                read_errors,
                PAGING,
            )
        },
        f"{base}/{{account_id}}": {
            "get": operation(
                "getAccount",
                "One account, or ws.op=findSubscribers, getWebForms or getWebFormSplitTests across its lists",
                {
                    "200": json_response(
                        "Account, find results, or a bare array of web forms or split tests",
                        {
                            "oneOf": [
                                *_either("FindSubscribers", "Account")["oneOf"],
                                {"type": "array", "items": {"type": "object"}},
                            ]
                        },
                    )
                },
                read_errors,
                [
                    acct,
                    query(
                        "ws.op",
                        {
                            "type": "string",
                            "enum": ["findSubscribers", "getWebForms", "getWebFormSplitTests"],
                        },
                    ),
                    *PAGING,
                    *_FILTERS,
                    _SORT,
                ],
            )
        },
        f"{base}/{{account_id}}/lists": {
            "get": operation(
                "getLists",
                "An account's lists, or ws.op=find by name",
                {"200": json_response("Lists", _either("Lists", "FindLists"))},
                read_errors,
                [
                    acct,
                    query("ws.op", {"type": "string", "enum": ["find"]}),
                    query("name", {"type": "string"}),
                    *PAGING,
                ],
            )
        },
        f"{base}/{{account_id}}/lists/{{list_id}}": {
            "get": operation(
                "getList", "One list", {"200": json_response("List", ref("List"))}, read_errors, [acct, lst]
            )
        },
        f"{base}/{{account_id}}/lists/{{list_id}}/subscribers": {
            "get": operation(
                "getSubscribers",
                "A list's subscribers (oldest first), or ws.op=find",
                {"200": json_response("Subscribers", _either("Subscribers", "FindSubscribers"))},
                read_errors,
                [acct, lst, query("ws.op", {"type": "string", "enum": ["find"]}), *PAGING, *_FILTERS, _SORT],
            ),
            "post": operation(
                "addSubscriber",
                "Add a subscriber (JSON or form)",
                {
                    "201": {
                        "description": "Created; Location names the subscriber",
                        "headers": {"Location": {"schema": LINK}},
                    }
                },
                (400, 403, 404, 413, 415),
                [acct, lst],
                "AddSubscriber",
            ),
            "patch": operation(
                "updateSubscriberByEmail",
                "Update the subscriber with this e-mail",
                {"209": json_response("Updated (ContentModified)", ref("Subscriber"))},
                (400, 403, 404, 413, 415),
                [acct, lst, *_BY_EMAIL],
                "UpdateSubscriber",
            ),
            "delete": operation(
                "deleteSubscriberByEmail",
                "Delete the subscriber with this e-mail",
                {"200": {"description": "Deleted"}},
                (400, 403, 404, 405, 413),
                [acct, lst, *_BY_EMAIL],
            ),
        },
        f"{base}/{{account_id}}/lists/{{list_id}}/subscribers/{{subscriber_id}}": {
            "get": operation(
                "getSubscriber",
                "One subscriber, or ws.op=getActivity",
                {"200": json_response("Subscriber or activity", _either("ActivityPage", "Subscriber"))},
                read_errors,
                [acct, lst, sub, query("ws.op", {"type": "string", "enum": ["getActivity"]}), *PAGING],
            ),
            "post": operation(
                "moveSubscriber",
                "ws.op=move: move a subscribed subscriber to another list of the account",
                {
                    "201": {
                        "description": "Moved; Location names the subscriber on its new list",
                        "headers": {"Location": {"schema": LINK}},
                    }
                },
                (400, 403, 404, 405, 413, 415),
                [acct, lst, sub],
                "MoveSubscriber",
            ),
            "patch": operation(
                "updateSubscriber",
                "Update a subscriber",
                {"209": json_response("Updated (ContentModified)", ref("Subscriber"))},
                (400, 403, 404, 413, 415),
                [acct, lst, sub],
                "UpdateSubscriber",
            ),
            "delete": operation(
                "deleteSubscriber",
                "Delete a subscribed subscriber",
                {"200": {"description": "Deleted"}},
                (400, 403, 404, 405, 413),
                [acct, lst, sub],
            ),
        },
    }
    if profile == "constantcontact":
        cc_error = {
            "description": "Constant Contact error array",
            "content": {"application/json": {"schema": ref("CCErrors")}},
        }
        result["/v3/account/summary"] = {
            "get": {
                "operationId": "getAccountSummary",
                "summary": "The token's account, as Constant Contact describes it",
                "security": [{"bearer": []}],
                "responses": {
                    "200": json_response("Account summary", ref("CCAccountSummary")),
                    "401": cc_error,
                    "403": cc_error,
                    "404": cc_error,
                },
            }
        }
    return result
