"""OpenAPI 3.0 fragments for the API slice (/1.0, and /v3 in the constantcontact profile).

``mock_server.openapi`` assembles these with the authorization server's and the control plane's
paths. Schemas are exact enough for schemathesis to validate responses: every status the
handlers can answer is listed, and ``ws.show=total_size`` answers a bare integer.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_NULLABLE_TEXT: Schema = {"type": "string", "nullable": True}
_LINK: Schema = {"type": "string", "format": "uri"}


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def _page(entry: str, *, find: bool = False) -> Schema:
    common: dict[str, Schema] = {
        "entries": {"type": "array", "items": ref(entry)},
        "start": {"type": "integer", "minimum": 0},
        "resource_type_link": _LINK,
        "self_link": _LINK,
    }
    total = {"total_size_link": _LINK} if find else {"total_size": {"type": "integer", "minimum": 0}}
    return _obj({**common, **total}, {"next_collection_link": _LINK, "prev_collection_link": _LINK})


_SUBSCRIBER_FIELDS: dict[str, Schema] = {
    "id": {"type": "integer"},
    "email": {"type": "string", "maxLength": 50},
    "name": {**_NULLABLE_TEXT, "maxLength": 60},
    "status": {"type": "string", "enum": ["subscribed", "unsubscribed", "unconfirmed"]},
    "is_verified": {"type": "boolean"},
    "verified_at": _NULLABLE_TEXT,
    "subscribed_at": {"type": "string"},
    "subscription_method": {"type": "string"},
    "subscription_url": _NULLABLE_TEXT,
    "unsubscribed_at": _NULLABLE_TEXT,
    "unsubscribe_method": _NULLABLE_TEXT,
    "ad_tracking": _NULLABLE_TEXT,
    "misc_notes": _NULLABLE_TEXT,
    "custom_fields": {"type": "object", "additionalProperties": _NULLABLE_TEXT},
    "tags": {"type": "array", "items": {"type": "string"}},
    "ip_address": _NULLABLE_TEXT,
    "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
    "self_link": _LINK,
    "resource_type_link": _LINK,
}

SCHEMAS: dict[str, Schema] = {
    "AWeberError": _obj(
        {
            "error": _obj(
                {
                    "status": {"type": "integer"},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "documentation_url": {"type": "string"},
                }
            )
        }
    ),
    "InvalidTokenError": _obj(
        {"error": {"type": "string", "enum": ["invalid_token"]}, "error_description": {"type": "string"}}
    ),
    "Account": _obj(
        {
            "id": {"type": "integer"},
            "uuid": {"type": "string"},
            "company": {"type": "string"},
            "analytics_src": {"type": "string"},
            "http_etag": {"type": "string"},
            "self_link": _LINK,
            "resource_type_link": _LINK,
            "lists_collection_link": _LINK,
            "integrations_collection_link": _LINK,
        }
    ),
    "List": _obj(
        {
            "id": {"type": "integer"},
            "uuid": {"type": "string"},
            "name": {"type": "string", "maxLength": 32},
            "unique_list_id": {"type": "string"},
            "http_etag": {"type": "string"},
            "self_link": _LINK,
            "resource_type_link": _LINK,
            "subscribers_collection_link": _LINK,
            "total_subscribers": {"type": "integer"},
            "total_subscribed_subscribers": {"type": "integer"},
            "total_unsubscribed_subscribers": {"type": "integer"},
            "total_unconfirmed_subscribers": {"type": "integer"},
        }
    ),
    "Subscriber": _obj(_SUBSCRIBER_FIELDS, {"uuid": {"type": "string"}}),
    "FoundSubscriber": _obj(_SUBSCRIBER_FIELDS, {"list_link": _LINK, "list_name": {"type": "string"}}),
    "Activity": _obj(
        {"type": {"type": "string"}, "event_time": {"type": "string"}},
        {"subscriber_link": _LINK, "resource_type_link": _LINK},
    ),
    "Accounts": _page("Account"),
    "Lists": _page("List"),
    "FindLists": _page("List", find=True),
    "Subscribers": _page("Subscriber"),
    "FindSubscribers": _page("FoundSubscriber", find=True),
    "ActivityPage": _page("Activity", find=True),
    "AddSubscriber": _obj(
        {"email": {"type": "string", "format": "email", "maxLength": 50}},
        {
            "name": {"type": "string", "maxLength": 60},
            "ad_tracking": {"type": "string", "maxLength": 20},
            "misc_notes": {"type": "string", "maxLength": 60},
            "custom_fields": {"type": "object", "additionalProperties": _NULLABLE_TEXT},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ip_address": {"type": "string"},
            "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
            "update_existing": {"type": "string", "enum": ["true", "false"]},
        },
    ),
    "UpdateSubscriber": _obj(
        {},
        {
            "email": {"type": "string", "format": "email", "maxLength": 50},
            "name": {"type": "string", "maxLength": 60},
            "ad_tracking": {"type": "string", "maxLength": 20},
            "misc_notes": {"type": "string", "maxLength": 60},
            "custom_fields": {"type": "object", "additionalProperties": _NULLABLE_TEXT},
            "status": {"type": "string", "enum": ["subscribed", "unsubscribed"]},
            "tags": _obj(
                {},
                {
                    "add": {"type": "array", "items": {"type": "string"}},
                    "remove": {"type": "array", "items": {"type": "string"}},
                },
            ),
            "last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001},
        },
    ),
    "MoveSubscriber": _obj(
        {"ws.op": {"type": "string", "enum": ["move"]}, "list_link": _LINK},
        {"last_followup_message_number_sent": {"type": "integer", "minimum": 0, "maximum": 1001}},
    ),
    "CCAccountSummary": _obj(
        {"encoded_account_id": {"type": "string"}, "organization_name": {"type": "string"}},
        {"contact_email": {"type": "string"}, "first_name": {"type": "string"}},
    ),
    "CCErrors": {
        "type": "array",
        "items": _obj({"error_key": {"type": "string"}, "error_message": {"type": "string"}}),
    },
}


def json_response(description: str, schema: Schema) -> Schema:
    """A response with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    texts = {
        400: "Invalid parameter or body (WebServiceError)",
        403: "Rate Limit Error, or a scope the token lacks (ForbiddenError)",
        404: "No such account, list or subscriber (NotFoundError)",
        405: "Method not allowed, or the subscriber is not subscribed",
        413: "Body larger than 64 KiB",
        415: "Body neither JSON nor form-encoded (InvalidContentType)",
    }
    result = {
        "401": json_response(
            "Missing, expired or revoked token (invalid_token), or another account (Invalid Account)",
            {"oneOf": [ref("InvalidTokenError"), ref("AWeberError")]},
        )
    }
    result.update({str(status): json_response(texts[status], ref("AWeberError")) for status in statuses})
    return result


