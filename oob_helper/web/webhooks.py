"""A mountable Starlette endpoint that receives AWeber webhooks and calls your handler.

::

    from oob_helper.stores import open_store
    from oob_helper.webhooks import WebhookReceiver
    from oob_helper.web.webhooks import webhook_app

    receiver = WebhookReceiver(verification_key=KEY, client_id=CLIENT_ID, store=open_store(URL))

    def on_delivery(delivery):  # sync or async; runs once per delivery id
        for event in delivery.events:
            ...

    app = Starlette(routes=[Mount("/hooks/aweber", app=webhook_app(receiver, on_delivery))])

Answers (JSON): 200 after the handler returned; 200 ``{"status": "duplicate"}`` without calling
it for a delivery id already accepted (AWeber may send duplicates, and "a non-2XX response may
make it stop sending"); 400/401/403 for a malformed, badly signed or stale delivery, or one for
another app; 413 for a body over 4 MB; 405 for anything but POST; 500 when the handler raised,
after releasing the delivery id so that AWeber's retry is handled.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oob_helper.errors import StoreError
from oob_helper.web.headers import SecurityHeadersMiddleware
from oob_helper.webhooks import MAX_BODY, ReplayedDelivery, WebhookDelivery, WebhookError, WebhookReceiver

__all__ = ["webhook_app", "webhook_endpoint"]

logger = logging.getLogger("oob_helper.webhooks")
Handler = Callable[[WebhookDelivery], Any]


class _TooLarge(Exception):
    pass


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def webhook_endpoint(
    receiver: WebhookReceiver, handler: Handler, *, max_body: int = MAX_BODY
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint function, for a route of your own (``Route(path, endpoint, methods=["POST"])``)."""
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return _answer(405, "method_not_allowed", "AWeber delivers webhooks with POST")
        try:
            body = await _read(request, max_body)
        except _TooLarge:
            return _answer(413, "too_large", f"the body is larger than {max_body} bytes")
        headers = dict(request.headers)
        try:
            delivery = await run_in_threadpool(receiver.accept, headers, body)
        except ReplayedDelivery:
            return JSONResponse({"status": "duplicate"})
        except WebhookError as exc:
            logger.warning("refused a webhook delivery: %s", exc)
            return _answer(exc.status, type(exc).__name__, str(exc))
        except StoreError as exc:
            logger.warning("webhook delivery not checked for replays: %s", exc)
            return _answer(503, "store_unavailable", "the receiver's store failed; AWeber will retry")
        try:
            if is_async:
                await handler(delivery)
            else:
                await run_in_threadpool(handler, delivery)
        except Exception:
            logger.exception("the webhook handler failed on delivery %s", delivery.delivery_id)
            await run_in_threadpool(receiver.release, delivery)
            return _answer(500, "handler_failed", "the handler failed; the delivery may be retried")
        return JSONResponse({"status": "ok", "events": len(delivery.events)})

    return endpoint


def webhook_app(receiver: WebhookReceiver, handler: Handler, *, max_body: int = MAX_BODY) -> Starlette:
    """A mountable app answering at its root, with the web helper's security headers."""
    endpoint = webhook_endpoint(receiver, handler, max_body=max_body)
    methods = ["POST", "GET", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[Route("/", endpoint, methods=methods)],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
