"""OpenAPI fragments for the resources beyond accounts, lists and subscribers: tags, custom
fields, purchases, integrations, landing pages, segments, web forms (broadcasts and campaigns
are in ``spec_mailings``).

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
    ref,
)

ANY: Schema = {}
INT: Schema = {"type": "integer"}
TEXT: Schema = {"type": "string"}
_JSON_ONLY = ("application/json",)


def fields(names: str, **typed: Schema) -> dict[str, Schema]:
    """Fields of any type by name, then the ``typed`` ones."""
    result = dict.fromkeys(names.split(), ANY)
    result.update(typed)
    return result


_FORM_FIELDS = fields(
    "name type is_active tags total_displays total_unique_displays total_submissions conversion_percentage "
    "unique_conversion_percentage html_source_link javascript_source_link http_etag resource_type_link",
    self_link=LINK,
)
SCHEMAS: dict[str, Schema] = {
    "Tags": {"type": "array", "items": TEXT, "maxItems": 500},
    "CustomField": obj(
        fields("name is_subscriber_updateable http_etag resource_type_link", id=INT, self_link=LINK)
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
                "ip_address": TEXT,
                "vendor": TEXT,
                "product_name": TEXT,
                "event_note": TEXT,
                "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                "value": {"type": "number"},
                "event_time": {"type": "string", "format": "date-time"},
                "url": TEXT,
            },
            {
                "ad_tracking": TEXT,
                "misc_notes": TEXT,
                "name": TEXT,
                "custom_fields": {"type": "object"},
                "tags": {"type": "array", "items": TEXT},
            },
        ),
        "additionalProperties": False,
    },
    "Integration": obj(fields("login service_name http_etag resource_type_link", id=INT, self_link=LINK)),
    "Integrations": page("Integration"),
    "LandingPage": obj(
        fields(
            "name status created_at modified_at published_at published_url resource_type_link",
            id=TEXT,
            self_link=LINK,
        ),
        fields("content_html published_html"),
    ),
    "LandingPages": page("LandingPage"),
    "Segment": obj(fields("name is_split_test resource_type_link", id=INT, self_link=LINK)),
    "Segments": page("Segment"),
    "WebForm": obj({**_FORM_FIELDS, "id": INT}),
    "WebForms": page("WebForm"),
    "SplitTest": obj(
        fields(
            "name is_active javascript_source_link components_collection_link http_etag resource_type_link",
            id=INT,
            self_link=LINK,
        )
    ),
    "SplitTests": page("SplitTest"),
    "Component": obj({**_FORM_FIELDS, "id": TEXT, "weight": INT, "web_form_link": LINK}),
    "Components": page("Component"),
}


def ok(name: str, description: str = "OK") -> dict[str, Schema]:
    """A 200 with the named schema."""
    return {"200": json_response(description, ref(name))}


def paged(name: str) -> dict[str, Schema]:
    """A collection's 200: the page, or its size with ``ws.show=total_size``."""
    return {"200": json_response(name, {"oneOf": [ref(name), INT]})}


READ = (400, 403, 404)
WRITE = (400, 403, 404, 413, 415)


def paths() -> dict[str, Schema]:
    """The paths of these resources."""
    a, lst = path_param("account_id"), path_param("list_id")
    acct = "/1.0/accounts/{account_id}"
    lp = f"{acct}/lists/{{list_id}}"
    on_list = [a, lst]
    created = {
        "description": "Created; Location names the new resource",
        "headers": {"Location": {"schema": LINK}},
    }
    return {
        f"{lp}/tags": {
            "get": operation("getTags", "Up to 500 tags, most used first", ok("Tags"), READ, on_list)
        },
        f"{lp}/custom_fields": {
            "get": operation(
                "getCustomFields",
                "A list's custom fields",
                paged("CustomFields"),
                READ,
                [*on_list, *PAGING],
            ),
            "post": operation(
                "addCustomField",
                "ws.op=create: define a custom field",
                {"201": created},
                (*WRITE, 405),
                on_list,
                "AddCustomField",
            ),
        },
        f"{lp}/custom_fields/{{field_id}}": {
            "get": operation(
                "getCustomField",
                "One custom field",
                ok("CustomField"),
                READ,
                [*on_list, path_param("field_id")],
            ),
            "patch": operation(
                "updateCustomField",
                "Rename a custom field or change is_subscriber_updateable",
                {"209": json_response("Updated (ContentModified)", ref("CustomField"))},
                WRITE,
                [*on_list, path_param("field_id")],
                "UpdateCustomField",
            ),
            "delete": operation(
                "deleteCustomField",
                "Delete a custom field",
                {"200": {"description": "Deleted"}},
                (*WRITE,),
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
                (*WRITE, 405),
                on_list,
                "Purchase",
                media=_JSON_ONLY,
            )
        },
        f"{acct}/integrations": {
            "get": operation(
                "getIntegrations", "Connected services", paged("Integrations"), READ, [a, *PAGING]
            )
        },
        f"{acct}/integrations/{{integration_id}}": {
            "get": operation(
                "getIntegration",
                "One integration",
                ok("Integration"),
                READ,
                [a, path_param("integration_id")],
            )
        },
        f"{lp}/landing_pages": {
            "get": operation(
                "getLandingPages",
                "Landing pages (landing-page.read)",
                paged("LandingPages"),
                READ,
                [*on_list, *PAGING],
            )
        },
        f"{lp}/landing_pages/{{landing_page_id}}": {
            "get": operation(
                "getLandingPage",
                "One landing page with its HTML (list.read)",
                ok("LandingPage"),
                READ,
                [*on_list, path_param("landing_page_id")],
            )
        },
        f"{lp}/segments": {
            "get": operation("getSegments", "Segments", paged("Segments"), READ, [*on_list, *PAGING])
        },
        f"{lp}/segments/{{segment_id}}": {
            "get": operation(
                "getSegment", "One segment", ok("Segment"), READ, [*on_list, path_param("segment_id")]
            )
        },
        f"{lp}/web_forms": {
            "get": operation("getWebForms", "Web forms", paged("WebForms"), READ, [*on_list, *PAGING])
        },
        f"{lp}/web_forms/{{web_form_id}}": {
            "get": operation(
                "getWebForm",
                "One web form (no scope needed)",
                ok("WebForm"),
                READ,
                [*on_list, path_param("web_form_id")],
            )
        },
        f"{lp}/web_form_split_tests": {
            "get": operation(
                "getSplitTests", "Web form split tests", paged("SplitTests"), READ, [*on_list, *PAGING]
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}": {
            "get": operation(
                "getSplitTest",
                "One split test",
                ok("SplitTest"),
                READ,
                [*on_list, path_param("split_test_id")],
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}/components": {
            "get": operation(
                "getSplitTestComponents",
                "A split test's web forms",
                paged("Components"),
                READ,
                [*on_list, path_param("split_test_id"), *PAGING],
            )
        },
        f"{lp}/web_form_split_tests/{{split_test_id}}/components/{{component_id}}": {
            "get": operation(
                "getSplitTestComponent",
                "One component",
                ok("Component"),
                READ,
                [*on_list, path_param("split_test_id"), path_param("component_id")],
            )
        },
    }