def _q(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# The demo data's ids (account 1, list 1001, subscribers from 100001), as examples to start from.
_EXAMPLES = {"account_id": 1, "list_id": 1001, "subscriber_id": 100002}


def _path(name: str) -> Schema:
    schema = {"type": "integer", "minimum": 0}
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": _EXAMPLES[name]}


_PAGING = [
    _q("ws.start", {"type": "integer", "minimum": 0}, "Zero-based index of the first entry"),
    _q("ws.size", {"type": "integer", "minimum": 1, "maximum": 100}, "Entries per page (default 100)"),
    _q("ws.show", {"type": "string", "enum": ["total_size"]}, "Answer only the total, as an integer"),
]
_FILTERS = [
    _q(name, {"type": "string"})
    for name in ("email", "name", "ad_tracking", "misc_notes", "subscription_method", "tags", "tags_not_in")
] + [
    _q("status", {"type": "string", "enum": ["subscribed", "unsubscribed", "unconfirmed"]}),
    _q("subscribed_after", {"type": "string", "format": "date"}),
    _q("subscribed_before", {"type": "string", "format": "date"}),
    _q("sort_key", {"type": "string", "enum": ["subscribed_at", "unsubscribed_at"]}),
]
_SORT = _q("sort_order", {"type": "string", "enum": ["asc", "desc"]})
_BY_EMAIL = [
    _q("subscriber_email", {"type": "string"}, "The subscriber's e-mail (AWeber's declared name)"),
    _q("email", {"type": "string"}, "The same, as AWeber's code samples send it"),
]
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"accessTokenQuery": []}]


def _op(  # noqa: PLR0917 - reads as a table row
    op_id: str,
    summary: str,
    ok: dict[str, Schema],
    errors: tuple[int, ...],
    params: list[Schema] | None = None,
    body: str | None = None,
) -> Schema:
    operation: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": _SECURITY,
        "parameters": params or [],
        "responses": {**ok, **_errors(*errors)},
    }
    if body is not None:
        schema = ref(body)
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    return operation


