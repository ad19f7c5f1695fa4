"""GET /openapi.json: an OpenAPI 3.0 description of everything the mock serves.

It follows the running configuration: the Constant Contact paths appear only in that profile,
the ``/_mock/`` control API only when the control plane is enabled (its bearer control token
declared optional, since the document cannot tell whether one is set), and the server URL is
the base URL of the request, so tools pointed at the document talk to this mock. The API
slice's fragments live in ``mock_server.api.spec``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mock_server.api import spec as api_spec
from mock_server.api import spec_content, spec_mailings
from mock_server.api.spec import Schema, json_response, ref
from mock_server.faults import GRANT_TYPES, METHODS
from mock_server.world import state_of

_TEXT: Schema = {"type": "string"}
_HTML = {"text/html": {"schema": _TEXT}}


def _obj(props: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


_OAUTH_SCHEMAS: dict[str, Schema] = {
    "OAuthError": _obj({"error": _TEXT, "error_description": _TEXT, "error_uri": _TEXT}, ("error",)),
    "TokenResponse": _obj(
        {
            "access_token": _TEXT,
            "refresh_token": _TEXT,
            "token_type": _TEXT,
            "expires_in": {"type": "integer"},
            "scope": _TEXT,
            "state": _TEXT,
        },
        ("access_token", "token_type", "expires_in"),
    ),
    "TokenRequest": _obj(
        {
            "grant_type": {"type": "string", "enum": ["authorization_code", "refresh_token"]},
            "code": _TEXT,
            "redirect_uri": _TEXT,
            "refresh_token": _TEXT,
            "client_id": _TEXT,
            "client_secret": _TEXT,
            "code_verifier": _TEXT,
        },
        ("grant_type",),
    ),
    "RevokeRequest": _obj(
        {
            "token": _TEXT,
            "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
            "client_id": _TEXT,
            "client_secret": _TEXT,
        },
        ("token",),
    ),
    "ControlError": _obj({"error": _TEXT, "error_description": _TEXT}, ("error",)),
}


def _oauth_error(description: str) -> Schema:
    return json_response(description, ref("OAuthError"))


def _form_or_json(schema: str) -> Schema:
    content = {
        "application/x-www-form-urlencoded": {"schema": ref(schema)},
        "application/json": {"schema": ref(schema)},
    }
    return {"required": True, "content": content}


def _auth_paths(prefix: str) -> dict[str, Schema]:
    authorize_params = [
        {"name": name, "in": "query", "required": name in ("client_id", "redirect_uri"), "schema": _TEXT}
        for name in (
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        )
    ]
    pages = {
        "200": {"description": "Login and consent page, or the out-of-band code page", "content": _HTML},
        "302": {"description": "Back to the registered redirect URI with code and state, or an error"},
        "4XX": {"description": "An error page (never a redirect to an unregistered URI)", "content": _HTML},
    }
    tag = prefix.strip("/").replace("/", "-")
    return {
        f"{prefix}/authorize": {
            "get": {"operationId": f"{tag}-authorize", "parameters": authorize_params, "responses": pages},
            "post": {
                "operationId": f"{tag}-authorize-answer",
                "summary": "The consent form's answer (form_token, username, password, decision)",
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": _obj(
                                {
                                    "form_token": _TEXT,
                                    "username": _TEXT,
                                    "password": _TEXT,
                                    "decision": {"type": "string", "enum": ["allow", "deny"]},
                                }
                            )
                        }
                    }
                },
                "responses": pages,
            },
        },
        f"{prefix}/token": {
            "post": {
                "operationId": f"{tag}-token",
                "summary": "Exchange a code or a refresh token (Basic, body or query client credentials)",
                "requestBody": _form_or_json("TokenRequest"),
                "responses": {
                    "200": json_response("Tokens", ref("TokenResponse")),
                    "400": _oauth_error("invalid_request, invalid_grant, unsupported_grant_type, ..."),
                    "401": _oauth_error("invalid_client"),
                    "413": _oauth_error("Body too large"),
                },
            }
        },
        f"{prefix}/revoke": {
            "post": {
                "operationId": f"{tag}-revoke",
                "summary": "Revoke an access or refresh token (RFC 7009)",
                "requestBody": _form_or_json("RevokeRequest"),
                "responses": {
                    "200": {"description": "Revoked (or unknown: nothing to do)"},
                    "400": _oauth_error("invalid_request"),
                    "401": _oauth_error("invalid_client"),
                    "413": _oauth_error("Body too large"),
                },
            }
        },
    }


_FILTERS = {"client_id": _TEXT, "username": _TEXT, "access_token": _TEXT, "grant": _TEXT}
_SECONDS = {"type": "number", "minimum": 0}
_EVENT_PARAMETERS = [
    {"name": "since", "in": "query", "description": "events with a larger id", "schema": {"type": "integer"}},
    *(
        {"name": name, "in": "query", "description": what, "schema": _TEXT}
        for name, what in (
            ("client_id", "that client's requests"),
            ("grant_type", "authorization_code, refresh_token or revoke"),
            ("result", "ok, an error code, or refused (every event with a verdict)"),
            ("reason", "the verdict's reason"),
            ("path", "one request path"),
        )
    ),
    *(
        {"name": name, "in": "query", "description": what, "schema": {"type": "number"}}
        for name, what in (("from", "time >= this (mock clock)"), ("until", "time < this (mock clock)"))
    ),
]
_CONTROL_CALLS: list[tuple[str, str, Schema | None, str, Schema]] = [
    ("/_mock/clock", "get", None, "200", _obj({"now": {"type": "number"}, "frozen": {"type": "boolean"}})),
    (
        "/_mock/clock/advance",
        "post",
        _obj({"seconds": {"type": "number"}}, ("seconds",)),
        "200",
        _obj({"now": {"type": "number"}}),
    ),
    (
        "/_mock/clock/set",
        "post",
        _obj({"now": {"type": "number"}, "frozen": {"type": "boolean"}}),
        "200",
        _obj({"now": {"type": "number"}}),
    ),
    (
        "/_mock/clients",
        "post",
        _obj(
            {
                "client_id": _TEXT,
                "client_secret": {"type": "string", "nullable": True},
                "redirect_uris": {"type": "array", "items": _TEXT},
                "name": _TEXT,
                "refresh_policy": {"oneOf": [_TEXT, {"type": "object"}]},
            },
            ("client_id", "redirect_uris"),
        ),
        "201",
        {"type": "object"},
    ),
    (
        "/_mock/users",
        "post",
        _obj({"username": _TEXT, "password": _TEXT}, ("username", "password")),
        "201",
        _obj({"username": _TEXT, "account_id": {"type": "integer"}}),
    ),
    (
        "/_mock/approve",
        "post",
        _obj(
            {
                "username": _TEXT,
                "client_id": _TEXT,
                "redirect_uri": _TEXT,
                "response_type": _TEXT,
                "scope": _TEXT,
                "state": _TEXT,
            }
        ),
        "200",
        _obj({"code": _TEXT, "redirect": {"type": "string", "nullable": True}}),
    ),
    (
        "/_mock/tokens/expire",
        "post",
        _obj({**_FILTERS, "in_seconds": _SECONDS}),
        "200",
        _obj({"expired": {"type": "integer"}}),
    ),
    (
        "/_mock/tokens/revoke",
        "post",
        _obj({**_FILTERS, "refresh_token": _TEXT}),
        "200",
        _obj({"revoked": {"type": "integer"}}),
    ),
    (
        "/_mock/tokens/lifetime",
        "post",
        _obj(
            {
                "client_id": _TEXT,
                "username": _TEXT,
                "refresh_token": _TEXT,
                "grant": _TEXT,
                "seconds": _SECONDS,
            },
            ("seconds",),
        ),
        "200",
        _obj({"updated": {"type": "integer"}}),
    ),
    (
        "/_mock/faults",
        "post",
        _obj(
            {
                "path": _TEXT,
                "path_prefix": _TEXT,
                "method": {"type": "string", "enum": sorted(METHODS)},
                "grant_type": {"type": "string", "enum": list(GRANT_TYPES)},
                "client_id": _TEXT,
                "nth": {"type": "integer", "minimum": 1},
                "count": {"type": "integer", "minimum": 1},
                "status": {"type": "integer"},
                "body": {},
                "delay_ms": {"type": "number", "minimum": 0},
                "drop": {"type": "boolean"},
                "after_work": {"type": "boolean"},
            },
            (),
        ),
        "201",
        {"type": "object"},
    ),
    ("/_mock/faults", "get", None, "200", {"type": "array", "items": {"type": "object"}}),
    ("/_mock/faults", "delete", None, "204", {}),
    ("/_mock/events", "get", None, "200", {"type": "array", "items": {"type": "object"}}),
    ("/_mock/state", "get", None, "200", {"type": "object"}),
    ("/_mock/reset", "post", None, "204", {}),
    # Sandboxes (mock_server/control_sandboxes.py): isolated worlds under /sandbox/<id>/.
    ("/_mock/sandboxes", "post", _obj({"name": _TEXT}), "201", {"type": "object"}),
    ("/_mock/sandboxes", "get", None, "200", {"type": "object"}),
    ("/_mock/sandboxes/{sandbox_id}", "delete", None, "204", {}),
    # Webhooks (mock_server/control_webhooks.py): AWeber has no API for these.
    ("/_mock/webhooks", "get", None, "200", {"type": "object"}),
    (
        "/_mock/webhooks/apps",
        "post",
        _obj(
            {
                "client_id": _TEXT,
                "allow_list": {"type": "array", "items": _TEXT},
                "events": {"type": "array", "items": _TEXT},
            },
            ("client_id", "allow_list"),
        ),
        "201",
        _obj({"client_id": _TEXT, "verification_key": _TEXT}),
    ),
    ("/_mock/webhooks/apps/{client_id}", "get", None, "200", _obj({"verification_key": _TEXT})),
    (
        "/_mock/webhooks/callbacks",
        "post",
        _obj(
            {"client_id": _TEXT, "account_id": {"type": "integer"}, "username": _TEXT, "url": _TEXT},
            ("client_id", "url"),
        ),
        "201",
        _obj({"callback": _TEXT, "url": _TEXT}),
    ),
    ("/_mock/webhooks/callbacks/{callback}", "delete", None, "204", {}),
    (
        "/_mock/webhooks/settings",
        "post",
        _obj(
            {
                "retries": {"type": "integer"},
                "retry_delay": {"type": "number"},
                "timeout": {"type": "number"},
                "batch_size": {"type": "integer"},
                "paused": {"type": "boolean"},
            }
        ),
        "200",
        {"type": "object"},
    ),
    (
        "/_mock/webhooks/faults",
        "post",
        _obj(
            {
                "kind": _TEXT,
                "count": {"type": "integer"},
                "delay_seconds": {"type": "number"},
                "callback": _TEXT,
            },
            ("kind",),
        ),
        "201",
        {"type": "object"},
    ),
    ("/_mock/webhooks/faults", "delete", None, "204", {}),
]


def _control_paths() -> dict[str, Schema]:
    result: dict[str, Schema] = {}
    error = json_response("The body cannot be used; the description says what to send", ref("ControlError"))
    for path, method, body, status, answer in _CONTROL_CALLS:
        ok = {"description": "Done"} if status == "204" else json_response("Done", answer)
        operation: Schema = {
            "operationId": f"control-{method}-{path.removeprefix('/_mock/').replace('/', '-')}",
            "responses": {status: ok, "400": error, "413": error},
        }
        operation["responses"]["403"] = json_response(
            "A browser request from another origin (Origin, Sec-Fetch-Site)", ref("ControlError")
        )
        if body is not None:
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
            operation["responses"]["415"] = json_response(
                "A body sent without Content-Type: application/json", ref("ControlError")
            )
        if path == "/_mock/events":
            operation["parameters"] = _EVENT_PARAMETERS
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            operation["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": _TEXT} for n in names
            ]
            operation["responses"]["404"] = error
            operation["operationId"] = re.sub(r"[{}]", "", operation["operationId"])
        # Whether a control token is set is not visible to this handler, so it is declared optional.
        operation["security"] = [{}, {"controlToken": []}]
        operation["responses"]["401"] = json_response(
            "Control token set and missing or wrong", ref("ControlError")
        )
        if path.startswith("/_mock/sandboxes"):
            # Inside a sandbox these answer 404; a name taken 409; the cap reached 429.
            operation["responses"].update({"404": error, "409": error, "429": error})
        result.setdefault(path, {})[method] = operation
    result["/_mock/"] = {
        "get": {
            "operationId": "dashboard",
            "responses": {"200": {"description": "QA dashboard", "content": _HTML}},
        }
    }
    return result


def build(profile: str, *, control: bool, server_url: str) -> dict[str, Any]:
    """The whole document for a configuration, served from ``server_url``."""
    paths: dict[str, Schema] = {**_auth_paths("/oauth2")}
    if profile == "constantcontact":
        paths.update(_auth_paths("/oauth2/default/v1"))
    paths.update(api_spec.paths(profile))
    paths.update(spec_content.paths())
    paths.update(spec_mailings.paths())
    if control:
        paths.update(_control_paths())
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "responses": {"200": json_response("This document", {"type": "object"})},
        }
    }
    paths["/favicon.ico"] = {
        "get": {
            "operationId": "favicon",
            "responses": {
                "200": {"description": "The browsers' icon", "content": {"image/vnd.microsoft.icon": {}}}
            },
        }
    }
    schemes: dict[str, Schema] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "accessTokenQuery": {"type": "apiKey", "in": "query", "name": "access_token"},
    }
    if control:
        schemes["controlToken"] = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mock-aweber",
            "version": "1.0",
            "description": "An offline mock of AWeber's OAuth 2 authorization server and a slice of its "
            "REST API (accounts, lists, subscribers), with a control API for tests.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": {
                **api_spec.SCHEMAS,
                **spec_content.SCHEMAS,
                **spec_mailings.SCHEMAS,
                **_OAUTH_SCHEMAS,
            },
            "securitySchemes": schemes,
        },
    }


async def openapi_endpoint(request: Request) -> JSONResponse:
    """The OpenAPI document, with the server URL of this request."""
    control = bool(getattr(request.app.state, "control_enabled", True))
    server_url = str(request.base_url).rstrip("/")
    return JSONResponse(build(state_of(request.scope).config.profile, control=control, server_url=server_url))
