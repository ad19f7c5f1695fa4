"""Security headers on every response.

Each response gets, unless its handler already set that header: a Content-Security-Policy
that allows nothing and no framing (pages with inline, hashed assets set their own; see
``mock_server.pages``), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``. Responses under ``/oauth2/`` also get
``Cache-Control: no-store`` (codes, tokens and consent pages must never be cached).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

_DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", DEFAULT_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    """Adds restrictive security headers (CSP frame-ancestors 'none', nosniff, ...)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth_path = scope.get("path", "").startswith("/oauth2/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secure(message.get("headers", ()), auth_path=auth_path)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure(headers: Iterable[tuple[bytes, bytes]], *, auth_path: bool) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the security headers the response did not set itself."""
    # A copy: the list may be shared (a Response object sent twice, a test's constant).
    result = list(headers)
    # ASGI header names are lower-case bytes (Starlette's responses make them so).
    present = [name for name, _ in result]
    if b"content-security-policy" in present:
        result.extend(item for item in _DEFAULTS if item[0] not in present)
    else:
        result.extend(_DEFAULTS)  # handlers never set the other three alone
    if auth_path and _NO_STORE[0] not in present:
        result.append(_NO_STORE)
    return result