def _either(page: str, *others: str) -> Schema:
    return {"oneOf": [ref(page), *(ref(other) for other in others), {"type": "integer"}]}


def paths(profile: str) -> dict[str, Schema]:
    """The API slice's paths for a profile."""
    acct, lst, sub = _path("account_id"), _path("list_id"), _path("subscriber_id")
    read_errors = (400, 403, 404)
    base = "/1.0/accounts"
    result: dict[str, Schema] = {
        base: {
            "get": _op(
                "getAccounts",
                "The token's account",
                {"200": json_response("Accounts", _either("Accounts"))},
                read_errors,
                _PAGING,
            )
        },
        f"{base}/{{account_id}}": {
            "get": _op(
                "getAccount",
                "One account, or ws.op=findSubscribers across its lists",
                {"200": json_response("Account or find results", _either("FindSubscribers", "Account"))},
                read_errors,
                [
                    acct,
                    _q("ws.op", {"type": "string", "enum": ["findSubscribers"]}),
                    *_PAGING,
                    *_FILTERS,
                    _SORT,
                ],
            )
        },
        f"{base}/{{account_id}}/lists": {
            "get": _op(
                "getLists",
                "An account's lists, or ws.op=find by name",
                {"200": json_response("Lists", _either("Lists", "FindLists"))},
                read_errors,
                [
                    acct,
                    _q("ws.op", {"type": "string", "enum": ["find"]}),
                    _q("name", {"type": "string"}),
                    *_PAGING,
                ],
            )
        },
        f"{base}/{{account_id}}/lists/{{list_id}}": {
            "get": _op(
                "getList", "One list", {"200": json_response("List", ref("List"))}, read_errors, [acct, lst]
            )
        },
        f"{base}/{{account_id}}/lists/{{list_id}}/subscribers": {
            "get": _op(
                "getSubscribers",
                "A list's subscribers (oldest first), or ws.op=find",
                {"200": json_response("Subscribers", _either("Subscribers", "FindSubscribers"))},
                read_errors,
                [acct, lst, _q("ws.op", {"type": "string", "enum": ["find"]}), *_PAGING, *_FILTERS, _SORT],
            ),
            "post": _op(
                "addSubscriber",
                "Add a subscriber (JSON or form)",
                {
                    "201": {
                        "description": "Created; Location names the subscriber",
                        "headers": {"Location": {"schema": _LINK}},
                    }
                },
                (400, 403, 404, 413, 415),
                [acct, lst],
                "AddSubscriber",
            ),
            "patch": _op(
                "updateSubscriberByEmail",
                "Update the subscriber with this e-mail",
                {"209": json_response("Updated (ContentModified)", ref("Subscriber"))},
                (400, 403, 404, 413, 415),
                [acct, lst, *_BY_EMAIL],
                "UpdateSubscriber",
            ),
            "delete": _op(
                "deleteSubscriberByEmail",
                "Delete the subscriber with this e-mail",
                {"200": {"description": "Deleted"}},
                (400, 403, 404, 405, 413),
                [acct, lst, *_BY_EMAIL],
            ),
        },
        f"{base}/{{account_id}}/lists/{{list_id}}/subscribers/{{subscriber_id}}": {
            "get": _op(
                "getSubscriber",
                "One subscriber, or ws.op=getActivity",
                {"200": json_response("Subscriber or activity", _either("ActivityPage", "Subscriber"))},
                read_errors,
                [acct, lst, sub, _q("ws.op", {"type": "string", "enum": ["getActivity"]}), *_PAGING],
            ),
            "post": _op(
                "moveSubscriber",
                "ws.op=move: move a subscribed subscriber to another list of the account",
                {
                    "201": {
                        "description": "Moved; Location names the subscriber on its new list",
                        "headers": {"Location": {"schema": _LINK}},
                    }
                },
                (400, 403, 404, 405, 413, 415),
                [acct, lst, sub],
                "MoveSubscriber",
            ),
            "patch": _op(
                "updateSubscriber",
                "Update a subscriber",
                {"209": json_response("Updated (ContentModified)", ref("Subscriber"))},
                (400, 403, 404, 413, 415),
                [acct, lst, sub],
                "UpdateSubscriber",
            ),
            "delete": _op(
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
