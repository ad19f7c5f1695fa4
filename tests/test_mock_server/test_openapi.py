"""GET /openapi.json describes every path the mock serves, on the base URL the client used."""

from __future__ import annotations

import httpx
import schemathesis
from starlette.routing import Mount, Route

from mock_server import MockConfig, MockServer, create_app, routes
from mock_server.api.common import Resource

# Every path of AWeber's v1 API in the inventory's section 1 (../shared/aweber-api.md): its
# 52 operations on the v1 base, several sharing a path through ws.op.
API_PATHS = {path for path, _ in routes.api()}
AWEBER_PATHS = {
    "/oauth2/authorize",
    "/oauth2/token",
    "/oauth2/revoke",
    "/openapi.json",
    "/favicon.ico",
    *API_PATHS,
}
CONTROL_PATHS = {
    "/_mock/",
    "/_mock/clock",
    "/_mock/clock/advance",
    "/_mock/clock/set",
    "/_mock/clients",
    "/_mock/users",
    "/_mock/approve",
    "/_mock/tokens/expire",
    "/_mock/tokens/revoke",
    "/_mock/tokens/lifetime",
    "/_mock/faults",
    "/_mock/events",
    "/_mock/sandboxes",
    "/_mock/sandboxes/{sandbox_id}",
    "/_mock/state",
    "/_mock/reset",
    "/_mock/webhooks",
    "/_mock/webhooks/apps",
    "/_mock/webhooks/apps/{client_id}",
    "/_mock/webhooks/callbacks",
    "/_mock/webhooks/callbacks/{callback}",
    "/_mock/webhooks/settings",
    "/_mock/webhooks/faults",
}


def served_operations(app_routes: list[object], prefix: str = "") -> set[tuple[str, str]]:
    """(path, method) pairs the app routes, skipping catch-alls and dashboard form actions."""
    found: set[tuple[str, str]] = set()
    for route in app_routes:
        if isinstance(route, Mount):
            found |= served_operations(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and "{rest:path}" not in route.path:
            path = prefix + route.path
            if "/dashboard/" in path or path in ("/_mock/login", "/_mock/logout"):
                continue  # the dashboard's own CSRF-protected browser forms
            # The API routes every method so that unsupported ones get AWeber's 405 envelope; the
            # ones it documents are its Resource's.
            resource = getattr(route.endpoint, "__self__", None)
            methods = resource.methods if isinstance(resource, Resource) else route.methods or {"GET"}
            if path == "/v3/account/summary":  # Constant Contact's answers its own 405s
                methods = {"GET"}
            found |= {(path, method.lower()) for method in methods if method not in ("HEAD", "OPTIONS")}
    return found


def test_document_lists_every_aweber_path_with_the_request_base_url(mock_aweber: MockServer) -> None:
    document = httpx.get(f"{mock_aweber.url}/openapi.json").json()
    assert document["openapi"].startswith("3.0")
    assert document["servers"] == [{"url": mock_aweber.url}]
    assert set(document["paths"]) == AWEBER_PATHS | CONTROL_PATHS
    subscribers = document["paths"]["/1.0/accounts/{account_id}/lists/{list_id}/subscribers"]
    assert set(subscribers) == {"get", "post", "patch", "delete"}
    assert set(subscribers["post"]["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert "415" in subscribers["post"]["responses"]
    assert "209" in subscribers["patch"]["responses"]
    port = mock_aweber.url.rsplit(":", 1)[1]
    via_localhost = httpx.get(f"http://localhost:{port}/openapi.json").json()
    assert via_localhost["servers"] == [{"url": f"http://localhost:{port}"}]


def test_every_routed_operation_is_documented(mock_aweber: MockServer) -> None:
    document = httpx.get(f"{mock_aweber.url}/openapi.json").json()
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    app = create_app()
    served = served_operations(list(app.routes))
    assert served - documented == set()
    assert documented - served == set()


def test_document_follows_profile_and_control_switch() -> None:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        document = httpx.get(f"{mock.url}/openapi.json").json()
        mock.check_errors()
    assert {"/v3/account/summary", "/oauth2/default/v1/token", "/oauth2/default/v1/authorize"} <= set(
        document["paths"]
    )
    served = served_operations(list(create_app(MockConfig(profile="constantcontact")).routes))
    assert served <= {(path, method) for path, item in document["paths"].items() for method in item}
    with MockServer(app=create_app(enable_control=False)) as mock:
        without_control = httpx.get(f"{mock.url}/openapi.json").json()
        mock.check_errors()
    assert set(without_control["paths"]) == AWEBER_PATHS


def test_schemathesis_loads_the_document(mock_aweber: MockServer) -> None:
    schema = schemathesis.openapi.from_url(f"{mock_aweber.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert "GET /1.0/accounts/{account_id}/lists/{list_id}/subscribers" in labels
    documented = {
        f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item
    }
    # schemathesis leaves out the document's own URL.
    assert documented - labels == {"GET /openapi.json"}
