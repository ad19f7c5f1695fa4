"""The control API for webhooks, under ``/_mock/webhooks`` (JSON in, JSON out, as ``control``).

AWeber has no API for webhook subscriptions: an app lists a Callback URL Allow-list on
labs.aweber.com, and each customer enters a Webhook URL in AWeber's control panel. These calls
stand in for both:

- ``POST /_mock/webhooks/apps`` ``{"client_id", "allow_list": [...], "events"?: [...]}``: 201,
  the app with its ``verification_key``; ``GET /_mock/webhooks/apps/{client_id}`` shows it again;
- ``POST /_mock/webhooks/callbacks`` ``{"client_id", "account_id" or "username", "url"}``: 201,
  the callback; ``DELETE /_mock/webhooks/callbacks/{callback}``: 204;
- ``GET /_mock/webhooks``: apps (without keys), callbacks, settings, faults, recent deliveries;
- ``POST /_mock/webhooks/settings``, any of ``retries``, ``retry_delay``, ``timeout``,
  ``batch_size``, ``paused``: the settings;
- ``POST /_mock/webhooks/faults`` ``{"kind": "drop"|"delay"|"duplicate"|"reorder", "count",
  "delay_seconds", "callback"}``: 201, the fault; ``DELETE /_mock/webhooks/faults``: 204.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.control import BadRequest, _body, _only, _state, _string
from mock_server.dashboard_webhooks import account_of, connect
from mock_server.webhook_records import WebhookApp, WebhookError


def _app_view(app: WebhookApp) -> dict[str, Any]:
    return {**app.public_view(), "verification_key": app.verification_key}


async def configure_app(request: Request) -> Response:
    """Set an app's allow-list and events; 201 with its verification key."""
    data = await _body(request)
    _only(data, ("client_id", "allow_list", "events"))
    client_id = _string(data, "client_id")
    state = _state(request)
    if client_id not in state.clients:
        raise BadRequest(f"there is no client {client_id!r}: register it with POST /_mock/clients first")
    try:
        app = state.webhooks.configure_app(client_id, data.get("allow_list"), data.get("events"))
    except WebhookError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(_app_view(app), status_code=201)


async def get_app(request: Request) -> Response:
    """An app's webhook set-up with its verification key."""
    try:
        app = _state(request).webhooks.app(request.path_params["client_id"])
    except WebhookError as exc:
        return JSONResponse({"error": "not_found", "error_description": str(exc)}, status_code=404)
    return JSONResponse(_app_view(app))


async def add_callback(request: Request) -> Response:
    """Connect a customer account's Webhook URL for an app."""
    data = await _body(request)
    _only(data, ("client_id", "account_id", "username", "url"))
    client_id = _string(data, "client_id")
    assert client_id is not None
    state = _state(request)
    try:
        account_id = account_of(state, data.get("username"), data.get("account_id"))
        callback = connect(state, client_id, account_id, data.get("url"), str(request.base_url))
    except WebhookError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(callback.public_view(), status_code=201)


async def remove_callback(request: Request) -> Response:
    """Remove a Webhook URL."""
    if not _state(request).webhooks.unsubscribe(request.path_params["callback"]):
        return JSONResponse(
            {"error": "not_found", "error_description": "no such callback; GET /_mock/webhooks lists them"},
            status_code=404,
        )
    return Response(status_code=204)


async def overview(request: Request) -> Response:
    """Apps (without keys), callbacks, settings, armed faults and recent deliveries."""
    webhooks = _state(request).webhooks
    return JSONResponse(
        {
            "apps": [app.public_view() for app in webhooks.apps()],
            "callbacks": [callback.public_view() for callback in webhooks.callbacks()],
            "settings": webhooks.settings.view(),
            "faults": [fault.view() for fault in webhooks.faults()],
            "deliveries": [delivery.view() for delivery in webhooks.deliveries()],
            "worker_running": webhooks.has_listeners(),
        }
    )


async def settings(request: Request) -> Response:
    """Change how deliveries are made (retries, delays, timeout, batch size, paused)."""
    data = await _body(request)
    try:
        result = _state(request).webhooks.update_settings(data)
    except WebhookError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(result.view())


async def add_fault(request: Request) -> Response:
    """Arm a fault for the next deliveries."""
    data = await _body(request)
    try:
        fault = _state(request).webhooks.add_fault(data)
    except WebhookError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(fault.view(), status_code=201)


async def clear_faults(request: Request) -> Response:
    """Disarm every delivery fault (a reorder releases what it holds)."""
    _state(request).webhooks.clear_faults()
    return Response(status_code=204)
